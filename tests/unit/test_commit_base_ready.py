"""The commit's checks before training run while the round's base is still being fetched
(node/base_model.py BaseFetch): training alone waits for it."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from node.commit import train_and_commit
from node.learning.spec import TrainingSpec
from tests.unit.privacy.test_budget import fake_ctx
from tests.unit.round_fixtures import OPEN_ROUND


class BaseNotYet(Exception):
    """Stands in for a fetch still under way: stops the round where training would start."""


def test_checks_run_before_the_base_is_needed(tmp_path: Path) -> None:
    ctx = fake_ctx(tmp_path, TrainingSpec(), budget=1.0)
    reads_before: list[float] = []

    async def base_ready() -> None:
        metrics = ctx.chain_port.link.metrics
        reads_before.append(metrics.get("chain_reads_total", read="commit_view"))
        raise BaseNotYet

    with pytest.raises(BaseNotYet):
        trio.run(train_and_commit, ctx, OPEN_ROUND, "bafybase", base_ready)
    assert reads_before == [1]  # the round, stake and chain time were read first


def test_a_node_sitting_out_does_not_wait_for_the_base(tmp_path: Path) -> None:
    ctx = fake_ctx(tmp_path, TrainingSpec(), budget=1.0)
    closed = OPEN_ROUND.__class__(**{**OPEN_ROUND.__dict__, "commit_deadline": 120})

    async def base_ready() -> None:
        raise AssertionError("waited for the base although the window is closed")

    ctx.chain.commit_view = lambda r: (closed, ctx.chain.stake_info(), 150)
    assert trio.run(train_and_commit, ctx, closed, "bafybase", base_ready) is None

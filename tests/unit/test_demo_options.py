"""`fedchain demo` options are checked before anything starts (no chain, no torch)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from node.demo.options import DemoOptions, check_options, check_rule, updates_per_round
from node.errors import ConfigError
from tests.integration.ports import free_port


def opts(tmp_path: Path, **kw: object) -> DemoOptions:
    return DemoOptions(data_root=tmp_path, port=free_port(), task="digits-mlp", **kw)  # type: ignore[arg-type]


def test_a_rule_that_cannot_aggregate_n_with_f_names_rule_n_f_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        check_options(opts(tmp_path, nodes=5, byzantine=2, rule="krum"))
    message = str(info.value)
    assert "'krum' needs n >= 2f+3 = 7" in message
    assert "--nodes 5 --byzantine 2 gives n = 5" in message
    assert "--nodes 7 or more" in message
    assert "--rule nnm+trimmed_mean" in message


def test_rejected_attackers_do_not_count_as_updates(tmp_path: Path) -> None:
    o = opts(tmp_path, nodes=5, byzantine=2, rule="nnm+trimmed_mean", attack="boost")
    assert updates_per_round(o) == 3
    with pytest.raises(ConfigError, match="2 attackers' updates are rejected"):
        check_rule(o, updates_per_round(o))
    check_options(opts(tmp_path, nodes=6, byzantine=2, rule="nnm+trimmed_mean"))


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"nodes": 3, "byzantine": 3}, "at least one honest node"),
        ({"rule": "bogus"}, "unknown aggregation rule"),
        ({"byzantine": 1, "attack": "nope"}, "unknown attack 'nope'"),
        ({"task": "nope"}, "unknown task 'nope'"),
        ({"nodes": 257}, "--nodes must be at most 256"),
        ({"committee_size": 129}, r"--committee-size must be in \[0, 128\]"),
    ],
)
def test_other_bad_options(tmp_path: Path, kw: dict[str, object], needle: str) -> None:
    base = {"port": free_port(), "data_root": tmp_path, "task": "digits-mlp"}
    with pytest.raises(ConfigError, match=needle):
        check_options(DemoOptions(**{**base, **kw}))  # type: ignore[arg-type]


def test_a_directory_the_demo_did_not_make_is_never_wiped(tmp_path: Path) -> None:
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "precious.txt").write_text("mine")
    with pytest.raises(ConfigError, match="was not made by `fedchain demo`"):
        check_options(opts(tmp_path))
    (tmp_path / "demo" / ".fedchain-demo").write_text("")
    check_options(opts(tmp_path))


def test_the_demo_chain_is_not_the_devnet_up_chain(tmp_path: Path) -> None:
    assert opts(tmp_path).devnet_dir == (tmp_path / "demo" / "devnet").resolve()


def test_a_taken_port_is_reported_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"port {port} is in use"):
            check_options(DemoOptions(data_root=tmp_path, port=port, task="digits-mlp"))


def test_a_committee_bounds_the_updates_a_rule_gets(tmp_path: Path) -> None:
    o = opts(tmp_path, nodes=8, byzantine=2, rule="nnm+trimmed_mean", attack="boost",
             committee_size=4)  # fmt: skip
    assert updates_per_round(o) == 2  # a committee of 4 may draw both attackers
    assert updates_per_round(opts(tmp_path, nodes=8, committee_size=8)) == 8  # K = N: all
    with pytest.raises(ConfigError) as info:
        check_options(opts(tmp_path, nodes=8, byzantine=1, rule="krum", committee_size=4))
    assert "committee of --committee-size 4 with --byzantine 1 may give n = 4" in str(info.value)
    assert "--committee-size 5 or more" in str(info.value)
    check_options(opts(tmp_path, nodes=8, byzantine=1, rule="krum", committee_size=5))

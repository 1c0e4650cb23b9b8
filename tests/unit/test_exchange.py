"""The exchange fetches each update as its commitment lands (node/exchange.py): a fetch
starts on the first read of the round that shows the commitment, before the commit window
closes; the exchange deadline, fixed at the close, cuts what is still fetching; and the
result is what it was when every fetch started after the window: verified iff verified by
the deadline, in author order, commitments the chain lost left out. Scripted chain and
fetches, trio's mock clock."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from types import SimpleNamespace
from typing import Any

import pytest
import trio
import trio.testing

import node.exchange as exchange_module
from node.errors import UpdateRejected
from node.exchange import Exchange, Verified, announce_provider, announcers_enough
from node.learning.spec import TrainingSpec
from node.metrics import Metrics
from node.ports import ChainPort
from node.store.pushed import PushedBlobs
from node.verify.checks import Expectation
from tests.unit.round_fixtures import OPEN_ROUND, inline_port

ME, A, B, C, D = "0xMe", "0xAa", "0xBb", "0xCc", "0xDd"
DEADLINE_IN = 10.0  # the exchange deadline, seconds after the window closed
INFO = replace(OPEN_ROUND, eligible_count=5)


@dataclass
class Chain:
    committed: dict[str, str] = field(default_factory=dict)
    reads: int = 0
    deployment: Any = field(default_factory=lambda: SimpleNamespace(training=TrainingSpec()))

    def commitments(self, r: int) -> dict[str, str]:
        self.reads += 1
        return dict(self.committed)


@dataclass
class Ctx:
    chain: Chain
    address: str = ME
    deployment_id: str = "31337:0xC"
    cfg: Any = field(default_factory=lambda: SimpleNamespace(max_examples=100, norm_bound=1.0))
    metrics: Metrics = field(default_factory=Metrics)
    announcers: dict[str, set[str]] = field(default_factory=dict)
    rule: Any = field(default_factory=lambda: SimpleNamespace(f=1))
    pushed: PushedBlobs = field(default_factory=PushedBlobs)
    net: Any = None  # start_soon: the test's nursery stands in for the network's

    @property
    def chain_port(self) -> ChainPort:
        return inline_port(self.chain)


@dataclass
class Fetches:
    """What each blob's fetch does: "ok" after ``takes`` s, "slow" never arrives,
    "bad" fails verification."""

    behaviour: dict[str, str]
    takes: float = 1.0
    started: dict[str, float] = field(default_factory=dict)
    announced: list[str] = field(default_factory=list)

    async def fetch_and_verify(
        self, ctx: Any, expect: Expectation, cid: str, deadline: float
    ) -> Verified:
        self.started[cid] = trio.current_time()
        await trio.sleep(self.takes)
        how = self.behaviour[cid]
        if how == "slow":
            await trio.sleep_until(deadline)
            raise UpdateRejected("unavailable", "test: too slow")
        if how == "bad":
            raise UpdateRejected("wrong_round", "test: invalid")
        return Verified(expect.author, cid, None, None)  # type: ignore[arg-type]

    async def announce(self, ctx: Any, r: int, author: str, cid: str) -> None:
        self.announced.append(author)

    async def push_or_announce(self, ctx: Any, r: int, cid: str) -> None:
        self.announced.append(ctx.address)  # its own update (pushed or announced)

    async def exchange_deadline(self, ctx: Any, r: int, view: Any = None) -> float:
        return trio.current_time() + DEADLINE_IN


@pytest.fixture
def fetches(monkeypatch: pytest.MonkeyPatch) -> Fetches:
    fake = Fetches({"own": "ok", "a": "ok", "b": "slow", "c": "bad", "d": "ok"})
    for name in ("fetch_and_verify", "announce", "push_or_announce", "exchange_deadline"):
        monkeypatch.setattr(exchange_module, name, getattr(fake, name))
    return fake


def run(fn: Any) -> Any:
    return trio.run(fn, clock=trio.testing.MockClock(autojump_threshold=0))


def test_fetches_start_as_commitments_land_and_the_deadline_cuts_the_rest(
    fetches: Fetches,
) -> None:
    chain = Chain()
    ctx = Ctx(chain)

    async def main() -> tuple[list[Verified], dict[str, str], float]:
        async with trio.open_nursery() as nursery:
            ctx.net = SimpleNamespace(start_soon=nursery.start_soon)
            ex = Exchange(ctx, 1, "base", {}, nursery)  # type: ignore[arg-type]
            chain.committed.update({ME: "own", A: "a"})
            await ex.landed(replace(INFO, commit_count=2))
            await trio.sleep(5)
            await ex.landed(replace(INFO, commit_count=2))  # nothing new: not read again
            chain.committed.update({B: "b", D: "gone"})
            fetches.behaviour["gone"] = "slow"
            await ex.landed(replace(INFO, commit_count=4))
            await trio.sleep(5)
            # the window closes: C committed in the last block; D's commit was lost by a
            # chain restarted from an older state
            chain.committed[C] = "c"
            del chain.committed[D]
            closed = trio.current_time()
            await ex.landed(replace(INFO, commit_count=5, closed_at=99))  # finish reads it
            verified, rejected = await ex.finish()
        return verified, rejected, closed

    verified, rejected, closed = run(main)
    assert fetches.started["own"] == fetches.started["a"] == 0.0
    assert fetches.started["b"] == fetches.started["gone"] == 5.0
    assert fetches.started["c"] == closed == 10.0
    assert [v.author for v in verified] == [A, ME]  # author order (lower case)
    assert rejected == {B: "unavailable", C: "wrong_round"}  # D is not in the round
    assert chain.reads == 3  # two changes of the commit count, and the final read
    assert fetches.announced.count(ME) == 1 and A in fetches.announced
    assert B not in fetches.announced and C not in fetches.announced


def test_the_deadline_cuts_a_fetch_started_before_it_was_known(fetches: Fetches) -> None:
    """The slow fetch started with no deadline (the window was open); it ends at the
    exchange deadline fixed when the window closed, as ``unavailable``."""
    chain = Chain({A: "b"})
    ctx = Ctx(chain)

    async def main() -> tuple[dict[str, str], float, float]:
        async with trio.open_nursery() as nursery:
            ctx.net = SimpleNamespace(start_soon=nursery.start_soon)
            ex = Exchange(ctx, 1, "base", {}, nursery)  # type: ignore[arg-type]
            await ex.landed(replace(INFO, commit_count=1))
            await trio.sleep(3)
            closed = trio.current_time()
            _, rejected = await ex.finish()
        return rejected, closed, trio.current_time()

    rejected, closed, ended = run(main)
    assert rejected == {A: "unavailable"}
    assert ended == closed + DEADLINE_IN


@pytest.mark.parametrize(
    ("f", "heard", "speaks"),
    [(0, 1, True), (0, 2, False), (1, 2, True), (1, 3, False), (2, 4, True), (2, 5, False)],
)
def test_a_verifier_announces_only_while_too_few_have(
    fetches: Fetches, f: int, heard: int, speaks: bool
) -> None:
    """A node that verified an update announces it holds it unless the CID already has
    f + max(f, 1) non-author announcers besides its author (enough that max(f, 1) of them
    are honest, which is what the abstain rule counts): K^2 announcements become O(K)."""
    ctx = Ctx(Chain(), rule=SimpleNamespace(f=f))
    ctx.announcers["cid-a"] = {f"peer{i}" for i in range(heard)}
    assert announcers_enough(f) == f + max(f, 1) + 1
    run(lambda: announce_provider(ctx, 1, A, "cid-a"))  # type: ignore[arg-type]
    assert (fetches.announced == [A]) is speaks
    assert ctx.metrics.get("announcements_skipped_total") == (0 if speaks else 1)


@dataclass
class LaggingChain(Chain):
    """Its first ``behind`` commitment reads miss ``late``'s commitment, as anvil's logs
    once did after the read that showed the window closed (which counted it)."""

    late: str = C
    behind: int = 2

    def commitments(self, r: int) -> dict[str, str]:
        seen = super().commitments(r)
        if self.reads <= self.behind:
            seen.pop(self.late, None)
        return seen


@pytest.mark.parametrize(("behind", "included"), [(2, True), (100, False)])
def test_finish_reads_again_while_the_logs_lag_the_closing_read(
    fetches: Fetches, behind: int, included: bool
) -> None:
    """Every commitment the closing read counted is exchanged, though the first log
    reads miss one; a chain that really lost it (it never shows up) costs a bounded
    number of re-reads and the exchange goes on with what the chain holds."""
    chain = LaggingChain({ME: "own", A: "a", C: "d"}, behind=behind)
    ctx = Ctx(chain)

    async def main() -> list[Verified]:
        async with trio.open_nursery() as nursery:
            ctx.net = SimpleNamespace(start_soon=nursery.start_soon)
            ex = Exchange(ctx, 1, "base", {}, nursery)  # type: ignore[arg-type]
            closing = replace(INFO, commit_count=3, closed_at=99)
            assert ex.window_closed(closing, now=100)
            verified, _ = await ex.finish()
        return verified

    verified = run(main)
    assert (C in {v.author for v in verified}) is included
    lagged = ctx.metrics.get("exchange_commitment_logs_behind_total")
    assert lagged == (behind if included else exchange_module.LOG_LAG_TRIES)

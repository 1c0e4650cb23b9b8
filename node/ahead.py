"""Overlapped rounds (a deployment's ``training.staleness`` 1, node/staleness.py).

Once this node committed round r, it trains round r + 1's update on round r's base in a
task of the round loop's nursery (the compute on a worker thread), while round r is
exchanged, voted and claimed; when round r + 1 opens, the commit path takes that delta
instead of training (``take``). The training starts from round r's base plus the delta
this node committed in round r (its eager start, node/learning/eager.py); the header
names round r's base all the same. The delta lives in memory only: a node that crashes
trains it again from the same base and seed (the journal and the chain decide the rest,
as without overlap). A node not drawn for round r + 1's committee (known only when the
round opens) discards it (``discard``), counted in
``updates_trained_ahead_discarded_total{reason}``; a delta used is counted in
``updates_trained_ahead_total``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import trio

from node.chain.client import RoundStatus
from node.errors import FedchainError
from node.ports import ChainPort
from node.staleness import trained_round
from node.state import NodeState
from node.update.fixedpoint import FixedParams

log = logging.getLogger(__name__)

Trainer = Callable[[int, str], Awaitable[FixedParams]]  # (round, base CID) -> its delta


@dataclass
class Job:
    """Round ``round``'s update, trained from ``base_cid`` ahead of the round."""

    round: int
    base_cid: str
    done: trio.Event = field(default_factory=trio.Event)
    delta: FixedParams | None = None  # None until done, or when training failed


class AheadTraining:
    """Deltas trained ahead of their round, by round; tasks run in ``nursery`` (the round
    loop's, so stopping the rounds stops them)."""

    def __init__(
        self, nursery: trio.Nursery, train: Trainer, count: Callable[..., None], staleness: int
    ) -> None:
        self.nursery, self.train, self.count = nursery, train, count
        self.staleness = staleness
        self.jobs: dict[int, Job] = {}
        self.used: set[int] = set()  # rounds whose commit took a delta trained ahead

    def follow(self, r: int, base_cid: str) -> None:
        """This node committed in round ``r`` (base ``base_cid``): if the deployment's rule
        trains round r + 1 on this base, start that training now."""
        if trained_round(self.staleness, r + 1) == r:
            self.start(r + 1, base_cid)

    def start(self, r: int, base_cid: str) -> None:
        """Train round ``r``'s update from ``base_cid`` now (once per round)."""
        if r in self.jobs or r in self.used:
            return
        job = self.jobs[r] = Job(r, base_cid)
        self.nursery.start_soon(self._run, job)

    async def _run(self, job: Job) -> None:
        try:
            job.delta = await self.train(job.round, job.base_cid)
            log.info("round %d: update trained ahead on %s", job.round, job.base_cid)
        except FedchainError as exc:  # e.g. the base model could not be fetched
            log.warning("round %d: training ahead failed (trained at open instead): %s",
                        job.round, exc)  # fmt: skip
        finally:
            job.done.set()

    async def take(
        self, r: int, base_cid: str, round_base: str | None = None
    ) -> FixedParams | None:
        """Round ``r``'s delta trained ahead from ``base_cid`` (waiting for it if still
        training), or None; deltas of earlier rounds are dropped. ``round_base``: round r's
        own base; when it is ``base_cid`` the previous round did not finalize, so the own
        delta the training started from (its eager start) was never applied: dropped."""
        for old in [k for k in self.jobs if k < r]:
            self.discard(old, "stale")
        self.used = {k for k in self.used if k >= r - 1}
        if round_base == base_cid:
            self.discard(r, "base_unchanged")
        job = self.jobs.pop(r, None)
        if job is None:
            return None
        if job.base_cid != base_cid:  # the chain moved on differently (e.g. restarted)
            self.count("updates_trained_ahead_discarded_total", reason="other_base")
            return None
        await job.done.wait()
        if job.delta is not None:
            self.used.add(r)
            self.count("updates_trained_ahead_total")
        return job.delta

    def discard(self, r: int, reason: str) -> None:
        """Drop round ``r``'s delta trained ahead (e.g. not drawn for its committee)."""
        if self.jobs.pop(r, None) is not None:
            self.count("updates_trained_ahead_discarded_total", reason=reason)


async def training_base(
    chain: ChainPort, state: NodeState, genesis_cid: str, r: int, base_cid: str
) -> str:
    """The CID round ``r``'s updates must be trained on under the deployment's staleness:
    ``base_cid`` (round r's base), or with staleness 1 round r - 1's base, from the
    journal when this node recorded it, else from the chain (the model of the last round
    before r - 1 that finalized, or the genesis model)."""
    k = trained_round(chain.deployment.training.staleness, r)
    if k == r:
        return base_cid
    recorded = state.get(k).base_cid
    if recorded is not None:
        return recorded
    for j in range(k - 1, 0, -1):
        if (await chain.round_info(j)).status is RoundStatus.FINALIZED:
            return await chain.latest_model_cid_of(j)
    return genesis_cid

"""A light sybil swarm for tests/integration/test_sybils.py: one trio task tree with one
libp2p host and many funded accounts at the minimum stake.

Every account registers with the swarm's one peer id and addresses, and in every round
it may take part in it commits an update the host serves on request (fetchable, so never
"unavailable") that fails verification: garbage bytes, a well-formed envelope with the
wrong round, author, deployment or base, tensors the model does not have, or the model's
tensors boosted past the norm bound. No training: twenty sybils cost one thread of the
test process (``SwarmThread``) instead of twenty node daemons.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import trio

from node.chain.client import ChainClient, RoundInfo
from node.chain.deploy import Deployment
from node.errors import ChainError
from node.p2p.network import PeerNetwork, open_network
from node.store.cid import compute_cid
from node.update.codec import UPDATE_MAGIC, UpdateHeader, encode_update
from node.update.fixedpoint import SCALE

log = logging.getLogger("sybil_swarm")
T = TypeVar("T")

# The reason each kind is rejected with (node/verify/checks.py, node/update/codec.py).
KINDS = {
    "garbage": "malformed",
    "wrong_round": "wrong_round",
    "wrong_author": "wrong_author",
    "wrong_deployment": "wrong_deployment",
    "wrong_base": "wrong_base",
    "bad_shape": "bad_shape",
    "boosted": "norm_bound",
}
READY_FILE = "ready.json"
CHAIN_THREADS = 4  # chain calls at once: enough to commit 20 updates in a second or two
POLL_S = 0.3


def kind_of(index: int) -> str:
    return list(KINDS)[index % len(KINDS)]


def malformed_update(
    kind: str,
    *,
    deployment_id: str,
    r: int,
    author: str,
    base_cid: str,
    shapes: Mapping[str, tuple[int, ...]],
    seed: int,
) -> bytes:
    """An update blob of sybil ``author`` for round ``r`` that fails verification as
    ``KINDS[kind]`` (``shapes``: the model's tensors). Unique per (author, round), so
    every commitment is its own CID."""
    rng = random.Random(f"{seed}:{r}:{author}")
    if kind == "garbage":
        return UPDATE_MAGIC + rng.randbytes(256)
    header = UpdateHeader(
        deployment=f"{deployment_id}-forged" if kind == "wrong_deployment" else deployment_id,
        round=r + 1000 if kind == "wrong_round" else r,
        author="0x" + rng.randbytes(20).hex() if kind == "wrong_author" else author,
        base_cid=compute_cid(rng.randbytes(32)) if kind == "wrong_base" else base_cid,
        num_examples=1,
    )
    if kind == "boosted":  # every element about 1.0 (fixed point): a norm far past 20
        delta = {
            name: rng.randrange(SCALE, 2 * SCALE) * np.ones(shape, dtype=np.int32)
            for name, shape in shapes.items()
        }
        return encode_update(header, delta)
    # bad_shape gets past every header check and fails on a tensor the model lacks
    values = np.array([rng.randrange(-(2**20), 2**20) for _ in range(16)], dtype=np.int32)
    return encode_update(header, {"sybil": values})


@dataclass
class Sybil:
    index: int
    client: ChainClient

    @property
    def address(self) -> str:
        return self.client.address


class Swarm:
    def __init__(
        self,
        deployment: Deployment,
        rpc_url: str,
        keys: list[str],
        stake: int,
        shapes: Mapping[str, tuple[int, ...]],
    ) -> None:
        self.deployment = deployment
        self.shapes = shapes
        self.deployment_id = f"{deployment.chain_id}:{deployment.coordinator}"
        self.stake = stake
        self.sybils = [Sybil(i, ChainClient(rpc_url, deployment, k)) for i, k in enumerate(keys)]
        self.observer = self.sybils[0].client
        self.limiter = trio.CapacityLimiter(CHAIN_THREADS)
        self.events: list[str] = []  # what it did, for the test's failure messages

    def say(self, message: str, *args: object) -> None:
        self.events.append(message % args)
        log.info(message, *args)

    async def call(self, fn: Callable[..., T], *args: object) -> T:
        return await trio.to_thread.run_sync(lambda: fn(*args), limiter=self.limiter)

    async def register(self, net: PeerNetwork) -> None:
        addrs = net.listen_addrs()

        async def one(sybil: Sybil) -> None:
            await self.call(sybil.client.ensure_registered, self.stake, net.peer_id, addrs)

        async with trio.open_nursery() as nursery:
            for sybil in self.sybils:
                nursery.start_soon(one, sybil)
        self.say("%d sybils registered as peer %s at %s", len(self.sybils), net.peer_id, addrs)

    async def commit_round(self, net: PeerNetwork, info: RoundInfo) -> list[str]:
        """Commit one malformed update per eligible sybil; the addresses that committed."""
        r = info.round
        base_cid = await self.call(self.observer.latest_model_cid)
        committed: list[str] = []

        async def one(sybil: Sybil) -> None:
            me = await self.call(sybil.client.stake_info)
            if not me.active or not 0 < me.active_from <= r:
                return  # slashed below the minimum stake: deactivated
            blob = malformed_update(
                kind_of(sybil.index),
                deployment_id=self.deployment_id,
                r=r,
                author=sybil.address,
                base_cid=base_cid,
                shapes=self.shapes,
                seed=info.opened_at,
            )
            cid = await net.add_blob(blob)
            try:
                await self.call(sybil.client.commit, r, cid)
            except ChainError as exc:
                self.say("round %d: sybil %s did not commit: %s", r, sybil.address, exc)
                return
            committed.append(sybil.address)

        async with trio.open_nursery() as nursery:
            for sybil in self.sybils:
                nursery.start_soon(one, sybil)
        self.say("round %d: %d sybils committed malformed updates", r, len(committed))
        return committed

    async def run(self, data_dir: Path) -> None:
        """Register, say so in ``READY_FILE``, then commit in every round until stopped."""
        async with open_network(data_dir=data_dir) as net:
            await self.register(net)
            ready = {"peer_id": net.peer_id, "addresses": [s.address for s in self.sybils]}
            (data_dir / READY_FILE).write_text(json.dumps(ready))
            done = 0
            while True:
                r = await self.call(self.observer.current_round)
                if r > done:
                    info = await self.call(self.observer.round_info, r)
                    now = await self.call(self.observer.chain_time)
                    if info.commit_open(now):
                        await self.commit_round(net, info)
                    done = r
                await trio.sleep(POLL_S)


# --- the test's side --------------------------------------------------------------------


class SwarmThread:
    """The swarm's trio loop in a thread of the test process: torch, web3 and libp2p are
    imported there already, so the swarm costs no process start and no imports."""

    def __init__(self, swarm: Swarm, data_dir: Path) -> None:
        self.swarm = swarm
        self.data_dir = data_dir
        self.error: BaseException | None = None
        self._stopping = False
        self._token: trio.lowlevel.TrioToken | None = None
        self._scope: trio.CancelScope | None = None
        self._thread = threading.Thread(target=self._run, name="sybil-swarm", daemon=True)

    def start(self) -> SwarmThread:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        async def main() -> None:
            self._token = trio.lowlevel.current_trio_token()
            with trio.CancelScope() as self._scope:
                await self.swarm.run(self.data_dir)

        try:
            trio.run(main)
        except BaseException as exc:  # noqa: BLE001 - reported by describe() to the test
            self.error = exc
            if not self._stopping:
                log.exception("the sybil swarm stopped")

    def running(self) -> bool:
        return self._thread.is_alive()

    def describe(self) -> str:
        """The swarm's state and its last log lines, for assertion messages."""
        state = "running" if self.running() else f"stopped ({self.error!r})"
        return f"sybil swarm {state}:\n" + "\n".join(self.swarm.events[-10:])

    def wait_ready(self, timeout: float) -> None:
        """Block until every sybil registered."""
        deadline = time.monotonic() + timeout
        while not (self.data_dir / READY_FILE).exists():
            if not self.running():
                raise RuntimeError(self.describe())
            if time.monotonic() > deadline:
                raise RuntimeError(f"the sybils did not register in time; {self.describe()}")
            time.sleep(0.1)

    def stop(self) -> None:
        self._stopping = True
        if self._token is not None and self._scope is not None:
            with contextlib.suppress(trio.RunFinishedError):
                self._token.run_sync_soon(self._scope.cancel)
        self._thread.join(timeout=15)

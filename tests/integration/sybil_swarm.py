"""A light sybil swarm for tests/integration/test_sybils.py: one process, one libp2p host,
many funded accounts at the minimum stake.

Every account registers with the swarm's one peer id and addresses, and in every round
it may take part in it commits an update the host serves on request (fetchable, so never
"unavailable") that fails verification: garbage bytes, or a well-formed envelope with the
wrong round, author, deployment or base, or tensors the model does not have. No torch,
no training: twenty sybils cost one small process instead of twenty node daemons.

Run by the test as ``python -m tests.integration.sybil_swarm``; it runs until stopped.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
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
}
READY_FILE = "ready.json"
CHAIN_THREADS = 4  # chain calls at once: enough to commit 20 updates in a second or two
POLL_S = 0.3


def kind_of(index: int) -> str:
    return list(KINDS)[index % len(KINDS)]


def malformed_update(
    kind: str, *, deployment_id: str, r: int, author: str, base_cid: str, seed: int
) -> bytes:
    """An update blob of sybil ``author`` for round ``r`` that fails verification as
    ``KINDS[kind]``. Unique per (author, round), so every commitment is its own CID."""
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
    def __init__(self, deployment: Deployment, rpc_url: str, keys: list[str], stake: int) -> None:
        self.deployment = deployment
        self.deployment_id = f"{deployment.chain_id}:{deployment.coordinator}"
        self.stake = stake
        self.sybils = [Sybil(i, ChainClient(rpc_url, deployment, k)) for i, k in enumerate(keys)]
        self.observer = self.sybils[0].client
        self.limiter = trio.CapacityLimiter(CHAIN_THREADS)

    async def call(self, fn: Callable[..., T], *args: object) -> T:
        return await trio.to_thread.run_sync(lambda: fn(*args), limiter=self.limiter)

    async def register(self, net: PeerNetwork) -> None:
        addrs = net.listen_addrs()

        async def one(sybil: Sybil) -> None:
            await self.call(sybil.client.ensure_registered, self.stake, net.peer_id, addrs)

        async with trio.open_nursery() as nursery:
            for sybil in self.sybils:
                nursery.start_soon(one, sybil)
        log.info("%d sybils registered as peer %s at %s", len(self.sybils), net.peer_id, addrs)

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
                seed=info.opened_at,
            )
            cid = await net.add_blob(blob)
            try:
                await self.call(sybil.client.commit, r, cid)
            except ChainError as exc:
                log.warning("round %d: sybil %s did not commit: %s", r, sybil.address, exc)
                return
            committed.append(sybil.address)

        async with trio.open_nursery() as nursery:
            for sybil in self.sybils:
                nursery.start_soon(one, sybil)
        log.info("round %d: %d sybils committed malformed updates", r, len(committed))
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


@dataclass
class SwarmProcess:
    process: subprocess.Popen[bytes]
    data_dir: Path

    @property
    def log_path(self) -> Path:
        return self.data_dir / "swarm.log"

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text().splitlines()[-lines:])
        except OSError:
            return ""

    def running(self) -> bool:
        return self.process.poll() is None

    def wait_ready(self, timeout: float) -> dict[str, object]:
        """Block until every sybil registered; the swarm's peer id and addresses."""
        deadline = time.monotonic() + timeout
        ready = self.data_dir / READY_FILE
        while not ready.exists():
            if not self.running():
                raise RuntimeError(f"the sybil swarm exited:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the sybil swarm did not register in time:\n{self.log_tail()}")
            time.sleep(0.2)
        return dict(json.loads(ready.read_text()))

    def stop(self) -> None:
        if self.running():
            self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_swarm(
    deployment: Path, rpc_url: str, keys: list[str], stake: int, data_dir: Path
) -> SwarmProcess:
    data_dir.mkdir(parents=True, exist_ok=True)
    keys_file = data_dir / "keys.txt"
    keys_file.write_text("\n".join(keys) + "\n")
    keys_file.chmod(0o600)
    cmd = [sys.executable, "-m", "tests.integration.sybil_swarm", "--deployment", str(deployment),
           "--rpc-url", rpc_url, "--keys-file", str(keys_file), "--stake", str(stake),
           "--data-dir", str(data_dir)]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with (data_dir / "swarm.log").open("ab") as out:
        process = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    return SwarmProcess(process, data_dir)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
        epilog="example: python -m tests.integration.sybil_swarm --deployment "
        "devnet/deployment.json --rpc-url http://127.0.0.1:8545 --keys-file keys.txt "
        "--stake 5000000000000000000 --data-dir /tmp/swarm",
    )
    parser.add_argument("--deployment", type=Path, required=True)
    parser.add_argument("--rpc-url", required=True)
    parser.add_argument("--keys-file", type=Path, required=True, help="one private key a line")
    parser.add_argument("--stake", type=int, required=True, help="token units each registers")
    parser.add_argument("--data-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    keys = [k.strip() for k in args.keys_file.read_text().splitlines() if k.strip()]
    swarm = Swarm(Deployment.load(args.deployment), args.rpc_url, keys, args.stake)
    trio.run(swarm.run, args.data_dir)


if __name__ == "__main__":
    main()

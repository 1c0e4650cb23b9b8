import json
import random
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import trio

from node.base_model import CONNECTED_HOLDERS, MODEL_HOLDERS, pick_holders, previous_members
from node.state import NodeState

MEMBERS = [f"0x{i:040X}" for i in range(1, 9)]  # round r - 1's committee (checksummed case)
PEERS = {m.lower(): f"peer{i}" for i, m in enumerate(MEMBERS)}


def test_connected_members_are_asked_first_and_no_more_than_race_at_once() -> None:
    connected = {"peer1", "peer3", "peer4", "peer6", "other"}
    for seed in range(20):
        held = pick_holders(MEMBERS, PEERS, connected, random.Random(seed))
        assert len(held) == CONNECTED_HOLDERS and set(held) <= connected - {"other"}


def test_a_single_connected_member_is_the_only_one_asked_first() -> None:
    assert pick_holders(MEMBERS, PEERS, {"peer5"}, random.Random(1)) == ["peer5"]


def test_unconnected_members_are_a_random_few_when_none_is_connected() -> None:
    picks = {tuple(pick_holders(MEMBERS, PEERS, set(), random.Random(s))) for s in range(20)}
    assert all(len(p) == MODEL_HOLDERS and set(p) <= set(PEERS.values()) for p in picks)
    assert len(picks) > 1  # spread over the members, not always the same two


def test_members_without_a_known_peer_id_are_skipped() -> None:
    assert pick_holders(MEMBERS, {}, {"peer1"}, random.Random(0)) == []
    only = {MEMBERS[2].lower(): "peer2"}
    assert pick_holders(MEMBERS, only, set(), random.Random(0)) == ["peer2"]


class Chain:
    def __init__(self) -> None:
        self.reads: list[int] = []

    async def committee(self, r: int) -> list[str]:
        self.reads.append(r)
        return MEMBERS


def test_previous_members_come_from_the_own_record_else_the_chain(tmp_path: Path) -> None:
    state = NodeState(tmp_path / "state.sqlite")
    chain = Chain()
    ctx: Any = SimpleNamespace(state=state, chain_port=chain)
    state.finish(4, {"round": 4, "selected": False, "committee": MEMBERS[:3]})

    async def main() -> None:
        assert await previous_members(ctx, 1) == []  # round 1's base is the genesis
        assert await previous_members(ctx, 5) == MEMBERS[:3]
        assert chain.reads == []
        assert await previous_members(ctx, 7) == MEMBERS  # no record of round 6
        assert chain.reads == [6]

    trio.run(main)
    assert json.loads(state.get(4).record or "{}")["committee"] == MEMBERS[:3]
    state.close()

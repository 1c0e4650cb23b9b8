"""A hand-built explorer index: three rounds of three participants, the booster C
rejected and slashed in round 2, round 3 open; node A reports on rounds 1 and 2."""

from __future__ import annotations

import json
from pathlib import Path

from node.explorer import db as xdb
from node.operator.index import RoundIndex

A = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
B = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
C = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
FED = 10**18
STAKE = 10 * FED
CPOOL, VPOOL = 8 * FED // 10, 2 * FED // 10
T0 = 1_800_000_000
CID = "bafkreiftkn6t4jtjeqk4atwzdlrppkkaem5aqxujgrohm2gghmvboqqvem"
MODEL = {1: "bafkreidscszfpimzamnwbj4alu7jszqc3bbwdzt3ydmp7befcfu3ylpflu", 2: CID}
OUTCOME = "0x" + "ab" * 32
SLASHED = 5 * FED
CONTRIB = {1: {A: CPOOL // 3, B: CPOOL // 3, C: CPOOL // 3}, 2: {A: CPOOL // 2, B: CPOOL // 2}}
ACCURACY = {1: 0.81234, 2: 0.9}


AGREED = {1: 8100, 2: 9000}  # the chain's agreed metric of the finalized rounds
PRIVACY = {"mode": "distributed", "epsilon": 1.25, "epsilon_update": 2.5, "delta": 1e-5,
           "rounds": 2, "budget": 0.0}  # fmt: skip


def build(path: Path) -> None:
    index = RoundIndex(path, deploy_block=1)
    rows = []
    block = 10

    def event(name: str, r: int, account: str | None, args: dict[str, object]) -> None:
        nonlocal block
        block += 1
        tx = "0x" + f"{block:064x}"
        acct = account.lower() if account else None
        rows.append((block, 0, tx, name, r, acct, json.dumps({"round": r, **args}), T0 + block))

    for r in (1, 2, 3):
        event("RoundOpened", r, None, {})
        for who in (A, B, C):
            event("Committed", r, who, {"author": who, "cid": f"{CID}"})
        if r == 3:
            break
        event("CommitClosed", r, None, {})
        for who in (A, B, C):
            event("OutcomeSubmitted", r, who, {"voter": who, "outcomeId": OUTCOME, "weight": STAKE})
        event("Finalized", r, None, {"outcomeId": OUTCOME, "modelCid": MODEL[r]})
        if r == 2:
            event("Slashed", r, C, {"account": C, "amount": SLASHED})
    event("RewardClaimed", 1, A, {"account": A, "amount": CONTRIB[1][A]})
    index._db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    index.close()

    db = xdb.connect(path)
    now = T0 + 500
    xdb.put_rounds(
        db,
        [
            {
                "round": r,
                "status": "open" if r == 3 else "finalized",
                "opened_at": T0 + 100 * r,
                "commit_deadline": now + 60 if r == 3 else T0 + 100 * r + 50,
                "closed_at": 0,
                "vote_deadline": now + 120 if r == 3 else T0 + 100 * r + 90,
                "finalized_at": 0 if r == 3 else T0 + 100 * r + 80,
                "contributor_pool": CPOOL,
                "voter_pool": VPOOL,
                "stake_snapshot": 3 * STAKE,
                "eligible": 3,
                "commits": 3,
                "model_cid": MODEL.get(r),
                "detail": {"returned": {}, "agreed_metric_bps": AGREED.get(r)},
            }
            for r in (1, 2, 3)
        ],
    )
    rewards = [(r, a, "contributor", v) for r, split in CONTRIB.items() for a, v in split.items()]
    rewards += [(r, a, "voter", VPOOL // 3) for r in (1, 2) for a in (A, B, C)]
    xdb.put_rewards(db, rewards)
    xdb.put_participants(
        db,
        [
            {
                "address": a,
                "stake": STAKE - (SLASHED if a == C else 0),
                "peer_id": f"12D3Koo{i}",
                "addrs": [f"/ip4/127.0.0.1/tcp/{4001 + i}"],
                "active": True,
            }
            for i, a in enumerate((A, B, C))
        ],
    )
    xdb.put_stake_events(
        db,
        [
            {
                "block": 2 + i,
                "log_index": 0,
                "tx": "0x" + "cd" * 32,
                "name": "Registered",
                "address": a,
                "args": {"account": a, "stake": STAKE},
                "timestamp": T0,
            }
            for i, a in enumerate((A, B, C))
        ],
    )
    xdb.put_node_records(
        db,
        A,
        [
            {
                "round": r,
                "status": "finalized",
                "verified_authors": [A, B] if r == 2 else [A, B, C],
                "rejected": {C: "norm 912.4 over the bound 40.0"} if r == 2 else {},
                "scores": {a: 1000 for a in CONTRIB[r]},
                "rewards": {a: v for a, v in CONTRIB[r].items()},
                "model_cid": MODEL[r],
                "accuracy": ACCURACY[r],
                "proof": ["00" * 32],
                "privacy": PRIVACY if r == 2 else None,
            }
            for r in (1, 2)
        ],
    )
    xdb.set_meta(
        db,
        {
            "deployment": {
                "task_id": "digits-mlp",
                "rule": "krum",
                "byzantine_f": 1,
                "chain_id": 31337,
                "coordinator": "0x" + "12" * 20,
                "token": "0x" + "34" * 20,
                "genesis_model_cid": CID,
            },
            "params": {"reward_per_round": FED, "slash_bps": 5000},
            "chain_time": now,
            "latest_block": 99,
            "current_round": 3,
            "synced_at": now,
            "version": 1,
            "nodes": [
                {
                    "url": "http://127.0.0.1:9/status",
                    "ok": True,
                    "address": A.lower(),
                    "phase": "idle",
                }
            ],
        },
    )
    db.close()

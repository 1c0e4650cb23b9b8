"""`fedchain round show N`: one round as the chain recorded it, and as a node saw it.

Times are chain timestamps as local ISO times with their age; every step names its
transaction. What each voter rejected is the slash list of its ``submitOutcome`` call,
decoded from the transaction's calldata. With a node directory, the node's own record
adds its verdict on each author (verified, or rejected with the reason), the scores and
its reward split.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from node.errors import FedchainError
from node.operator.rewards import node_records
from node.operator.round_text import print_round
from node.operator.roundfacts import RoundFacts, ago, gather, local_time, now_for
from node.operator.stopstate import end_of, read_word, stop_rule_view

if TYPE_CHECKING:
    from node.chain.client import ChainClient


def round_detail(chain: ChainClient, r: int, node_dir: Path | None = None) -> dict[str, Any]:
    """Everything about round ``r`` as plain data (the ``--json`` document)."""
    from node.operator.index import open_index

    record = _node_record(node_dir, r)
    index = open_index(chain)
    try:
        current = index.current_round()
        if not 1 <= r <= current:
            raise FedchainError(
                f"round {r} does not exist yet (current round: {current}): "
                "`fedchain rounds` lists the rounds"
            )
        f = gather(chain, index, [r])[r]
        calls = index.outcome_calls(chain, [v["tx"] for v in f.votes])
        now = now_for(index)
        claim_deadline = chain.claim_deadline(r) if f.finalized else 0
        committee = chain.committee(r)
        end = end_of(index.events(names=["DeploymentFinished"]))
    finally:
        index.close()
    # the chain's stop rule: this round's agreed metric and where the rule stands now
    stop_rule = stop_rule_view(vars(chain.params()), read_word(chain), end)
    info = f.info
    settled = f.finalized or f.failed
    detail: dict[str, Any] = {
        "round": r,
        "status": f.status,
        "phase": f.phase(now),
        "now": now,
        "times": _times(f, now, claim_deadline),
        "eligible": info.eligible_count,
        # the members drawn for the round in draw order; None: every active participant
        "committee": committee,
        "commit_count": info.commit_count,
        "stake_snapshot": info.stake_snapshot,
        "contributor_pool": info.contributor_pool,
        "voter_pool": info.voter_pool,
        "model_cid": f.finalized["args"]["modelCid"] if f.finalized else None,
        # the winning voters' stake-weighted mean evaluation, basis points (docs/stop-rule.md)
        "agreed_metric_bps": chain.agreed_metric(r) if f.finalized else None,
        "stop_rule": stop_rule,
        "reward_root": f.finalized["args"]["rewardRoot"] if f.finalized else None,
        "outcome_id": f.finalized["args"]["outcomeId"] if f.finalized else None,
        # the finalized outcome's slash list (only committers in it lose stake)
        "slash_list": f.finalized["args"].get("slash", []) if f.finalized else [],
        "returned": f.returned(),
        "params_applied": f.params_applied is not None,
        "settled_tx": settled["tx"] if settled else None,
        "commits": [
            {
                "author": e["args"]["author"],
                "cid": e["args"]["cid"],
                "tx": e["tx"],
                "block": e["block"],
                "at": e["timestamp"],
            }
            for e in f.commits
        ],
        "votes": [_vote(f, v, calls.get(v["tx"])) for v in f.votes],
        "slashes": [
            {"account": e["args"]["account"], "amount": int(e["args"]["amount"]), "tx": e["tx"]}
            for e in f.slashes
        ],
        "rewards": f.rewards(),
    }
    detail["outcomes"] = _outcomes(detail["votes"])
    if record is not None:
        detail["node"] = _node_view(record, detail)
    return detail


def _times(f: RoundFacts, now: int, claim_deadline: int) -> dict[str, Any]:
    info = f.info

    def stamp(ts: int | None, event: dict[str, Any] | None = None) -> dict[str, Any] | None:
        if not ts:
            return None
        out: dict[str, Any] = {"at": ts, "local": local_time(ts), "ago": ago(ts, now)}
        if event is not None:
            out.update(tx=event["tx"], block=event["block"])
        return out

    settled = f.finalized or f.failed
    return {
        "opened": stamp(info.opened_at, f.opened),
        "commit_deadline": stamp(info.commit_deadline),
        "commit_closed": stamp(info.closed_at, f.closed),
        "vote_deadline": stamp(info.vote_deadline),
        "settled": stamp(settled["timestamp"], settled) if settled else None,
        "claim_deadline": stamp(claim_deadline),
        "swept": stamp(f.swept["timestamp"], f.swept) if f.swept else None,
    }


def _vote(f: RoundFacts, v: dict[str, Any], call: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "voter": v["args"]["voter"],
        "outcome_id": v["args"]["outcomeId"],
        "weight": int(v["args"]["weight"]),
        "winning": f.winning(v),
        "model_cid": call["model_cid"] if call else None,
        "reward_root": call["reward_root"] if call else None,
        # None: the calldata could not be read (e.g. the vote came through a contract)
        "rejected": call["slash"] if call else None,
        "metric_bps": call.get("metric_bps") if call else None,  # the voter's evaluation
        "tx": v["tx"],
        "at": v["timestamp"],
    }


def _outcomes(votes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The distinct outcomes voted for, most stake first."""
    by_id: dict[str, dict[str, Any]] = {}
    for v in votes:
        o = by_id.setdefault(
            v["outcome_id"],
            {
                "outcome_id": v["outcome_id"],
                "model_cid": v["model_cid"],
                "reward_root": v["reward_root"],
                "slash": v["rejected"],
                "stake": 0,
                "voters": [],
                "winning": v["winning"],
            },
        )
        o["stake"] += v["weight"]
        o["voters"].append(v["voter"])
    return sorted(by_id.values(), key=lambda o: -o["stake"])


def _node_record(node_dir: Path | None, r: int) -> dict[str, Any] | None:
    for record in node_records(node_dir):
        if int(record["round"]) == r:
            return record
    return None


def _node_view(record: dict[str, Any], detail: dict[str, Any]) -> dict[str, Any]:
    """The node's own view of the round, from its state (older records lack the per-author
    fields: then only the counts are known)."""
    authors = [c["author"] for c in detail["commits"]]
    verified = record.get("verified_authors")
    rejected = dict(record.get("rejected", {}))
    verdicts: dict[str, str] = {}
    for author in authors:
        if author in rejected:
            verdicts[author] = f"rejected: {rejected[author]}"
        elif verified is not None:
            verdicts[author] = "verified" if author in verified else "not verified"
        else:  # a record from before per-author verdicts: the others were verified
            verdicts[author] = "verified" if record.get("verified") else "-"
    agrees = record.get("model_cid") is not None and record.get("model_cid") == detail["model_cid"]
    return {
        "status": record.get("status"),
        "committed": record.get("committed"),
        "verified": len(verified) if verified is not None else record.get("verified", 0),
        "verdicts": verdicts,
        "rejected": rejected,
        "scores": {a: int(s) for a, s in record.get("scores", {}).items()},
        "rewards": {a: int(s) for a, s in record.get("rewards", {}).items()},
        "model_cid": record.get("model_cid"),
        "agrees_with_chain": agrees,
        "accuracy": record.get("accuracy"),
        "earned": int(record.get("earned", 0)),
        "claimed": int(record.get("reward", 0)),
        "privacy": record.get("privacy"),  # DP spend after this round (docs/privacy.md)
    }


__all__ = ["print_round", "round_detail"]

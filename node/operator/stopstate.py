"""Where the chain's stop rule stands: the agreed metric per finalized round, the best so
far, the finalized rounds without improvement, and how the deployment finished.

The contract keeps its bookkeeping in one private word (``_stopWord``: finalized count,
best agreed metric, rounds since the best, finishing round) that no view returns; each
round's agreed metric has a view (``agreedMetric``). ``replay`` recomputes the word from
the agreed metrics of the finalized rounds, in order, exactly as ``_applyStopRule`` does
(the explorer, which indexes every round, uses it); ``read_word`` reads the word itself
(one ``eth_getStorageAt``, for ``fedchain round show``). The integration tests check that
both agree with each other and with the chain's ``DeploymentFinished``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from node.stoprule import BPS

if TYPE_CHECKING:
    from node.chain.client import ChainClient, DeploymentEnd

# FedCoordinator's storage slot of ``_stopWord`` (`forge inspect FedCoordinator
# storageLayout`); test_explorer_pages compares what it reads with ``replay``.
STOP_WORD_SLOT = 27
REASONS = {1: "target reached", 2: "no improvement", 3: "max rounds"}


@dataclass(frozen=True)
class StopState:
    finalized: int  # finalized rounds the rule counted
    best_bps: int  # the best agreed metric so far
    since_best: int  # finalized rounds in a row without a better agreed metric
    finished_round: int = 0  # the round whose finalization finished the deployment


def replay(metrics: Iterable[int]) -> StopState:
    """The stop-rule bookkeeping after the finalized rounds whose agreed metrics are
    ``metrics``, in round order (FedCoordinator ``_applyStopRule``; a metric equal to the
    best is no improvement, and the first round improves only on a metric above 0)."""
    count = best = since = 0
    for metric in metrics:
        count += 1
        since = 0 if metric > best else since + 1
        if since == 0:
            best = metric
    return StopState(count, best, since)


def decode_word(word: int) -> StopState:
    """``_stopWord``: count (32 bits) | best << 32 (16) | sinceBest << 48 (32) | round << 80."""
    return StopState(
        finalized=word & 0xFFFFFFFF,
        best_bps=(word >> 32) & 0xFFFF,
        since_best=(word >> 48) & 0xFFFFFFFF,
        finished_round=word >> 80,
    )


def read_word(chain: ChainClient) -> StopState | None:
    """The contract's own bookkeeping word; None when it does not look like one (a
    coordinator whose storage layout moved: the caller then says it is unknown)."""
    state = decode_word(chain.storage_word(STOP_WORD_SLOT))
    if state.best_bps > BPS or state.since_best > state.finalized:
        return None
    return state


def end_of(events: Iterable[dict[str, Any]]) -> DeploymentEnd | None:
    """The deployment's end from indexed ``DeploymentFinished`` events (None: running)."""
    from node.chain.client import DeploymentEnd, StopReason

    last = None
    for e in events:
        if e["name"] == "DeploymentFinished":
            last = e
    if last is None:
        return None
    args = last["args"]
    return DeploymentEnd(
        round=int(args["round"]),
        reason=StopReason(int(args["reason"])),
        metric_bps=int(args["metricBps"]),
        model_cid=str(args["modelCid"]),
    )


def stop_rule_view(
    params: Mapping[str, Any], state: StopState | None, end: DeploymentEnd | None
) -> dict[str, Any]:
    """The stop rule as plain data (``round show --json``, the explorer, report.json);
    ``params``: the coordinator's parameters in force (``ChainParams`` as a dict)."""
    out: dict[str, Any] = {
        "target_metric_bps": int(params.get("target_metric_bps", 0)),
        "patience": int(params.get("patience", 0)),
        "max_rounds": int(params.get("max_rounds", 0)),
        "finalized_rounds": None if state is None else state.finalized,
        "best_metric_bps": None if state is None else state.best_bps,
        "rounds_without_improvement": None if state is None else state.since_best,
        "finished": end is not None,
        "finished_round": None,
        "reason": None,
        "final_metric_bps": None,
        "final_model_cid": None,
    }
    if end is not None:
        out.update(
            finished_round=end.round,
            reason=REASONS.get(int(end.reason), str(end.reason)),
            final_metric_bps=end.metric_bps,
            final_model_cid=end.model_cid,
        )
    return out


def stop_rule_text(view: dict[str, Any]) -> str:
    """One line: ``target 95.00%, patience 5, max 100 rounds; 12 finalized, best 93.10%,
    2 without improvement`` (+ ``; finished at round R (reason), final model CID``)."""
    rules = []
    if view["target_metric_bps"]:
        rules.append(f"target {percent(view['target_metric_bps'])}")
    if view["patience"]:
        rules.append(f"patience {view['patience']}")
    if view["max_rounds"]:
        rules.append(f"max {view['max_rounds']} rounds")
    text = ", ".join(rules) or "off (no target, patience or round cap)"
    if view["finalized_rounds"] is not None:
        text += (
            f"; {view['finalized_rounds']} finalized, best {percent(view['best_metric_bps'])}, "
            f"{view['rounds_without_improvement']} without improvement"
        )
    if view["finished"]:
        text += (
            f"; finished at round {view['finished_round']} ({view['reason']}, "
            f"{percent(view['final_metric_bps'])}), final model {view['final_model_cid']}"
        )
    return text


def percent(bps: int | None) -> str:
    return "-" if bps is None else f"{bps / 100:.2f}%"

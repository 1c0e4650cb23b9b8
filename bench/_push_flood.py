"""bench/hostile.py --mode push-flood: the hostile side and what the honest side measures.

Three hostile peers flood the announcement topic with pushes (node/attacks/push_flood.py),
``rate`` messages a second each, round-robin over their kinds:

* H1, registered: pushes under an honest author's name (``not_author``) and more pushes of
  its own than one signer may send a round (``push_limit``): both charged to H1, which
  signs and sends them itself (uncharged only through a forwarder), so H1 ends graylisted
  and disconnected too;
* H2, registered: oversize blobs, blobs that do not hash to their CID (both charged, so H2
  ends graylisted by the honest nodes it floods) and pushes of stale rounds;
* U, unregistered: every kind (``unregistered``: dropped before it is decoded).

The honest nodes push their own updates as usual (no ``push_max_bytes = 0`` here). With
``--mode all`` H2 floods no pushes and U only what is dropped uncharged (``ALL_MODE_KINDS``):
a graylisted H2 or U could no longer run the fetch attack beside it.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from node.attacks.push_flood import craft

KINDS_BY_PEER = {
    "h1": ("not_author", "over_limit"),
    "h2": ("wrong_hash", "oversize", "stale_round"),
    "u": ("oversize", "wrong_hash", "not_author", "stale_round", "over_limit"),
}
ALL_MODE_KINDS = {
    "h1": KINDS_BY_PEER["h1"],
    "h2": (),
    "u": ("wrong_hash", "not_author", "stale_round", "over_limit"),
}
U_ACCOUNT = "0x" + "5a" * 20  # U signs as nobody registered; any address will do
PUSH_BOUND = 32 * 2**20  # node/store/pushed.py MAX_HELD_BYTES


def permissive_policy() -> Any:
    """A gossip policy that lets a hostile peer publish what honest ones refuse."""
    from node.p2p.gossip import MAX_RPC_SIZE, GossipPolicy

    return GossipPolicy(decode=lambda _data: SimpleNamespace(round=0), max_size=MAX_RPC_SIZE)


async def track_round(chain: Any, current: list[int]) -> None:
    import trio

    while True:
        with contextlib.suppress(Exception):
            current[0] = await trio.to_thread.run_sync(chain.current_round)
        await trio.sleep(0.5)


async def flood(
    net: Any,
    topic: str,
    name: str,
    kinds: tuple[str, ...],
    own: str,
    victims: list[str],
    current: list[int],
    rate: float,
    sent: dict[str, int],
) -> None:
    """``name``'s pushes of ``kinds`` in turn, ``rate`` a second, while a round is open."""
    import trio

    rng = random.Random(name)
    i = 0
    while True:
        if current[0] >= 1:
            kind = kinds[i % len(kinds)]
            i += 1
            data = craft(kind, current[0], own, victims, rng)
            with contextlib.suppress(Exception):
                await net.publish(topic, data)
                for key, n in ((f"pushes_{name}_{kind}", 1), (f"bytes_{name}", len(data))):
                    sent[key] = sent.get(key, 0) + n
        await trio.sleep(1.0 / rate)


# ------------------------------------------------------------------ the honest side


def cpu_seconds(pid: int) -> float:
    """utime + stime of process ``pid`` so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def live_status(data_dir: Path) -> dict[str, Any]:
    """A node's status document from its endpoint ({} when it does not answer)."""
    from node.status_server import status_url

    try:
        with urllib.request.urlopen(status_url(data_dir), timeout=2) as reply:
            return dict(json.loads(reply.read()))
    except Exception:  # noqa: BLE001 - a busy or stopping node: sampled again next poll
        return {}


def rejected_by_reason(statuses: list[dict[str, Any]]) -> dict[str, float]:
    """Honest nodes' refusals summed: ``gossip.rejected.<reason>`` (the topic's policy),
    ``pushes_rejected_total{reason=...}`` (after the registry check) and graylistings."""
    out: dict[str, float] = {}
    for status in statuses:
        for key, value in status.get("p2p", {}).items():
            if key.startswith("gossip.rejected.") or key == "gossip.graylisted":
                name = key.removeprefix("gossip.rejected.")
                out[name] = out.get(name, 0) + value
        for key, value in status.get("metrics", {}).items():
            if key.startswith("pushes_rejected_total"):
                name = "held_then_" + key.split('reason="')[1].rstrip('"}')
                out[name] = out.get(name, 0) + value
    return dict(sorted(out.items()))


def minus(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


def phases(statuses: list[dict[str, Any]], rounds: range) -> dict[str, float]:
    """Mean seconds per round phase (node/round.py's laps) over the honest nodes' records
    of ``rounds``, with ``active`` (all but the wait for the commit window to close) and
    each node's ``cpu_s`` of the round."""
    sums: dict[str, float] = {}
    count = 0
    for status in statuses:
        for record in status.get("records", []):
            timings = record.get("timings") or {}
            if int(record["round"]) not in rounds or not timings:
                continue
            count += 1
            extra = {
                "active": sum(v for k, v in timings.items() if k != "wait_commit_close"),
                "cpu_s": record.get("cpu_s", 0.0),
            }
            for phase, seconds in {**timings, **extra}.items():
                sums[phase] = sums.get(phase, 0.0) + float(seconds)
    return {k: round(v / count, 3) for k, v in sorted(sums.items())} if count else {}


def per_round(marks: dict[int, float], first: int, last: int) -> float:
    """Mean of ``marks[r] - marks[r - 1]`` over rounds ``first..last``."""
    if last < first:
        return float("nan")
    return (marks[last] - marks[first - 1]) / (last - first + 1)


def summary(
    clean: int,
    total: int,
    wall: dict[int, float],
    cpu: dict[int, float],
    rejected: tuple[dict[str, float], dict[str, float]],
    cache_max: int,
    statuses: list[dict[str, Any]],
) -> dict[str, Any]:
    """The push-flood figures: ``wall``/``cpu`` hold, per round r, the bench's clock and
    the honest nodes' summed CPU-s when round r was over (``[0]``: when round 1 opened);
    ``rejected`` the honest refusals after the clean rounds and at the end."""
    first = 2 if clean >= 2 else 1  # round 1 holds the first dials and model loads
    round_clean = per_round(wall, first, clean)
    round_flood = per_round(wall, clean + 1, total)
    cpu_clean = per_round(cpu, first, clean)
    cpu_flood = per_round(cpu, clean + 1, total)
    laps_clean = phases(statuses, range(first, clean + 1))
    laps_flood = phases(statuses, range(clean + 1, total + 1))
    active = laps_clean.get("active"), laps_flood.get("active")
    refused = minus(rejected[1], rejected[0])
    messages = sum(n for k, n in refused.items() if k != "gossip.graylisted")
    extra_cpu = (cpu_flood - cpu_clean) * (total - clean)
    return {
        "round_s_clean": round(round_clean, 2),
        "round_s_flood": round(round_flood, 2),
        "ratio": round(round_flood / round_clean, 2) if round_clean else None,
        "honest_cpu_s_per_round_clean": round(cpu_clean, 2),
        "honest_cpu_s_per_round_flood": round(cpu_flood, 2),
        "cpu_ratio": round(cpu_flood / cpu_clean, 2) if cpu_clean else None,
        # the flood's extra honest CPU over the messages refused (graylisted peers' later
        # messages are dropped unread and uncounted: an upper bound per message)
        "honest_cpu_ms_per_refused_push": round(1000 * extra_cpu / messages, 1)
        if messages
        else None,
        # a round's phases but the wait for the commit window (which the two registered
        # hostile peers, eligible and never committing, keep open to its deadline)
        "active_s_clean": active[0],
        "active_s_flood": active[1],
        "active_ratio": round(active[1] / active[0], 2) if active[0] and active[1] else None,
        "phases_clean": laps_clean,
        "phases_flood": laps_flood,
        "round_s_per_round": [round(wall[r] - wall[r - 1], 1) for r in range(1, total + 1)],
        "honest_cpu_s_per_round": [round(cpu[r] - cpu[r - 1], 2) for r in range(1, total + 1)],
        "pushes_rejected_clean": rejected[0],
        "pushes_rejected_total": refused,
        "push_cache_bytes_max": cache_max,
        "push_cache_bound": PUSH_BOUND,
        "push_cache_under_bound": cache_max <= PUSH_BOUND,
    }

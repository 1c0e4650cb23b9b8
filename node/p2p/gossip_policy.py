"""What a topic accepts: the checks every gossip message must pass before it is delivered
or forwarded, and the round window's reasons."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MAX_MESSAGE_SIZE = 64 * 1024

# fn(sender peer id, data) -> rejection reason (a short metric label), or None to accept
Validator = Callable[[str, bytes], str | None]


@dataclass
class GossipPolicy:
    """Checks every message on a topic must pass before it is delivered or forwarded.

    ``decode(data)`` parses and schema-checks (raising an exception with a ``reason``
    attribute, e.g. ``node.p2p.messages.MessageRejected``) and returns an object with
    a ``round``; ``is_registered(peer_id)`` and ``round_ok(round)`` come from the chain.
    ``round_known()`` is False while the node does not know the current round yet (just
    started): round-window misses are then dropped as ``round_unknown``, uncharged.
    ``round_past(round)``: whether a round outside the window is before it (dropped as
    ``round_past``, uncharged; a round beyond it is ``round_out_of_window``, charged).
    ``admit(sender, message)``, last, may refuse a decoded message for its sender (a
    rejection reason, or None). ``max_size`` replaces ``MAX_MESSAGE_SIZE`` on the topic.
    ``relay(message)``: whether an accepted message from another peer is forwarded (False:
    delivered here only; ``gossip.relay_skipped``).
    """

    decode: Callable[[bytes], Any]
    is_registered: Callable[[str], bool] | None = None
    round_ok: Callable[[int], bool] | None = None
    round_known: Callable[[], bool] | None = None
    round_past: Callable[[int], bool] | None = None
    admit: Callable[[str, Any], str | None] | None = None
    max_size: int = MAX_MESSAGE_SIZE
    relay: Callable[[Any], bool] | None = None


def round_reason(policy: GossipPolicy, r: int) -> str | None:
    """Why a message of round ``r`` is dropped under ``policy``'s round window, or None."""
    if policy.round_ok is None or policy.round_ok(r):
        return None
    if policy.round_known is not None and not policy.round_known():
        return "round_unknown"
    if policy.round_past is not None and policy.round_past(r):
        return "round_past"
    return "round_out_of_window"

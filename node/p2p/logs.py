"""Routing py-libp2p's log records into the application's logging setup.

On import py-libp2p gives its ``libp2p`` logger no handler and ``propagate=False``,
so its WARNING+ records bypass the application's handlers and reach stderr through
Python's last-resort handler. Several modules also log routine events at ERROR
(a peer closing mid-negotiation prints a seven-line "Failed to open stream"), and
Bitswap sessions WARN on every block that needed a retry.
"""

from __future__ import annotations

import logging

# Loggers whose ERROR/WARNING records are routine peer churn, not faults of ours:
# our own code reports the failures that matter (fetch timeouts, failed dials).
NOISY_LOGGERS = (
    "libp2p.host.basic_host",
    "libp2p.protocol_muxer.multiselect_client",
    "libp2p.transport.tcp.tcp",
    "libp2p.bitswap.session",
)


def route_libp2p_logs(level: int = logging.WARNING, *, quiet: bool = True) -> None:
    """Send libp2p records at ``level``+ through the root handlers; mute churn if ``quiet``."""
    root = logging.getLogger("libp2p")
    root.propagate = True
    root.setLevel(level)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL if quiet else logging.NOTSET)

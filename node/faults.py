"""Crash points for crash-safety tests: ``FEDCHAIN_CRASH_AT=<point>:<round>``.

When set, the node kills itself with SIGKILL (no cleanup, like `kill -9`) the moment it
reaches that point in that round. Unset, this is a dictionary lookup and nothing else.
"""

from __future__ import annotations

import os
import signal

ENV = "FEDCHAIN_CRASH_AT"
POINTS = (
    "trained",  # update stored locally, nothing recorded
    "commit_intent",  # intent recorded, commit transaction not sent
    "committed",  # commit transaction mined, not yet recorded
    "exchanged",  # peer updates fetched and verified
    "vote_intent",  # outcome recorded, vote not sent
    "voted",  # vote mined, not yet recorded
    "finalized",  # round finalized, reward not yet claimed
)


STOP_ENV = "FEDCHAIN_STOP_AT"  # same format: SIGTERM instead (a graceful stop, like Ctrl-C)


def crash_point(point: str, round_id: int) -> None:
    if os.environ.get(ENV) == f"{point}:{round_id}":
        os.kill(os.getpid(), signal.SIGKILL)
    if os.environ.get(STOP_ENV) == f"{point}:{round_id}":
        os.kill(os.getpid(), signal.SIGTERM)

"""Update codec names (no numpy: the deployment file and the CLI check them cheaply).

``fxp32-q16``: dense, every int32 of the fixed-point delta (the default).
``topk-int8-p<P>``: compressed, the top P per 1000 entries of each tensor as int8 codes
(``node.update.sparse``), sent with error feedback (``node.update.feedback``).
"""

from __future__ import annotations

import re

CODEC = "fxp32-q16"
PREFIX = "topk-int8-p"
_COMPRESSED = re.compile(r"topk-int8-p([1-9][0-9]{0,2})")


def permille_of(codec: str) -> int | None:
    """Kept entries per 1000 of a ``topk-int8-p<P>`` codec (1..999), None for another name."""
    match = _COMPRESSED.fullmatch(codec)
    return None if match is None else int(match.group(1))


def codec_problem(codec: str) -> str | None:
    """Why ``codec`` is not a known update codec (None when it is)."""
    if codec == CODEC or permille_of(codec) is not None:
        return None
    return (
        f"unknown update codec {codec!r}: {CODEC} (dense) or {PREFIX}<P> "
        "(compressed: the top P per 1000 entries of each tensor, P in 1..999)"
    )

"""The overview's charts as inline SVG, drawn on the server (no chart library, no JS)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import quoteattr

WIDTH, HEIGHT, PAD = 640, 220, 36


def accuracy_svg(points: Sequence[dict[str, Any]], agreed: Sequence[dict[str, Any]] = ()) -> str:
    """One ``circle.point`` per ``{"round", "accuracy"}`` (x: round, y: accuracy 0..1),
    joined by a line; with ``agreed`` (``{"round", "bps"}``: the chain's agreed metric),
    one ``circle.agreed`` per round on a dashed line, on the same scale; axes with the
    first and last round and 0 / 0.5 / 1."""
    parts = [
        f'<svg id="accuracy-chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} '
        f'{HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" '
        'aria-label="accuracy of the finalized model per round">'
    ]
    x0, x1, y0, y1 = PAD, WIDTH - PAD / 2, HEIGHT - PAD, PAD / 2
    parts.append(f'<line class="axis" x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}"/>')
    parts.append(f'<line class="axis" x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}"/>')
    for level in (0.0, 0.5, 1.0):
        y = y0 - level * (y0 - y1)
        parts.append(
            f'<text class="tick" x="{x0 - 4}" y="{y + 4:.1f}" text-anchor="end">{level:g}</text>'
        )
    if not points and not agreed:
        parts.append(
            f'<text class="empty" x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">'
            "no accuracy reported yet (give --node STATUS_URL)</text></svg>"
        )
        return "".join(parts)
    rounds = [int(p["round"]) for p in [*points, *agreed]]
    first, last = min(rounds), max(rounds)
    span = max(1, last - first)

    def xy(r: int, value: float) -> tuple[float, float]:
        x = x0 + (r - first) / span * (x1 - x0) if last > first else (x0 + x1) / 2
        return x, y0 - value * (y0 - y1)

    series = [
        ("point", "line", "accuracy", [(int(p["round"]), float(p["accuracy"])) for p in points]),
        ("agreed", "agreed-line", "bps", [(int(p["round"]), int(p["bps"]) / 1e4) for p in agreed]),
    ]
    for cls, line, attr, values in series:
        coords = [xy(r, v) for r, v in values]
        if len(coords) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
            parts.append(f'<polyline class="{line}" points="{path}"/>')
        for (r, v), (x, y) in zip(values, coords, strict=True):
            shown = f"{v:.4f}" if attr == "accuracy" else str(round(v * 1e4))
            title = f"round {r}: " + (shown if attr == "accuracy" else f"agreed {v:.2%}")
            parts.append(
                f'<circle class="{cls}" cx="{x:.1f}" cy="{y:.1f}" r="3" data-round="{r}" '
                f"data-{attr}={quoteattr(shown)}><title>{title}</title></circle>"
            )
    parts.append(f'<text class="tick" x="{x0}" y="{y0 + 16}" text-anchor="middle">{first}</text>')
    if last != first:
        parts.append(
            f'<text class="tick" x="{x1}" y="{y0 + 16}" text-anchor="middle">{last}</text>'
        )
    label = "round: nodes' accuracy (blue)" + (", chain's agreed metric (orange)" if agreed else "")
    parts.append(
        f'<text class="label" x="{(x0 + x1) / 2}" y="{HEIGHT - 4}" '
        f'text-anchor="middle">{label}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def economy_svg(rounds: Sequence[dict[str, Any]]) -> str:
    """Rewards and slashes over time: per finalized or failed round (``{"round", "pool",
    "slashed"}``, wei as strings), a green bar for the round's reward pool and a red one for
    the stake slashed in it, on one FED scale; each bar a ``rect.pool`` / ``rect.slashed``
    with ``data-round`` and ``data-wei``."""
    parts = [
        f'<svg id="economy-chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} '
        f'{HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" '
        'aria-label="reward pool and stake slashed per round">'
    ]
    x0, x1, y0, y1 = PAD, WIDTH - PAD / 2, HEIGHT - PAD, PAD / 2
    parts.append(f'<line class="axis" x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}"/>')
    if not rounds:
        parts.append(
            f'<text class="empty" x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">'
            "no settled round yet</text></svg>"
        )
        return "".join(parts)
    top = max(max(int(r["pool"]), int(r["slashed"])) for r in rounds) or 1
    slot = (x1 - x0) / len(rounds)
    bar = max(1.0, slot * 0.4)
    for i, r in enumerate(rounds):
        for j, kind in enumerate(("pool", "slashed")):
            wei = int(r[kind])
            h = wei / top * (y0 - y1)
            x = x0 + i * slot + j * bar
            parts.append(
                f'<rect class="{kind}" x="{x:.1f}" y="{y0 - h:.1f}" width="{bar:.1f}" '
                f'height="{h:.1f}" data-round="{int(r["round"])}" data-wei="{wei}">'
                f"<title>round {int(r['round'])}: {kind} {wei / 10**18:g} FED</title></rect>"
            )
    first, last = rounds[0]["round"], rounds[-1]["round"]
    parts.append(f'<text class="tick" x="{x0}" y="{y0 + 16}" text-anchor="start">{first}</text>')
    if last != first:
        parts.append(f'<text class="tick" x="{x1}" y="{y0 + 16}" text-anchor="end">{last}</text>')
    parts.append(
        f'<text class="tick" x="{x0 + 4}" y="{y1 - 4}" text-anchor="start">'
        f"top: {top / 10**18:g} FED</text>"
    )
    parts.append(
        f'<text class="label" x="{(x0 + x1) / 2}" y="{HEIGHT - 4}" text-anchor="middle">'
        "round: reward pool (green), stake slashed (red)</text></svg>"
    )
    return "".join(parts)

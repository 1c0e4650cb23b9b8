"""Jinja2 templates (autoescaped) and the filters they format amounts and times with."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from node.operator.format import fed, in_words
from node.operator.stopstate import percent

TEMPLATES = Path(__file__).resolve().parent / "templates"


def fed_text(wei: str | int | None) -> str:
    return "-" if wei is None or wei == "" else fed(int(wei))


def utc(ts: int | None) -> str:
    """A chain timestamp for people: ``2026-11-28 02:39:37 UTC``."""
    if not ts:
        return "-"
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def until(ts: int | None, now: int) -> str:
    if not ts:
        return "-"
    return f"in {in_words(ts - now)}" if ts > now else f"{in_words(now - ts)} ago"


def short(text: str | None, keep: int = 10) -> str:
    if not text:
        return "-"
    return text if len(text) <= 2 * keep + 1 else f"{text[:keep]}…{text[-6:]}"


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(fed=fed_text, utc=utc, short=short, pct=percent)
    env.globals.update(until=until)
    return env


def render(name: str, **context: Any) -> str:
    if "accuracy" in context and name == "overview.html":
        from node.explorer.chart import accuracy_svg, economy_svg

        chart = accuracy_svg(context["accuracy"], context.get("agreed", ()))
        context["accuracy_svg"] = Markup(chart)  # noqa: S704 - built escaped
        context["economy_svg"] = Markup(economy_svg(context["economy"]))  # noqa: S704 - built escaped
    return environment().get_template(name).render(**context)

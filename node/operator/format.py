"""Amounts and durations as people type and read them."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from node.errors import FedchainError

TOKEN = 10**18


def parse_amount(text: str | Decimal | int) -> int:
    """FED as typed by a person ("12.5") -> token base units; ``FedchainError`` if not > 0."""
    try:
        value = Decimal(str(text))
    except InvalidOperation:
        raise FedchainError(f"amount {text!r} is not a number of FED") from None
    if not value.is_finite() or value <= 0:
        raise FedchainError(f"amount must be a positive number of FED, got {text}")
    units = value * TOKEN
    if units != units.to_integral_value():
        raise FedchainError(f"amount {text} has more than 18 decimals")
    return int(units)


def fed(units: int) -> str:
    """Token base units as FED for people: ``12.5 FED``."""
    text = f"{Decimal(units) / TOKEN:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text} FED"


def in_words(seconds: int) -> str:
    """A duration for people: ``45 s``, ``3 min``, ``2 h 5 min``, ``3 d 4 h``."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = -(-seconds // 60)  # round up: "ends in 1 min", never "in 0 min"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"

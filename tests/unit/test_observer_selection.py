"""Whether this node takes part in a round (node/observer.py: drawn): in a sampled round
from the committee's event alone (the contract's isSelected reads the same draw), else
from isSelected."""

from __future__ import annotations

from dataclasses import dataclass, field

import trio

from node.observer import drawn

ME = "0x" + "ab" * 20
OTHER = "0x" + "cd" * 20


@dataclass
class Port:
    members: list[str] | None
    selected: bool = False
    calls: list[str] = field(default_factory=list)

    async def committee(self, r: int) -> list[str] | None:
        self.calls.append("committee")
        return self.members

    async def is_selected(self, r: int) -> bool:
        self.calls.append("is_selected")
        return self.selected


@dataclass
class Ctx:
    chain_port: Port
    address: str = ME


def test_a_sampled_round_needs_only_its_committee() -> None:
    for members, expected in (([OTHER, ME.upper().replace("0X", "0x")], True), ([OTHER], False)):
        port = Port(members, selected=not expected)  # isSelected would disagree: unread
        assert trio.run(drawn, Ctx(port), 3) == (expected, members)  # type: ignore[arg-type]
        assert port.calls == ["committee"]


def test_a_round_without_committee_asks_is_selected() -> None:
    for selected in (True, False):
        port = Port(None, selected=selected)
        assert trio.run(drawn, Ctx(port), 3) == (selected, None)  # type: ignore[arg-type]
        assert port.calls == ["committee", "is_selected"]

"""Node metrics: labelled counters and gauges, rendered in Prometheus text format."""

from __future__ import annotations

from collections.abc import Mapping

Labels = tuple[tuple[str, str], ...]
PREFIX = "fedchain_"


def _key(name: str, labels: Mapping[str, object]) -> tuple[str, Labels]:
    return name, tuple(sorted((k, str(v)) for k, v in labels.items()))


def _series(name: str, labels: Labels) -> str:
    if not labels:
        return PREFIX + name
    inner = ",".join(f'{k}="{v}"' for k, v in labels)
    return f"{PREFIX}{name}{{{inner}}}"


class Metrics:
    """Counters only go up; gauges are set. Names are Prometheus names without the prefix."""

    def __init__(self) -> None:
        self._counters: dict[tuple[str, Labels], float] = {}
        self._gauges: dict[tuple[str, Labels], float] = {}

    def inc(self, name: str, amount: float = 1, **labels: object) -> None:
        key = _key(name, labels)
        self._counters[key] = self._counters.get(key, 0) + amount

    def set(self, name: str, value: float, **labels: object) -> None:
        self._gauges[_key(name, labels)] = value

    def get(self, name: str, **labels: object) -> float:
        key = _key(name, labels)
        return self._counters.get(key, self._gauges.get(key, 0))

    def as_dict(self) -> dict[str, float]:
        merged = {**self._counters, **self._gauges}
        return {_series(n, lb)[len(PREFIX) :]: v for (n, lb), v in sorted(merged.items())}

    def render(self, extra_counters: Mapping[str, int] | None = None) -> str:
        """Prometheus exposition text; ``extra_counters`` are p2p events by name."""
        lines: list[str] = []
        for kind, table in (("counter", self._counters), ("gauge", self._gauges)):
            for name in sorted({n for n, _ in table}):
                lines.append(f"# TYPE {PREFIX}{name} {kind}")
                for (n, labels), value in sorted(table.items()):
                    if n == name:
                        lines.append(f"{_series(n, labels)} {value:g}")
        if extra_counters:
            lines.append(f"# TYPE {PREFIX}p2p_events_total counter")
            for event, count in sorted(extra_counters.items()):
                lines.append(f'{PREFIX}p2p_events_total{{event="{event}"}} {count}')
        return "\n".join(lines) + "\n"

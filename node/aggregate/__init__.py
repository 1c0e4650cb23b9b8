"""Pure aggregation rules, contribution scores and reward splits (no network, no chain)."""

from node.aggregate.registry import (
    AggregateResult,
    PreconditionError,
    Rule,
    build_rule,
    rule_names,
)
from node.aggregate.scores import contribution_scores
from node.aggregate.vectors import AggregationError

__all__ = [
    "AggregateResult",
    "AggregationError",
    "PreconditionError",
    "Rule",
    "build_rule",
    "contribution_scores",
    "rule_names",
]

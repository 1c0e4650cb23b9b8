"""The order test files run in: the slowest first.

`make test` runs the files in two xdist workers, one file at a time each (`--dist loadfile
--no-loadscope-reorder`), in collection order. Started last, a file of several minutes
leaves one worker alone at the end of the run for as long; started first, it runs while
the other worker gets through the many short files. So the integration files go first,
longest first by the seconds below (their wall time in a two-worker fresh-clone run, one
file at a time; rough, only the order matters), then the other integration files, then the
unit tests. Within a file the order is unchanged.
"""

from __future__ import annotations

import pytest

SECONDS = {
    "test_operator_journey.py": 250,
    "test_slow_link.py": 130,
    "test_scripts.py": 120,
    "test_crash_recovery.py": 105,
    "test_custom_task.py": 95,
    "test_hostile_bench.py": 85,
    "test_explorer_browser.py": 80,
    "test_anvil_restart.py": 70,
    "test_control_endpoint.py": 60,
    "test_model_export.py": 55,
    "test_restart_scoring.py": 50,
    "test_cli_errors.py": 45,
    "test_sybils.py": 43,
    "test_rpc_outage.py": 37,
    "test_bench_scale.py": 36,
    "test_graceful_stop.py": 35,
    "test_rounds_index.py": 35,
    "test_deploy.py": 30,
    "test_committee_rounds.py": 30,
}
OTHER_INTEGRATION = 20  # a file not listed yet: after these, before the unit tests


def _seconds(item: pytest.Item) -> int:
    path = item.path
    if "integration" not in path.parts:
        return 0
    return SECONDS.get(path.name, OTHER_INTEGRATION)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_seconds, reverse=True)  # stable: a file's items stay in their order

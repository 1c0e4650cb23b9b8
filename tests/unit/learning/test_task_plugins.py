"""Custom tasks: `fedchain.tasks` entry points and module:function, and their errors.

The entry point is made discoverable the way an installed package is: a ``*.dist-info``
directory with METADATA and entry_points.txt on ``sys.path`` (what pip writes).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.errors import ConfigError
from node.learning.tasks import Task, get_task, task_names

MODULE = """
from node.learning.tasks import TASKS, Task

def make() -> Task:
    base = TASKS["digits-mlp"]
    return Task("tiny-digits", base.build_model, base.load_all)

def broken() -> Task:
    raise RuntimeError("no data here")
"""


@pytest.fixture
def plugin_dir(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "tiny_tasks.py").write_text(MODULE)
    info = tmp_path / "tiny_tasks-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tiny-tasks\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[fedchain.tasks]\n"
        "tiny-digits = tiny_tasks:make\n"
        "broken = tiny_tasks:broken\n"
        "missing = not_installed_anywhere:make\n"
    )
    sys.path.insert(0, str(tmp_path))
    yield tmp_path
    sys.path.remove(str(tmp_path))
    sys.modules.pop("tiny_tasks", None)


def test_an_entry_point_task_loads_by_its_name(plugin_dir: Path) -> None:
    task = get_task("tiny-digits")
    assert isinstance(task, Task)
    assert task.name == "tiny-digits"
    assert "tiny-digits" in task_names()


def test_unknown_task_lists_built_in_and_entry_point_tasks(plugin_dir: Path) -> None:
    with pytest.raises(ConfigError) as info:
        get_task("nope")
    message = str(info.value)
    assert "digits-mlp" in message
    assert "tiny-digits" in message
    assert "package.module:function" in message


def test_an_entry_point_whose_module_is_missing_says_how_to_install(plugin_dir: Path) -> None:
    with pytest.raises(ConfigError, match=r"not_installed_anywhere.*pip install -e"):
        get_task("missing")


def test_a_failing_factory_is_reported_not_raised(plugin_dir: Path) -> None:
    with pytest.raises(ConfigError, match="RuntimeError: no data here"):
        get_task("broken")


def test_module_function_specs(plugin_dir: Path) -> None:
    assert get_task("tiny_tasks:make").name == "tiny-digits"
    with pytest.raises(ConfigError, match="PYTHONPATH"):
        get_task("no_such_pkg.tasks:make")
    with pytest.raises(ConfigError, match="has no 'nope'"):
        get_task("tiny_tasks:nope")
    with pytest.raises(ConfigError, match="package.module:function"):
        get_task("tiny_tasks:")


def test_a_built_in_name_needs_no_torch() -> None:
    import subprocess

    code = "import sys; from node.learning.tasks import get_task; get_task('digits-mlp'); "
    code += "print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

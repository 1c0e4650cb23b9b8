"""The opt-in CPU profile (FEDCHAIN_PROFILE): off by default, both modes write what they
promise, bad settings are refused, and the collapsed-stack reader ranks frames."""

from __future__ import annotations

import os
import pstats
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
import trio

from node import profiling
from node.errors import ConfigError
from node.sampling import load, ranked

# a node-like process: the trio thread and a worker thread both burn CPU in a named function,
# long enough (~0.5 s) that start-up and trio's waits stay a small share under load (at a
# tenth of it, a loaded CI machine charged more to trio's I/O wait than to the burner)
PROGRAM = textwrap.dedent(
    """
    import sys, trio
    from pathlib import Path
    from node import profiling

    def spin_the_wheel(n):  # a plain loop: no calls for cProfile to charge
        x = 0
        for i in range(n):
            x += i * i
        return x

    async def main():
        print(profiling.start(Path(sys.argv[1])))
        for _ in range(5):
            spin_the_wheel(600_000)
            await trio.to_thread.run_sync(spin_the_wheel, 1_200_000)

    trio.run(main)
    """
)


def run_profiled(tmp_path: Path, mode: str) -> Path:
    env = {**os.environ, "FEDCHAIN_PROFILE": str(tmp_path / "out"), "FEDCHAIN_PROFILE_MODE": mode}
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, str(tmp_path / "node7")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    path = Path(done.stdout.strip().splitlines()[-1])
    assert path.parent == tmp_path / "out" and path.name.startswith("node7-")
    return path


def test_cprofile_mode_covers_the_trio_thread_and_worker_threads(tmp_path: Path) -> None:
    path = run_profiled(tmp_path, "cprofile")
    stats = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    calls = sum(v[1] for fn, v in stats.items() if fn[2] == "spin_the_wheel")
    assert calls == 10  # 5 on the trio thread + 5 in worker threads


def test_sample_mode_charges_cpu_to_the_burning_function(tmp_path: Path) -> None:
    path = run_profiled(tmp_path, "sample")
    assert path.suffix == ".stacks"
    stacks = load([path])
    burning = sum(ms for stack, ms in stacks.items() if "spin_the_wheel" in stack)
    assert burning > 0.5 * sum(stacks.values())
    assert any(s.startswith("thread;") and "spin_the_wheel" in s for s in stacks)


def test_off_unless_the_variable_names_a_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(profiling.ENV, raising=False)
    run = threading.Thread.run
    assert profiling.start(Path("/nonexistent/node0")) is None
    monkeypatch.setenv(profiling.ENV, " ")
    assert profiling.start(Path("/nonexistent/node0")) is None
    assert threading.Thread.run is run


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (profiling.EVERY_ENV, "0", "positive number"),
        (profiling.EVERY_ENV, "soon", "positive number"),
        (profiling.MODE_ENV, "perf", "cprofile or sample"),
    ],
)
def test_bad_settings_are_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(profiling.ENV, str(tmp_path))
    monkeypatch.setenv(name, value)

    async def main() -> None:
        profiling.start(tmp_path / "node0")

    with pytest.raises(ConfigError, match=message):
        trio.run(main)


def test_ranked_counts_a_frame_once_per_stack_and_filters() -> None:
    stacks = {"main;a;b;a": 3.0, "main;a;c": 2.0, "thread;d": 5.0}
    out = ranked(stacks, top=2)
    assert out["self"] == [("d", 5.0), ("a", 3.0)]
    inclusive = dict(ranked(stacks, top=10)["inclusive"])
    assert inclusive["a"] == 5.0 and inclusive["b"] == 3.0 and inclusive["main"] == 5.0
    assert ranked(stacks, top=5, match="c")["inclusive"] == [("c", 2.0)]

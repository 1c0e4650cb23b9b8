"""docs/tasks.md, end to end: a custom task package from zero to two finalized rounds.

The package's files are read out of docs/tasks.md itself (the code blocks whose first
line names the file), so the docs cannot drift from what is tested. It is installed as
the docs say, with a real setuptools build of its pyproject, but into a temporary
directory instead of the venv: ``pip install --no-deps --no-build-isolation --target
TMP/site ./fedchain-blobs``. The CLI subprocesses get TMP/site on PYTHONPATH, so
``importlib.metadata`` finds the ``fedchain.tasks`` entry point there. Then the docs'
commands run as real processes against a real anvil: ``devnet up --task blobs
--min-participants 2``, ``node init`` x2, ``fund`` x2, ``node run`` x2, ``rounds``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.chain import devnet
from tests.integration.ports import free_port

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs" / "tasks.md"
PASSWORD = "correct horse battery"
ROUNDS = 2


def doc_files(text: str) -> dict[str, str]:
    """``path -> content`` of the docs' code blocks whose first line is ``# <path>``."""
    blocks = re.findall(r"```(?:toml|python)\n# (\S+)\n(.*?)```", text, flags=re.S)
    return {path: body for path, body in blocks}


def install_package(tmp: Path) -> Path:
    files = doc_files(DOCS.read_text())
    assert set(files) == {
        "fedchain-blobs/pyproject.toml",
        "fedchain-blobs/fedchain_blobs/__init__.py",
    }
    for path, body in files.items():
        (tmp / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp / path).write_text(body)
    site = tmp / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(site), str(tmp / "fedchain-blobs")],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert (site / "fedchain_blobs").is_dir()
    return site


class Cli:
    def __init__(self, tmp: Path, site: Path) -> None:
        self.cwd = tmp
        path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
        self.env = {
            **os.environ,
            "PYTHONPATH": path,
            "FEDCHAIN_KEYSTORE_PASSWORD": PASSWORD,
            "OMP_NUM_THREADS": "1",
            "XDG_CACHE_HOME": str(tmp / "cache"),
        }

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "node", *args], cwd=self.cwd, env=self.env,
            capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert result.returncode == 0, f"fedchain {' '.join(args)}:\n{result.stderr[-3000:]}"
        return result

    def start(self, log: Path, *args: str) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "node", *args], cwd=self.cwd, env=self.env,
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip


def wait_for(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


def phase_of(node_dir: Path) -> str:
    try:
        return str(json.loads((node_dir / "status.json").read_text()).get("phase", ""))
    except (OSError, ValueError):
        return ""


@pytest.fixture(scope="module")
def journey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    tmp = tmp_path_factory.mktemp("custom-task")
    cli = Cli(tmp, install_package(tmp))
    chain_dir = tmp / ".data" / "blobs"
    deployment = str(chain_dir / "deployment.json")
    nodes = {name: tmp / "nodes" / f"blobs-{name}" for name in ("a", "b")}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        up = cli("devnet", "up", "--data-dir", str(chain_dir), "--task", "blobs",
                 "--min-participants", "2", "--port", str(free_port()))  # fmt: skip
        accounts = {}
        for index, (name, home) in enumerate(nodes.items()):
            init = cli("node", "init", "--data-dir", str(home), "--deployment", deployment,
                       "--partition-index", str(index), "--partition-count", "2")  # fmt: skip
            accounts[name] = re.search(r"account (0x[0-9a-fA-F]{40})", init.stdout).group(1)  # type: ignore[union-attr]
            cli("fund", accounts[name], "--data-dir", str(chain_dir))
        run = ("node", "run", "--max-rounds", str(ROUNDS), "--config")
        procs.append(cli.start(tmp / "a.log", *run, str(nodes["a"] / "config.toml")))
        wait_for(lambda: phase_of(nodes["a"]).startswith("waiting for"), 180, "node a to wait")
        waiting_phase = phase_of(nodes["a"])
        procs.append(cli.start(tmp / "b.log", *run, str(nodes["b"] / "config.toml")))
        for proc in procs:
            proc.wait(timeout=900)
        rounds = json.loads(cli("rounds", "--deployment", deployment, "--json").stdout)
        yield {
            "up": up.stdout,
            "waiting_phase": waiting_phase,
            "codes": [p.returncode for p in procs],
            "logs": {n: (tmp / f"{n}.log").read_text() for n in nodes},
            "records": {
                n: json.loads((h / "status.json").read_text())["records"] for n, h in nodes.items()
            },  # fmt: skip
            "rounds": rounds,
            "config": (nodes["a"] / "config.toml").read_text(),
        }
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        devnet.down(chain_dir)


def test_the_entry_point_task_is_deployed_and_used_by_node_init(journey) -> None:  # type: ignore[no-untyped-def]
    assert "task blobs" in journey["up"]
    assert "min participants 2" in journey["up"]
    assert 'task = "blobs"' in journey["config"]  # node init took the deployment's task


def test_the_first_node_says_what_it_waits_for(journey) -> None:  # type: ignore[no-untyped-def]
    assert journey["waiting_phase"] == "waiting for 2 participants, 1 active"
    lines = [ln for ln in journey["logs"]["a"].splitlines() if "waiting for 2 participants" in ln]
    assert len(lines) == 1, lines  # logged once per change, not once per poll
    assert "INFO" in lines[0]


def test_two_rounds_finalize_with_the_model_both_nodes_computed(journey) -> None:  # type: ignore[no-untyped-def]
    assert journey["codes"] == [0, 0], journey["logs"]
    on_chain = {row["round"]: row for row in journey["rounds"]}
    assert [on_chain[r]["status"] for r in (1, 2)] == ["finalized", "finalized"]
    for r in (1, 2):
        cids = {
            name: next(x for x in recs if x["round"] == r)
            for name, recs in journey["records"].items()
        }
        assert {x["model_cid"] for x in cids.values()} == {on_chain[r]["model_cid"]}
        assert {x["finalized_cid"] for x in cids.values()} == {on_chain[r]["model_cid"]}
    assert on_chain[1]["model_cid"] != on_chain[2]["model_cid"]

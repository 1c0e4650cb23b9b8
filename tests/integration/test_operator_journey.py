"""The README's "Using it" block, run verbatim, as a new operator would run it.

The block is taken from README.md at test time (the first ```sh block under
"## Using it") and run by bash in an empty directory that holds only a `.venv` link to
this checkout's virtual environment. Nothing is substituted; the environment adds only
FEDCHAIN_DEVNET_PORT (a free port, so the test never meets a devnet someone else runs on
8545) and a private cache directory. After the block the test checks the chain itself:
rounds finalized with the CIDs every node recorded, nothing committed or voted twice,
the operator's transactions landed, and every node's own transactions went through.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.chain.client import RoundStatus
from node.operator.keys import client
from node.state import NodeState
from tests.integration.ports import free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
BLOCK_TIMEOUT_S = 540


def using_it_block(readme: str) -> str:
    """The first ```sh block after the "## Using it" heading."""
    section = readme.split("\n## Using it", 1)
    if len(section) != 2:
        raise AssertionError('README.md has no "## Using it" section')
    match = re.search(r"```sh\n(.*?)```", section[1], re.S)
    if match is None:
        raise AssertionError('no ```sh block under "## Using it"')
    return match.group(1)


def test_using_it_block_is_found() -> None:
    block = using_it_block((REPO / "README.md").read_text())
    assert "fedchain devnet up" in block and "fedchain node run" in block


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / ".venv").symlink_to(REPO / ".venv")
    yield tmp_path
    # Whatever the block left running (it stops its nodes and the devnet itself when it
    # gets to the end): node processes by their status pid, then anvil.
    for status in tmp_path.glob("nodes/*/status.json"):
        pid = re.search(r'"pid": (\d+)', status.read_text())
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid.group(1)), signal.SIGKILL)
    venv_bin = REPO / ".venv" / "bin"
    for devnet in tmp_path.glob(".data/**/anvil.pid"):
        subprocess.run(
            [venv_bin / "fedchain", "devnet", "down", "--data-dir", devnet.parent],
            cwd=tmp_path,
            capture_output=True,
            timeout=60,
        )


def test_readme_using_it_verbatim(workdir: Path) -> None:
    block = using_it_block((REPO / "README.md").read_text())
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FEDCHAIN_", "VIRTUAL_ENV", "PYTHON"))
    }
    env.update(
        FEDCHAIN_DEVNET_PORT=str(free_port()),
        XDG_CACHE_HOME=str(workdir / ".cache"),
    )
    run = subprocess.run(
        # The block as written, traced with the seconds since it started (bash ignores
        # PS4 from the environment when run as root), so a failure shows where it was.
        ["bash", "-xeuo", "pipefail", "-c", "PS4='+ [${SECONDS}s] '\n" + block],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT_S,
    )
    logs = "".join(
        f"\n--- {log}\n{log.read_text()[-1500:]}" for log in workdir.glob("nodes/*/node.log")
    )
    assert run.returncode == 0, (
        f"{logs}\n--- stdout\n{run.stdout[-5000:]}\n--- stderr\n{run.stderr[-3000:]}"
    )
    out = run.stdout

    deployment = workdir / ".data" / "devnet" / "deployment.json"
    nodes = sorted(p for p in (workdir / "nodes").iterdir() if (p / "state.sqlite").is_file())
    assert len(nodes) >= 3
    records = {}
    for node_dir in nodes:
        state = NodeState(node_dir / "state.sqlite")
        try:
            records[node_dir.name] = {r["round"]: r for r in state.records()}
        finally:
            state.close()
        assert "nonce too low" not in (node_dir / "node.log").read_text()
    # the chain is down now (the block ends with `devnet down`): restart it to read it
    subprocess.run(
        [REPO / ".venv" / "bin" / "fedchain", "devnet", "up", "--data-dir", deployment.parent],
        cwd=workdir,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    chain = client(deployment, None)
    finalized = [
        r
        for r in range(1, chain.current_round() + 1)
        if chain.round_info(r).status is RoundStatus.FINALIZED
    ]
    assert len(finalized) >= 2, out
    for r in finalized[:2]:
        on_chain = chain.finalized_outcome(r)
        assert on_chain is not None
        cids = {name: recs[r]["finalized_cid"] for name, recs in records.items() if r in recs}
        assert set(cids.values()) == {on_chain.model_cid}, (r, cids)
        assert all(recs[r]["committed"] for recs in records.values() if r in recs)
    for r in finalized:  # the contract refuses a second commit; the events prove none landed
        commits = Counter(e["args"]["author"] for e in chain._logs("Committed", {"round": r}))
        assert max(commits.values()) == 1, (r, commits)
    votes = Counter((v.round, v.voter) for v in chain.votes())
    assert max(votes.values()) == 1
    # what the block printed: the operator's commands did what they say
    reloaded = re.search(r"round (\d+) model: accuracy ([0-9.]+)", out)
    assert reloaded is not None, out
    assert int(reloaded.group(1)) >= 2 and float(reloaded.group(2)) > 0.8, reloaded.group(0)
    assert "withdrew 5 FED" in out, out
    assert re.search(r"(registered|topped up): staked 5 FED", out), out

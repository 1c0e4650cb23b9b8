"""Wall time of everyday CLI commands, and whether reading rounds grows with history.

Starts a devnet, drives the real coordinator to 10 finalized rounds without nodes
(bench/_rounds.py: three funded accounts commit made-up CIDs and vote), times
`fedchain --help`, `devnet status`, `balance` and `rounds --last 10` (median of
``--repeat`` runs each, with a warm event index, as an operator re-running them sees
it; the first, cold run of rounds/balance is reported too), drives on to 200 rounds and
times them again. Each time is also given as a multiple of a bare `python -c pass`
measured in the same run. Prints one JSON line; `ok` is whether `rounds --last 10` and
`balance` at 200 rounds take at most 1.3x their time at 10.

    .venv/bin/python bench/cli_latency.py [--rounds 10,200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _rounds  # noqa: E402

from tests.integration.ports import free_port  # noqa: E402

MAX_GROWTH = 1.3
FEDCHAIN = str(Path(sys.executable).with_name("fedchain"))


def wall(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {done.stderr.strip()}")
    return took


def median_wall(cmd: list[str], env: dict[str, str], repeat: int) -> float:
    return statistics.median(wall(cmd, env) for _ in range(repeat))


def commands(driver: _rounds.Driver) -> dict[str, list[str]]:
    deployment = ["--deployment", str(driver.deployment_file)]
    return {
        "help": [FEDCHAIN, "--help"],
        "devnet_status": [FEDCHAIN, "devnet", "status", "--data-dir", str(driver.data_dir)],
        "balance": [FEDCHAIN, "balance", "--address", driver.addresses[0], *deployment],
        "rounds_last_10": [FEDCHAIN, "rounds", "--last", "10", *deployment],
    }


def measure(
    driver: _rounds.Driver, env: dict[str, str], repeat: int, baseline: float
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    cmds = commands(driver)
    for name in ("balance", "rounds_last_10"):  # the first run after new rounds: cold index
        out[f"{name}_cold_s"] = round(wall(cmds[name], env), 3)
    for name, cmd in cmds.items():
        took = median_wall(cmd, env, repeat)
        out[f"{name}_s"] = round(took, 3)
        out[f"{name}_x_python"] = round(took / baseline, 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", default="10,200", help="two history lengths, a,b")
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing (median)")
    args = parser.parse_args()
    small, large = (int(x) for x in args.rounds.split(","))
    with tempfile.TemporaryDirectory(prefix="fedchain-cli-latency-") as tmp:
        env = {**os.environ, "FEDCHAIN_CACHE_DIR": str(Path(tmp) / "cache"), "COLUMNS": "200"}
        baseline = median_wall([sys.executable, "-c", "pass"], env, max(5, args.repeat))
        driver = _rounds.start(Path(tmp) / "devnet", free_port(), treasury_rounds=large + 10)
        try:
            start = time.perf_counter()
            driver.drive(small)
            at_small = measure(driver, env, args.repeat, baseline)
            driver.drive(large - small)
            drive_s = time.perf_counter() - start
            at_large = measure(driver, env, args.repeat, baseline)
        finally:
            driver.stop()
    growth = {
        name: round(at_large[f"{name}_s"] / at_small[f"{name}_s"], 3)
        for name in ("rounds_last_10", "balance")
    }
    print(
        json.dumps(
            {
                "bench": "cli_latency",
                "python_pass_s": round(baseline, 3),
                f"at_{small}_rounds": at_small,
                f"at_{large}_rounds": at_large,
                f"ratio_{large}_vs_{small}": growth,
                "max_ratio": MAX_GROWTH,
                "ok": all(g <= MAX_GROWTH for g in growth.values()),
                "drive_s": round(drive_s, 1),
                "repeat": args.repeat,
            }
        )
    )


if __name__ == "__main__":
    main()

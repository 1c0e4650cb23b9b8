"""Explorer page latency at a long history, against a static file from the same server.

Starts a devnet, drives the real coordinator to ``--rounds`` finalized rounds without
nodes (bench/_rounds.py: three accounts commit made-up CIDs and vote; every fifth round
has claims), starts `fedchain explorer` on it, waits until its index holds every round
(sync time reported), then requests the overview, a round page from the middle of the
history and ``/static/explorer.css`` (the baseline: what the server costs with no page
work), interleaved, ``--requests`` times each. Prints one JSON line with the median and
p95 of each and their ratio to the static file, saved to ``--out``; ``ok`` is whether
the overview and the round page answer in < 300 ms (p95).

    .venv/bin/python bench/explorer.py [--rounds 1000] [--requests 50]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _rounds  # noqa: E402

from tests.integration.ports import free_port  # noqa: E402

GOAL_S = 0.3
FEDCHAIN = str(Path(sys.executable).with_name("fedchain"))
OUT = Path(__file__).resolve().parent.parent / "docs" / "bench" / "explorer.json"


def get(url: str) -> tuple[float, int]:
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as response:
        body = response.read()
    took = time.perf_counter() - start
    if response.status != 200 or not body:
        raise SystemExit(f"GET {url}: {response.status}")
    return took, len(body)


def wait_synced(base: str, rounds: int, timeout: float) -> float:
    """Seconds until the explorer's index holds ``rounds`` rounds."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=5) as response:
                health = json.loads(response.read())
            if health["synced"] and (health["current_round"] or 0) >= rounds:
                return time.perf_counter() - start
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the explorer did not index {rounds} rounds in {timeout:.0f} s")


def stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(p95 * 1000, 2),
    }


def measure(base: str, rounds: int, requests: int) -> dict[str, Any]:
    paths = {
        "static": "/static/explorer.css",
        "overview": "/",
        "round": f"/rounds/{max(1, rounds // 2)}",
        "participant": "",  # filled below
    }
    with urllib.request.urlopen(base + "/api/overview", timeout=30) as response:
        overview = json.loads(response.read())
    paths["participant"] = f"/participants/{overview['participants'][0]['address']}"
    for path in paths.values():  # warm: templates compiled, caches filled
        get(base + path)
    samples: dict[str, list[float]] = {name: [] for name in paths}
    sizes: dict[str, int] = {}
    for _ in range(requests):
        for name, path in paths.items():
            took, size = get(base + path)
            samples[name].append(took)
            sizes[name] = size
    out: dict[str, Any] = {}
    static = statistics.median(samples["static"])
    for name in paths:
        out[name] = {**stats(samples[name]), "bytes": sizes[name]}
        if name != "static":
            out[name]["x_static"] = round(statistics.median(samples[name]) / static, 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1000, help="finalized rounds to build")
    parser.add_argument("--requests", type=int, default=50, help="requests per page")
    parser.add_argument("--out", type=Path, default=OUT, help="where the JSON line is saved")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fedchain-bench-explorer-") as tmp:
        data = Path(tmp)
        driver = _rounds.start(data, free_port(), treasury_rounds=args.rounds + 10)
        try:
            started = time.perf_counter()
            driver.drive(args.rounds)
            drive_s = time.perf_counter() - started
            port = free_port()
            explorer = subprocess.Popen(
                [
                    FEDCHAIN,
                    "explorer",
                    "--deployment",
                    str(driver.deployment_file),
                    "--port",
                    str(port),
                    "--data-dir",
                    str(data / "explorer"),
                ],
                stdout=subprocess.DEVNULL,
            )
            try:
                base = f"http://127.0.0.1:{port}"
                sync_s = wait_synced(base, args.rounds, timeout=120 + args.rounds)
                pages = measure(base, args.rounds, args.requests)
            finally:
                explorer.terminate()
                explorer.wait(timeout=30)
        finally:
            driver.stop()
    result = {
        "bench": "explorer",
        "rounds": args.rounds,
        "requests": args.requests,
        "drive_s": round(drive_s, 1),
        "first_sync_s": round(sync_s, 2),
        **pages,
        "goal_ms": GOAL_S * 1000,
        "ok": pages["overview"]["p95_ms"] < GOAL_S * 1000
        and pages["round"]["p95_ms"] < GOAL_S * 1000,
    }
    line = json.dumps(result)
    print(line)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(line + "\n")


if __name__ == "__main__":
    main()

"""Compression benchmark: bytes per update and final accuracy, dense vs compressed updates.

8 nodes with IID shares of MNIST 5k train the CNN for 20 rounds, in-process over the
node's own path: compute_delta -> the update the node sends under the codec
(node.update.feedback.outgoing: error feedback, residual in the node's data directory) ->
encode_update -> verify_update (exact decode, header, shapes, norm bound) -> the rule ->
apply_delta. The same run does it twice from the same genesis model, partitions and
seeds: with the default dense codec (the baseline) and with the compressed one.

    python bench/compression.py                               # ~5 CPU minutes on 2 cores
    python bench/compression.py --task digits-mlp --nodes 2 --rounds 2 --workers 0 --out -

Prints one JSON line (bytes per update both ways, their ratio, final accuracy both ways
and the difference) and writes it to docs/bench/compression.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from node.aggregate import build_rule  # noqa: E402
from node.aggregate.fedavg import apply_delta, capped_weights  # noqa: E402
from node.learning.local import accuracy_of, compute_delta, genesis_params, shapes_of  # noqa: E402
from node.learning.partition import iid_partition, train_test_split  # noqa: E402
from node.learning.tasks import get_task  # noqa: E402
from node.update.codec import CODEC, UpdateHeader, encode_update  # noqa: E402
from node.update.feedback import outgoing  # noqa: E402
from node.verify.checks import Expectation, verify_update  # noqa: E402

COMPRESSED = "topk-int8-p100"
DEPLOYMENT = "31337:0xbench"
LR, BATCH, EPOCHS = 0.05, 32, 1  # node defaults (config lr, batch_size, epochs)
NORM_BOUND = 20.0  # node default (config norm_bound)
MAX_EXAMPLES = 10_000


def simulate(task_name: str, nodes: int, rounds: int, codec: str, seed: int) -> dict:
    """Test accuracy per round and mean bytes per update for one codec."""
    import torch

    torch.set_num_threads(1)
    task = get_task(task_name)
    train, test = train_test_split(task.load_all(), seed)
    parts = [iid_partition(train, i, nodes, seed) for i in range(nodes)]
    rule = build_rule("fedavg", 0)
    base = genesis_params(task)
    shapes = shapes_of(base)
    sizes: list[int] = []
    curve: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        dirs = [Path(tmp) / f"node{i}" for i in range(nodes)]
        for d in dirs:
            d.mkdir()
        for r in range(1, rounds + 1):
            deltas, examples = [], []
            for i, data in enumerate(parts):
                author = f"0x{i:040x}"
                delta = compute_delta(task, base, data, epochs=EPOCHS, lr=LR, batch_size=BATCH,
                                      seed=seed * 1_000_003 + r * 101 + i)  # fmt: skip
                sent = outgoing(dirs[i], DEPLOYMENT, r, delta, codec, NORM_BOUND)
                header = UpdateHeader(DEPLOYMENT, r, author, "base", len(data), codec=codec)
                blob = encode_update(header, sent)
                sizes.append(len(blob))
                expect = Expectation(DEPLOYMENT, r, author, "base", shapes, MAX_EXAMPLES,
                                     NORM_BOUND, codec)  # fmt: skip
                header, decoded = verify_update(blob, expect)
                deltas.append(decoded)
                examples.append(header.num_examples)
            result = rule(deltas, capped_weights(examples, MAX_EXAMPLES))
            base = apply_delta(base, result.delta)
            curve.append(round(accuracy_of(task, base, test), 4))
    return {"bytes_per_update": round(float(np.mean(sizes)), 1), "accuracy": curve}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--task", default="mnist5k-cnn")
    ap.add_argument("--nodes", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--codec", default=COMPRESSED, help="the compressed codec to measure")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2, help="processes (0: in-process)")
    ap.add_argument("--out", default=str(ROOT / "docs/bench/compression.json"),
                    help="JSON file to write, or - for none")  # fmt: skip
    args = ap.parse_args(argv)
    runs = [(args.task, args.nodes, args.rounds, c, args.seed) for c in (CODEC, args.codec)]
    if args.workers:
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            dense, packed = pool.map(simulate, *zip(*runs, strict=True))
    else:
        dense, packed = (simulate(*run) for run in runs)
    cpu = sum(
        u.ru_utime + u.ru_stime
        for u in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    )
    out = {
        "bench": "compression",
        "task": args.task,
        "nodes": args.nodes,
        "rounds": args.rounds,
        "codec": args.codec,
        "baseline_codec": CODEC,
        "bytes_per_update_dense": dense["bytes_per_update"],
        "bytes_per_update_compressed": packed["bytes_per_update"],
        "bytes_ratio": round(dense["bytes_per_update"] / packed["bytes_per_update"], 2),
        "final_acc_dense": dense["accuracy"][-1],
        "final_acc_compressed": packed["accuracy"][-1],
        "final_acc_diff": round(packed["accuracy"][-1] - dense["accuracy"][-1], 4),
        "curve_dense": dense["accuracy"],
        "curve_compressed": packed["accuracy"],
        "cpu_s": round(cpu, 1),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    line = json.dumps(out)
    print(line)
    if args.out != "-":
        Path(args.out).write_text(line + "\n")
    return out


if __name__ == "__main__":
    main()

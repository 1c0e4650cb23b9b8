"""ServerApp: FedAvg over every SuperNode, the test accuracy and a timestamp per round."""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, MetricRecord
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg

from bench._flower.data import load_genesis
from bench._flower.logic import accuracy_on_test

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    cfg = context.run_config
    data_dir = Path(str(cfg["data-dir"]))
    rounds = int(cfg["num-server-rounds"])
    nodes = int(cfg["min-nodes"])
    log: list[dict[str, float]] = []

    def evaluate(server_round: int, arrays: ArrayRecord) -> MetricRecord:
        state = {k: v.numpy() for k, v in arrays.to_torch_state_dict().items()}
        accuracy = accuracy_on_test(state, data_dir)
        log.append({"round": server_round, "t": time.monotonic(), "accuracy": accuracy})
        (data_dir / "flower_rounds.json").write_text(json.dumps(log))
        return MetricRecord({"accuracy": accuracy})

    strategy = FedAvg(
        fraction_train=float(cfg["fraction-train"]),
        fraction_evaluate=0.0,
        min_train_nodes=nodes,
        min_available_nodes=nodes,
    )
    strategy.start(
        grid=grid,
        initial_arrays=ArrayRecord(
            {k: torch.from_numpy(v) for k, v in load_genesis(data_dir).items()}
        ),
        num_rounds=rounds,
        train_config=ConfigRecord({"lr": float(cfg["lr"])}),
        evaluate_fn=evaluate,
    )

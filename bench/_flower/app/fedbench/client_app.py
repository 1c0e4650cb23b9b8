"""ClientApp: one round of local training on this SuperNode's partition."""

from __future__ import annotations

from pathlib import Path

import torch
from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from bench._flower.logic import local_round

app = ClientApp()


@app.train()
def train(msg: Message, context: Context) -> Message:
    cfg = context.run_config
    state = msg.content["arrays"].to_torch_state_dict()
    trained, examples = local_round(
        {k: v.numpy() for k, v in state.items()},
        Path(str(cfg["data-dir"])),
        int(context.node_config["partition-id"]),
        int(msg.content["config"]["server-round"]),
        epochs=int(cfg["local-epochs"]),
        lr=float(cfg["lr"]),
        batch_size=int(cfg["batch-size"]),
    )
    content = RecordDict(
        {
            "arrays": ArrayRecord({k: torch.from_numpy(v) for k, v in trained.items()}),
            "metrics": MetricRecord({"num-examples": examples}),
        }
    )
    return Message(content=content, reply_to=msg)

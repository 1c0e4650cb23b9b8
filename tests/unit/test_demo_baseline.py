"""The demo's simulated FedAvg baseline: verification and withholding as in the real round."""

from __future__ import annotations

from pathlib import Path

from node.attacks.simulation import SimulationConfig
from node.config import NodeConfig
from node.demo.baseline import simulate_rule


def _configs(attack: str, nodes: int = 4) -> list[tuple[NodeConfig, SimulationConfig]]:
    return [
        (
            NodeConfig(
                data_dir=Path("."),
                deployment=Path("."),
                key_file=Path("."),
                task="digits-mlp",
                partition_index=i,
                partition_count=nodes,
                data_seed=i,
                epochs=1,
            ),
            SimulationConfig(attack if i == nodes - 1 else ""),
        )
        for i in range(nodes)
    ]


def test_rejected_and_withheld_updates_leave_the_same_model() -> None:
    seen: list[int] = []
    boosted = simulate_rule(_configs("boost"), 2, "fedavg", seen.append)
    withheld = simulate_rule(_configs("withhold"), 2, "fedavg")
    assert seen == [1, 2]
    assert len(boosted) == 2 and all(0.0 <= a <= 1.0 for a in boosted)
    # the boosted update fails the norm check, the withheld one never arrives: both
    # rounds aggregate exactly the three honest updates
    assert boosted == withheld


def test_an_accepted_attack_changes_the_fedavg_model_deterministically() -> None:
    flipped = simulate_rule(_configs("sign_flip"), 2, "fedavg")
    assert flipped == simulate_rule(_configs("sign_flip"), 2, "fedavg")
    assert flipped != simulate_rule(_configs("withhold"), 2, "fedavg")

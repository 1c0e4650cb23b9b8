"""Plain FedAvg under the demo's attack, simulated in this process, for the comparison plot.

The demo's own accuracy curve comes from the real decentralized run with the chosen
robust rule. Running the whole system a second time with FedAvg would double the demo,
so the FedAvg curve is a simulation: the nodes' own configs (task, partitions, seeds,
epochs, learning rate, attackers) through the same functions the round uses (local
training, attack crafting, norm verification, exact fixed-point aggregation), without
network or chain. The plot and report label it as simulated.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from node.aggregate import fednova
from node.aggregate.fedavg import apply_delta, capped_weights
from node.aggregate.registry import Rule, build_rule
from node.byzantine import attacker_pool, crafted_delta, is_withholding, poisoned_data
from node.config import NodeConfig
from node.errors import UpdateRejected
from node.learning.fixedpoint import FixedParams
from node.learning.local import accuracy_of, compute_delta, genesis_params
from node.learning.partition import SPLIT_SEED, partition_by_spec, train_test_split
from node.learning.spec import TrainingSpec
from node.learning.tasks import Dataset, Task, get_task
from node.learning.train import local_steps
from node.verify.checks import check_norm

Progress = Callable[[int], None]


def simulate_rule(
    configs: Sequence[NodeConfig],
    rounds: int,
    rule_spec: str,
    progress: Progress | None = None,
    training: TrainingSpec | None = None,
) -> list[float]:
    """Test accuracy after each of ``rounds`` rounds when ``configs``' nodes aggregate with
    ``rule_spec`` (every node verifies and aggregates the same set, so one model suffices),
    training as the deployment's ``training`` says (FedProx, FedNova; default plain SGD)."""
    training = training or TrainingSpec()
    first = configs[0]
    task = get_task(first.task)
    train, test = train_test_split(task.load_all(), SPLIT_SEED)
    f = sum(1 for c in configs if c.attack)
    rule = build_rule(rule_spec, f)
    pools = [attacker_pool(c, train) for c in configs]
    local = [
        poisoned_data(
            c.attack,
            partition_by_spec(
                train, c.partition, c.partition_index, c.partition_count, c.partition_seed
            ),
        )
        for c in configs
    ]
    base = genesis_params(task)
    accuracies = []
    for r in range(1, rounds + 1):
        updates: list[FixedParams] = []
        examples: list[int] = []
        steps: list[int] = []
        for cfg, data, pool in zip(configs, local, pools, strict=True):
            delta = _update(cfg, task, base, data, r, rule, pool, training)
            if delta is None:
                continue
            try:
                check_norm(delta, cfg.norm_bound)
            except UpdateRejected:
                continue  # rejected by verification, as in the real round
            updates.append(delta)
            examples.append(len(data))
            steps.append(local_steps(len(data), epochs=cfg.epochs, batch_size=cfg.batch_size))
        if updates:
            weights = capped_weights(examples, first.max_examples)
            if training.algorithm == "fednova":
                updates = fednova.normalise(updates, steps, weights)
            base = apply_delta(base, rule(updates, weights, None).delta)
        accuracies.append(accuracy_of(task, base, test))
        if progress is not None:
            progress(r)
    return accuracies


def _update(
    cfg: NodeConfig,
    task: Task,
    base: FixedParams,
    data: Dataset,
    r: int,
    rule: Rule,
    pool: Dataset | None,
    training: TrainingSpec,
) -> FixedParams | None:
    if cfg.attack and is_withholding(cfg.attack):
        return None
    mu = training.prox_mu if training.algorithm == "fedprox" else 0.0

    def train(part: Dataset, seed: int) -> FixedParams:
        return compute_delta(task, base, part, epochs=cfg.epochs, lr=cfg.lr,
                             batch_size=cfg.batch_size, seed=seed, prox_mu=mu)  # fmt: skip

    delta = train(data, cfg.data_seed * 1_000_003 + r)
    if cfg.attack:
        delta = crafted_delta(
            cfg.attack, delta, data, train, rule, cfg.norm_bound, r, None, pool=pool
        )
    return delta

"""Plain FedAvg under the demo's attack, simulated in this process, for the comparison plot.

The demo's own accuracy curve comes from the real decentralized run with the chosen
robust rule. Running the whole system a second time with FedAvg would double the demo,
so the FedAvg curve is a simulation: the nodes' own configs (task, partitions, seeds,
epochs, learning rate, attackers) through the same functions the round uses (local
training, the attackers' update behaviours, norm verification, the round step), without
network or chain. The plot and report label it as simulated.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from node.aggregate.registry import Rule, build_rule
from node.aggregate.step import Contribution, round_step, within_norm
from node.attacks.simulation import SimulationConfig, behaviour_for
from node.behaviour import UpdateBehaviour
from node.config import NodeConfig
from node.learning.local import accuracy_of, compute_delta, genesis_params
from node.learning.partition import SPLIT_SEED, partition_by_spec, train_test_split
from node.learning.spec import TrainingSpec
from node.learning.tasks import Dataset, Task, get_task
from node.learning.train import local_steps
from node.update.fixedpoint import FixedParams

Progress = Callable[[int], None]


def simulate_rule(
    nodes: Sequence[tuple[NodeConfig, SimulationConfig]],
    rounds: int,
    rule_spec: str,
    progress: Progress | None = None,
    training: TrainingSpec | None = None,
) -> list[float]:
    """Test accuracy after each of ``rounds`` rounds when the ``nodes`` (config, simulation
    settings) aggregate with ``rule_spec`` (every node verifies and aggregates the same set,
    so one model suffices), training as the deployment's ``training`` says (FedProx,
    FedNova; default plain SGD). Each round is the node's round step (round_step)."""
    training = training or TrainingSpec()
    first = nodes[0][0]
    task = get_task(first.task)
    train, test = train_test_split(task.load_all(), SPLIT_SEED)
    rule = build_rule(rule_spec, sum(1 for _, sim in nodes if sim.attack))
    behaviours = [behaviour_for(sim, cfg) for cfg, sim in nodes]
    local = [
        b.training_data(
            train,
            partition_by_spec(
                train, c.partition, c.partition_index, c.partition_count, c.partition_seed
            ),
        )
        for (c, _), b in zip(nodes, behaviours, strict=True)
    ]
    base = genesis_params(task)
    accuracies = []
    for r in range(1, rounds + 1):
        candidates: list[Contribution] = []
        for (cfg, _), behaviour, data in zip(nodes, behaviours, local, strict=True):
            if not behaviour.serves:
                continue  # withheld: never reaches the other nodes
            delta = _update(cfg, behaviour, task, base, data, r, rule, training)
            steps = local_steps(len(data), epochs=cfg.epochs, batch_size=cfg.batch_size)
            candidates.append(Contribution(str(cfg.partition_index), delta, len(data), steps))
        # rejected by verification, as in the real round
        accepted, invalid = within_norm(candidates, first.norm_bound)
        step = round_step(
            rule,
            base,
            accepted,
            cap=first.max_examples,
            invalid=invalid,
            algorithm=training.algorithm,
        )
        base = step.model
        accuracies.append(accuracy_of(task, base, test))
        if progress is not None:
            progress(r)
    return accuracies


def _update(
    cfg: NodeConfig,
    behaviour: UpdateBehaviour,
    task: Task,
    base: FixedParams,
    data: Dataset,
    r: int,
    rule: Rule,
    training: TrainingSpec,
) -> FixedParams:
    mu = training.prox_mu if training.algorithm == "fedprox" else 0.0

    def train(part: Dataset, seed: int) -> FixedParams:
        return compute_delta(task, base, part, epochs=cfg.epochs, lr=cfg.lr,
                             batch_size=cfg.batch_size, seed=seed, prox_mu=mu)  # fmt: skip

    delta = train(data, cfg.data_seed * 1_000_003 + r)
    if behaviour.crafts:
        delta = behaviour.craft(delta, train, rule, cfg.norm_bound, r)
    return delta

"""bench/vs_flower.py, without Flower: the parity of what both sides train on.

flwr lives in its own venv (`make bench-flower-env`: ~2 min of CPU to install, so not in
`make test`), and a Flower round takes tens of seconds here; this test therefore covers the
Flower side's driver up to flwr itself, in fedchain's venv: the partitions and test set
handed to the SuperNodes are the ones fedchain nodes cut, the genesis weights the
ServerApp starts from hash to the fedchain deployment's genesis model, one round of the
ClientApp's training (bench/_flower/logic.py) gives the same fixed-point model as a
fedchain node's ``compute_delta``, and the Flower app declares what the runner sets.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench._flower.data import load_genesis, load_xy, partition_file, write_inputs  # noqa: E402
from bench._flower.logic import accuracy_on_test, local_round, train_seed  # noqa: E402
from bench._flower.model import parameter_count  # noqa: E402
from bench._flower.task import TASK_SPEC  # noqa: E402
from bench.vs_flower import BATCH, EPOCHS, LR, NODES, compare, recorded_cycles  # noqa: E402
from node.config import NodeConfig  # noqa: E402
from node.learning.fixedpoint import to_fixed  # noqa: E402
from node.learning.local import compute_delta, genesis_params  # noqa: E402
from node.learning.partition import SPLIT_SEED, partition_by_spec, train_test_split  # noqa: E402
from node.learning.tasks import Dataset, get_task  # noqa: E402
from node.store.cid import compute_cid  # noqa: E402
from node.update.codec import encode_model  # noqa: E402

pytestmark = pytest.mark.integration
APP = ROOT / "bench" / "_flower" / "app"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("vs-flower")
    write_inputs(out, TASK_SPEC, NODES)
    return out


def test_flower_gets_the_partitions_and_test_set_fedchain_nodes_use(data_dir: Path) -> None:
    cfg = NodeConfig.__dataclass_fields__
    train, test = train_test_split(get_task(TASK_SPEC).load_all(), SPLIT_SEED)
    seen: set[int] = set()
    for i in range(NODES):
        x, y = load_xy(partition_file(data_dir, i))
        node = partition_by_spec(
            train, cfg["partition"].default, i, NODES, cfg["partition_seed"].default
        )
        assert np.array_equal(x, node.features) and np.array_equal(y, node.labels)
        seen.update(map(hash, (row.tobytes() for row in x)))
    assert len(seen) == len(train)  # disjoint, and together the whole training split
    x, y = load_xy(data_dir / "test.npz")
    assert np.array_equal(x, test.features) and np.array_equal(y, test.labels)


def test_flower_starts_from_the_deployments_genesis_model(data_dir: Path) -> None:
    import torch

    task = get_task(TASK_SPEC)
    genesis = load_genesis(data_dir)
    fixed = to_fixed({k: torch.from_numpy(v) for k, v in genesis.items()})
    assert compute_cid(encode_model(fixed)) == compute_cid(encode_model(genesis_params(task)))
    assert sum(v.size for v in genesis.values()) == parameter_count() == 44_426


def test_a_flower_client_round_equals_a_fedchain_nodes_training(data_dir: Path) -> None:
    import torch

    task = get_task(TASK_SPEC)
    base = genesis_params(task)
    index, server_round = 1, 1
    trained, examples = local_round(
        load_genesis(data_dir),
        data_dir,
        index,
        server_round,
        epochs=EPOCHS,
        lr=LR,
        batch_size=BATCH,
    )
    x, y = load_xy(partition_file(data_dir, index))
    assert examples == len(y)

    delta = compute_delta(
        task,
        base,
        Dataset(x, y),
        epochs=EPOCHS,
        lr=LR,
        batch_size=BATCH,
        seed=train_seed(index, server_round),  # a fedchain node's: data_seed * 1_000_003 + r
    )
    flower = to_fixed({k: torch.from_numpy(v) for k, v in trained.items()})
    for name in base:
        assert np.array_equal(flower[name], base[name].astype(np.int64) + delta[name]), name
    assert accuracy_on_test(trained, data_dir) > 0.1  # one local epoch beats chance


def test_the_flower_app_declares_what_the_runner_sets() -> None:
    app = tomllib.loads((APP / "pyproject.toml").read_text())["tool"]["flwr"]["app"]
    for ref in app["components"].values():
        module = ref.split(":")[0].replace(".", "/")
        assert (APP / f"{module}.py").exists(), ref
    keys = {"data-dir", "num-server-rounds", "local-epochs", "lr", "batch-size", "min-nodes"}
    assert keys <= set(app["config"])


def test_compare_gives_the_ratio_and_the_accuracy_gap() -> None:
    fedchain = {"s_per_round": 4.0, "accuracy_per_round": [0.5, 0.8]}
    flower = {"s_per_round": 40.0, "accuracy_per_round": [0.52, 0.79]}
    out = compare(fedchain, flower)
    assert out == {"ratio_fedchain_over_flower": 0.1, "max_accuracy_gap": 0.02}
    timed = compare({**fedchain, "s_per_round_recorded": 2.0}, flower)
    assert timed["ratio_recorded_over_flower"] == 0.05


def test_round_times_from_the_records_are_the_last_nodes_instants() -> None:
    def node(*at: float) -> dict[int, dict[str, float]]:
        return {r: {"recorded_at": t} for r, t in enumerate(at, start=1)}

    # round 2 is done when node b records it (13.0), round 3 when node a does (14.5);
    # round 1 (start-up) only anchors round 2
    assert recorded_cycles([node(10.0, 12.0, 14.5), node(10.5, 13.0, 14.0)]) == [2.5, 1.5]
    older = node(10.0, 12.0, 14.0)
    del older[3]["recorded_at"]  # a node that does not stamp its records: round 3 left out
    assert recorded_cycles([older, node(10.0, 12.0, 14.0)]) == [2.0]

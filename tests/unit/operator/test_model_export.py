"""Model export: the real codec's blob -> pt / safetensors / onnx, reloaded outside fedchain."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from node.cli import app
from node.errors import ConfigError, ContentError, FedchainError
from node.learning.fixedpoint import to_fixed
from node.learning.local import model_from_params
from node.learning.tasks import build_genesis_model, get_task
from node.operator.model import ModelRef, Sources, check_cid, fetch_verified, parse_peer
from node.operator.model_export import export_model, input_width, pick_format
from node.store.blobs import put_blob
from node.store.blockstore import BlockStore
from node.store.cid import compute_cid
from node.update.codec import decode_model, encode_model

COORDINATOR = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
PEER_ID = "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def model_blob(task_id: str, seed: int = 3) -> bytes:
    """A model as the node encodes one (genesis weights of another seed, fixed point)."""
    return encode_model(to_fixed(build_genesis_model(get_task(task_id), seed).state_dict()))


def ref_of(task_id: str, blob: bytes) -> ModelRef:
    return ModelRef(7, compute_cid(blob), task_id, 31337, COORDINATOR)


def node_module(task_id: str, blob: bytes) -> torch.nn.Module:
    """The module the node evaluates for this blob (``accuracy_of``)."""
    return model_from_params(get_task(task_id), decode_model(blob)).eval()


def features(task_id: str, rows: int = 16) -> torch.Tensor:
    width = {"digits-mlp": 64, "mnist5k-mlp": 784, "mnist5k-cnn": 784}[task_id]
    return torch.from_numpy(np.random.default_rng(1).random((rows, width), dtype=np.float32))


@pytest.mark.parametrize("task_id", ["digits-mlp", "mnist5k-cnn"])
def test_pt_loads_in_plain_torch_with_the_same_outputs(tmp_path: Path, task_id: str) -> None:
    blob = model_blob(task_id)
    ref = ref_of(task_id, blob)
    out = tmp_path / "model.pt"
    assert export_model(ref, blob, "pt", out) == out.stat().st_size

    checkpoint = torch.load(out, weights_only=True)
    fresh = get_task(task_id).build_model()
    fresh.load_state_dict(checkpoint["state_dict"])
    fresh.eval()
    x = features(task_id)
    with torch.no_grad():
        assert torch.equal(fresh(x), node_module(task_id, blob)(x))
    assert checkpoint["metadata"] == {
        "fedchain.task_id": task_id,
        "fedchain.round": "7",
        "fedchain.cid": ref.cid,
        "fedchain.chain_id": "31337",
        "fedchain.coordinator": COORDINATOR,
    }
    assert not list(tmp_path.glob(".*.tmp"))


def test_safetensors_loads_with_metadata_in_the_header(tmp_path: Path) -> None:
    from safetensors import safe_open
    from safetensors.torch import load_file

    blob = model_blob("digits-mlp")
    ref = ref_of("digits-mlp", blob)
    out = tmp_path / "model.safetensors"
    export_model(ref, blob, "safetensors", out)

    fresh = get_task("digits-mlp").build_model()
    fresh.load_state_dict(load_file(out))
    x = features("digits-mlp")
    with torch.no_grad():
        assert torch.equal(fresh.eval()(x), node_module("digits-mlp", blob)(x))
    with safe_open(out, framework="pt") as handle:
        assert handle.metadata() == ref.metadata()


@pytest.mark.parametrize("task_id", ["digits-mlp", "mnist5k-cnn"])
def test_onnx_runs_in_onnxruntime_like_the_module(tmp_path: Path, task_id: str) -> None:
    import onnx
    import onnxruntime

    blob = model_blob(task_id)
    ref = ref_of(task_id, blob)
    out = tmp_path / "model.onnx"
    export_model(ref, blob, "onnx", out)

    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["features"]
    for rows in (1, 5, 300):  # the batch dimension is dynamic
        x = features(task_id, rows)
        (got,) = session.run(["logits"], {"features": x.numpy()})
        with torch.no_grad():
            expected = node_module(task_id, blob)(x).numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
        assert (got.argmax(1) == expected.argmax(1)).all()
    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert props == ref.metadata()
    assert session.get_modelmeta().custom_metadata_map == ref.metadata()
    assert list(tmp_path.iterdir()) == [out]  # weights inside, no external data file


def test_onnx_without_the_export_extra_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # as if not installed
    blob = model_blob("digits-mlp")
    with pytest.raises(ConfigError, match=r"needs onnxscript: pip install 'fedchain\[export\]'"):
        export_model(ref_of("digits-mlp", blob), blob, "onnx", tmp_path / "m.onnx")
    assert not list(tmp_path.iterdir())


def test_input_width_from_the_first_layer() -> None:
    for task_id, width in (("digits-mlp", 64), ("mnist5k-mlp", 784), ("mnist5k-cnn", 784)):
        assert input_width(task_id, get_task(task_id).build_model()) == width


def test_multi_block_blob_from_a_node_store_is_checked_and_exported(tmp_path: Path) -> None:
    blob = model_blob("mnist5k-mlp")  # ~400 kB: a dag-pb root over two raw leaves
    node_dir = tmp_path / "node"
    cid, blocks = put_blob(BlockStore(node_dir / "blocks"), blob)
    assert len(blocks) == 3 and cid == compute_cid(blob)

    data, source = fetch_verified(cid, Sources(node_dir=node_dir))
    assert data == blob and str(node_dir) in source
    out = tmp_path / "m.pt"
    export_model(ref_of("mnist5k-mlp", data), data, "pt", out)
    assert torch.load(out, weights_only=True)["metadata"]["fedchain.cid"] == cid


def test_tampered_bytes_are_refused(tmp_path: Path) -> None:
    blob = model_blob("digits-mlp")
    cid = compute_cid(blob)
    tampered = bytearray(blob)
    tampered[-1] ^= 1
    with pytest.raises(ContentError, match=f"is not {cid}"):
        check_cid(cid, bytes(tampered), "a peer")
    assert check_cid(cid, blob, "a peer") == blob


def test_a_tampered_block_on_disk_is_not_served(tmp_path: Path) -> None:
    blob = model_blob("digits-mlp")
    node_dir = tmp_path / "node"
    cid, _ = put_blob(BlockStore(node_dir / "blocks"), blob)
    (path,) = [p for p in (node_dir / "blocks").rglob("*") if p.is_file()]
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(FedchainError, match="block store of .*: not there"):
        fetch_verified(cid, Sources(node_dir=node_dir))


def test_blob_of_another_task_or_format_is_refused(tmp_path: Path) -> None:
    blob = model_blob("digits-mlp")
    with pytest.raises(ContentError, match="does not fit task 'mnist5k-mlp'"):
        export_model(ref_of("mnist5k-mlp", blob), blob, "pt", tmp_path / "m.pt")
    with pytest.raises(ContentError, match="not a fedchain model"):
        export_model(ref_of("digits-mlp", b"junk"), b"junk", "pt", tmp_path / "m.pt")
    assert not list(tmp_path.iterdir())


def test_unreachable_kubo_api_is_reported(tmp_path: Path) -> None:
    cid = compute_cid(model_blob("digits-mlp"))
    sources = Sources(ipfs_api=f"/ip4/127.0.0.1/tcp/{free_port()}", timeout=2)
    with pytest.raises(FedchainError, match=f"cannot fetch {cid}: the Kubo API at"):
        fetch_verified(cid, sources)


def test_each_source_that_failed_is_named(tmp_path: Path) -> None:
    blob = model_blob("digits-mlp")
    cid = compute_cid(blob)
    node_dir = tmp_path / "node"
    put_blob(BlockStore(node_dir / "blocks"), b"another blob")
    dead = parse_peer(f"/ip4/127.0.0.1/tcp/{free_port()}/p2p/{PEER_ID}")
    sources = Sources(node_dir=node_dir, peers=lambda: [dead], timeout=2)
    with pytest.raises(FedchainError) as caught:
        fetch_verified(cid, sources)
    assert str(caught.value).startswith(
        f"cannot fetch {cid}: the block store of {node_dir}: not there; "
        "peers over libp2p: none of the 1 peer(s) could be reached (last: cannot connect to"
    )


def test_format_and_peer_arguments() -> None:
    assert pick_format(None, Path("a/model.safetensors")) == "safetensors"
    assert pick_format("onnx", Path("model.bin")) == "onnx"
    with pytest.raises(ConfigError, match="--format"):
        pick_format(None, Path("model.bin"))
    with pytest.raises(ConfigError, match="unknown format"):
        pick_format("tflite", Path("model.pt"))
    peer = parse_peer("/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWabc")
    assert (peer.peer_id, peer.addrs) == ("12D3KooWabc", ["/ip4/127.0.0.1/tcp/4001"])
    with pytest.raises(ConfigError, match="/p2p/PEER_ID"):
        parse_peer("/ip4/127.0.0.1/tcp/4001")
    with pytest.raises(ConfigError, match="nowhere to fetch"):
        fetch_verified(compute_cid(b"x"), Sources())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["export", "--out", "m.pt"], "error: give exactly one of --round N, --latest or --final"),
        (["export", "--out", "m.pt", "--round", "1", "--latest"], "exactly one of"),
        (["export", "--out", "m.pt", "--latest", "--final"], "exactly one of"),
        (["export", "--out", "m.bin", "--latest"], "error: cannot tell the format"),
        (["get", "bafyX", "--out", "m.bin"], "error: invalid CID"),
    ],
)
def test_cli_bad_input_is_one_error_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["model", *args])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines


class _RunningChain:
    """A chain whose stop rule has not fired (``resolve_final_model`` reads only this)."""

    def deployment_end(self) -> None:
        return None


def test_export_final_before_the_end_says_the_rule_has_not_fired() -> None:
    from node.operator.model import resolve_final_model

    with pytest.raises(ConfigError, match="the deployment has not finished: the chain's stop rule"):
        resolve_final_model(_RunningChain())  # type: ignore[arg-type]

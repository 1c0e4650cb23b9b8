"""``/blobs/{cid}`` and ``/rounds/{n}/model``: served only when the bytes hash to the CID,
the model exported by the model-export path."""

from __future__ import annotations

from pathlib import Path

from safetensors.torch import load
from starlette.testclient import TestClient

from node.explorer import db as xdb
from node.explorer.app import Settings, create_app
from node.learning.fixedpoint import to_fixed
from node.learning.tasks import build_genesis_model, get_task
from node.store.cid import compute_cid
from node.update.codec import decode_model, encode_model
from tests.unit.explorer import index_fixture as fx


def test_model_and_blob_downloads_are_checked_against_their_cid(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite"
    fx.build(path)
    blob = encode_model(to_fixed(build_genesis_model(get_task("digits-mlp"), 3).state_dict()))
    cid = compute_cid(blob)
    db = xdb.connect(path)
    db.execute("UPDATE x_rounds SET model_cid = ? WHERE round = 2", (cid,))
    db.close()
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    (blobs / cid).write_bytes(blob)
    app = create_app(Settings(path, "d.json", "http://127.0.0.1:9", blob_dir=blobs))
    with TestClient(app) as client:
        got = client.get(f"/blobs/{cid}")
        assert got.status_code == 200 and got.content == blob
        model = client.get("/rounds/2/model?format=safetensors")
        assert model.status_code == 200
        assert model.headers["x-content-cid"] == cid
        weights = load(model.content)
        decoded = decode_model(blob)
        assert set(weights) == set(decoded)
        (blobs / cid).write_bytes(blob[:-1] + bytes([blob[-1] ^ 1]))  # damaged on disk
        refused = client.get(f"/blobs/{cid}")
        assert refused.status_code == 404  # not served; no other source to fetch it from
        assert "not available" in refused.text
        assert not (blobs / cid).exists()

"""ABI and bytecode of the contracts, read from forge's build output."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from node.chain.errors import ArtifactMissing

CONTRACTS_DIR = Path(__file__).resolve().parents[2] / "contracts"
OUT_DIR = CONTRACTS_DIR / "out"


@dataclass(frozen=True)
class Artifact:
    """One compiled contract."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str  # 0x-prefixed creation code


@cache
def load_artifact(name: str, out_dir: Path = OUT_DIR) -> Artifact:
    """ABI + creation bytecode of contract ``name`` from ``out/<name>.sol/<name>.json``."""
    path = out_dir / f"{name}.sol" / f"{name}.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ArtifactMissing(
            f"no compiled {name} at {path}: run `forge build` in contracts/ (or `make setup`)"
        ) from None
    bytecode = data.get("bytecode", {}).get("object", "")
    if not bytecode or bytecode == "0x":
        raise ArtifactMissing(f"{path} has no bytecode: rebuild with `forge build`")
    if not bytecode.startswith("0x"):
        bytecode = "0x" + bytecode
    return Artifact(name=name, abi=list(data["abi"]), bytecode=bytecode)

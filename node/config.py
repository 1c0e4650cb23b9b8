"""Node settings as one frozen object: TOML file < environment (FEDCHAIN_*) < flags.

Every key is validated; errors name the key and where it came from.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from node.errors import ConfigError

ENV_PREFIX = "FEDCHAIN_"


@dataclass(frozen=True)
class NodeConfig:
    data_dir: Path
    deployment: Path
    key_file: Path
    rpc_url: str = ""  # empty: the deployment file's
    password_file: str = ""  # keystore password (else FEDCHAIN_KEYSTORE_PASSWORD, else prompt)
    listen_host: str = "127.0.0.1"
    listen_port: int = 0
    ipfs_api: str = ""  # e.g. /ip4/127.0.0.1/tcp/5001: also pin blobs to this Kubo daemon
    status_host: str = "127.0.0.1"
    status_port: int = 0  # local /status and /metrics endpoint; 0 picks a free port
    task: str = "mnist5k-mlp"
    partition_index: int = 0
    partition_count: int = 1
    partition: str = "iid"  # iid | dirichlet:<alpha> | shards:<per node>
    partition_seed: int = 0  # shared by all nodes of a local run, so partitions are disjoint
    data_seed: int = 0  # this node's own training shuffle
    epochs: int = 1
    lr: float = 0.05
    batch_size: int = 32
    stake: int = 100 * 10**18
    max_examples: int = 10_000
    rule: str = "fedavg"  # aggregation rule, e.g. nnm+trimmed_mean (see docs/aggregation.md)
    byzantine_f: int = 0  # Byzantine updates the rule must tolerate
    norm_bound: float = 20.0
    # differential privacy: stop publishing updates once epsilon would pass this (0: no budget)
    dp_epsilon_budget: float = 0.0
    fetch_timeout: float = 30.0
    # own updates up to this size ride their announcement (no fetch; at most 512 KiB, 0: never)
    push_max_bytes: int = 512 * 1024
    # registered peers kept connected (the best-ranked reachable ones, node/p2p/overlay.py);
    # the others are dialled on demand
    overlay_degree: int = 8
    # new blocks (eth_subscribe over the RPC endpoint's WebSocket, else polled) wake the
    # round's waits; false: they poll the chain every poll_interval instead
    chain_watch: bool = True
    poll_interval: float = 0.5
    auto_claim: bool = True
    max_rounds: int = 0  # 0: run until stopped
    linger: bool = False  # after max_rounds keep serving blobs (no new rounds) until stopped
    bootstrap: tuple[str, ...] = field(default_factory=tuple)
    log_json: bool = False
    log_level: str = "INFO"  # of the node's own loggers: DEBUG, INFO, WARNING or ERROR

    def __post_init__(self) -> None:
        checks = [
            (self.listen_port >= 0, "listen_port", "must be >= 0"),
            (self.status_port >= 0, "status_port", "must be >= 0"),
            (self.partition_count >= 1, "partition_count", "must be >= 1"),
            (
                0 <= self.partition_index < self.partition_count,
                "partition_index",
                f"must be in [0, {self.partition_count})",
            ),
            (self.epochs >= 1, "epochs", "must be >= 1"),
            (self.lr > 0, "lr", "must be > 0"),
            (self.batch_size >= 1, "batch_size", "must be >= 1"),
            (self.stake > 0, "stake", "must be > 0"),
            (self.norm_bound > 0, "norm_bound", "must be > 0"),
            (self.dp_epsilon_budget >= 0, "dp_epsilon_budget", "must be >= 0"),
            (self.fetch_timeout > 0, "fetch_timeout", "must be > 0"),
            (0 <= self.push_max_bytes <= 512 * 1024, "push_max_bytes", "must be 0 to 524288"),
            (self.overlay_degree >= 1, "overlay_degree", "must be >= 1"),
            (
                self.log_level in ("DEBUG", "INFO", "WARNING", "ERROR"),
                "log_level",
                "must be DEBUG, INFO, WARNING or ERROR",
            ),
            (self.poll_interval > 0, "poll_interval", "must be > 0"),
            (self.max_rounds >= 0, "max_rounds", "must be >= 0"),
            (self.byzantine_f >= 0, "byzantine_f", "must be >= 0"),
        ]
        for ok, key, message in checks:
            if not ok:
                raise ConfigError(f"config key {key!r} {message}")


_FIELDS = {f.name: f for f in fields(NodeConfig)}
_REQUIRED = {
    f.name
    for f in fields(NodeConfig)
    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
}


def _coerce(key: str, value: Any, source: str) -> Any:
    kind = _FIELDS[key].type
    try:
        if kind == "Path":
            return Path(str(value)).expanduser()
        if kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off"}:
                return False
            raise ValueError("expected true or false")
        if kind == "int":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError("expected an integer")
            return int(value)
        if kind == "float":
            return float(value)
        if kind.startswith("tuple"):
            items = value.split(",") if isinstance(value, str) else list(value)
            texts = [str(v).strip() for v in items if str(v).strip()]
            return tuple(int(t) for t in texts) if kind.startswith("tuple[int") else tuple(texts)
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"config key {key!r} from {source}: bad value {value!r} ({exc})"
        ) from None


def _from_mapping(raw: Mapping[str, Any], source: str) -> dict[str, Any]:
    out = {}
    for key, value in raw.items():
        if key not in _FIELDS:
            known = ", ".join(sorted(_FIELDS))
            raise ConfigError(f"unknown config key {key!r} in {source} (known: {known})")
        if value is not None:
            out[key] = _coerce(key, value, source)
    return out


def read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file {path} not found: create one with `fedchain node init`")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    # [simulation] (attacks) is read by node/attacks/simulation.py only
    node_table = data.get("node", {k: v for k, v in data.items() if k != "simulation"})
    table = _from_mapping(node_table, str(path))
    # paths in a config file are relative to the file, not to where the node was started
    return {k: (path.parent / v).resolve() if isinstance(v, Path) else v for k, v in table.items()}


def read_env(environ: Mapping[str, str]) -> dict[str, Any]:
    raw = {k[len(ENV_PREFIX) :].lower(): v for k, v in environ.items() if k.startswith(ENV_PREFIX)}
    return _from_mapping({k: v for k, v in raw.items() if k in _FIELDS}, "environment")


def load_config(
    path: Path | None,
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> NodeConfig:
    """Merge file < env < flags into one validated ``NodeConfig``."""
    merged: dict[str, Any] = {}
    if path is not None:
        merged.update(read_toml(path))
    merged.update(read_env(os.environ if environ is None else environ))
    merged.update(_from_mapping(dict(flags or {}), "command line"))
    missing = sorted(_REQUIRED - set(merged))
    if missing:
        raise ConfigError(f"missing config key(s): {', '.join(missing)}")
    return NodeConfig(**merged)

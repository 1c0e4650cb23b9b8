"""The demo's options, checked before anything starts (no torch, no chain)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from node.errors import ConfigError

MARKER = ".fedchain-demo"  # in DATA/demo: the demo created it and may wipe it
SHRINKING_KINDS = ("invalid", "protocol")  # attacks whose updates never reach the rule
FALLBACK_RULES = ("nnm+trimmed_mean", "trimmed_mean", "median", "krum", "bulyan")
# Each node is its own process of ~350 MB (torch): 256 of them already need ~90 GB.
MAX_NODES = 256


@dataclass(frozen=True)
class DemoOptions:
    """Knobs of one demo run; everything has a default that finishes in about a minute."""

    nodes: int = 4
    rounds: int = 5
    task: str = "mnist5k-mlp"
    out: Path = Path("out/demo")
    data_root: Path = Path(".data")  # devnet/ and demo/ (one directory per node) below it
    stop_devnet: bool = False
    port: int = 8545
    epochs: int = 2
    commit_window: int = 120
    vote_window: int = 60
    timeout_per_round: float = 240.0
    byzantine: int = 0  # the last N nodes attack
    attack: str = "sign_flip"  # or a comma list, dealt to the Byzantine nodes in turn
    rule: str = "fedavg"
    alpha: float = 0.0  # Dirichlet label skew; 0 means IID partitions
    collude: bool = True  # attackers running the same attack act as one operator
    committee_size: int = 0  # K drawn per round by stake; 0 (or >= nodes): every node
    explorer: bool = False  # run `fedchain explorer` on the demo's chain next to the table
    explorer_port: int = 8600
    algorithm: str = "fedavg"  # local training: fedavg, fedprox, fednova
    prox_mu: float | None = None  # FedProx's mu (None: the deploy default)
    dp: str = "off"  # differential privacy: off, local, distributed (docs/privacy.md)
    dp_clip: float | None = None  # None: the deploy default
    dp_noise: float | None = None
    update_codec: str = "fxp32-q16"  # how updates travel (node/update/names.py)
    staleness: int | None = None  # overlapped rounds (node/staleness.py); None: deploy default
    target_accuracy: float = 0.0  # the chain's stop rule (0: off); --rounds is its round cap
    patience: int = 0
    chain_round_cap: bool = True  # the stop rule's maxRounds = --rounds (else no cap on chain)

    @property
    def sampled(self) -> bool:
        """Whether rounds draw a committee smaller than the network."""
        return 0 < self.committee_size < self.nodes

    def role(self, index: int) -> str:
        return "byzantine" if index >= self.nodes - self.byzantine else "honest"

    def attack_of(self, index: int) -> str:
        """The attack node ``index`` runs ("" for honest nodes)."""
        if self.role(index) == "honest":
            return ""
        attacks = [a.strip() for a in self.attack.split(",") if a.strip()]
        if not attacks:
            raise ConfigError("--attack needs at least one attack name")
        return attacks[(index - (self.nodes - self.byzantine)) % len(attacks)]

    def attack_group(self, index: int) -> tuple[int, ...]:
        """Partitions of the nodes colluding with ``index`` (itself included): the
        Byzantine nodes running the same attack, when ``collude`` is on."""
        attack = self.attack_of(index)
        if not attack or not self.collude:
            return ()
        return tuple(i for i in range(self.nodes) if self.attack_of(i) == attack)

    @property
    def devnet_dir(self) -> Path:
        """The demo's own chain, never the one `fedchain devnet up` keeps in DATA/devnet."""
        return (self.data_root / "demo" / "devnet").resolve()

    @property
    def nodes_dir(self) -> Path:
        return (self.data_root / "demo").resolve()


def updates_per_round(opts: DemoOptions) -> int:
    """Updates the rule aggregates each round (at least: a committee may draw every
    attacker): attackers whose updates fail verification (or are withheld) drop out of it."""
    from node.attacks import get_attack

    dropped = 0
    for index in range(opts.nodes):
        attack = opts.attack_of(index)
        if attack and get_attack(attack).kind in SHRINKING_KINDS:
            dropped += 1
    members = opts.committee_size if opts.sampled else opts.nodes
    return members - min(dropped, members)


def check_rule(opts: DemoOptions, n: int) -> None:
    """The rule can aggregate ``n`` updates with f = --byzantine; else the fix."""
    from node.aggregate.registry import FINAL, STEPS, build_rule

    f = opts.byzantine
    rule = build_rule(opts.rule, f)
    if n >= rule.min_inputs:
        return
    part_name = next(
        p for p in (*rule.steps, rule.final) if (STEPS.get(p) or FINAL[p]).min_n(f) > n
    )
    part = STEPS.get(part_name) or FINAL[part_name]
    fitting = [r for r in FALLBACK_RULES if r != rule.spec and build_rule(r, f).min_inputs <= n]
    others = f", or --rule {fitting[0]}" if fitting else ""
    members = opts.committee_size if opts.sampled else opts.nodes
    dropped = members - n
    counted = f" ({dropped} attackers' updates are rejected)" if dropped else ""
    if opts.sampled:
        raise ConfigError(
            f"rule {rule.spec!r} needs n >= {part.needs} = {part.min_n(f)} updates per round "
            f"({part_name!r} with f = {f}), but a committee of --committee-size "
            f"{opts.committee_size} with --byzantine {f} may give n = {n}{counted}: use "
            f"--committee-size {opts.committee_size + rule.min_inputs - n} or more (0: every "
            f"node), fewer --byzantine{others}"
        )
    raise ConfigError(
        f"rule {rule.spec!r} needs n >= {part.needs} = {part.min_n(f)} updates per round "
        f"({part_name!r} with f = {f}), but --nodes {opts.nodes} --byzantine {f} gives "
        f"n = {n}{counted}: use --nodes {opts.nodes + rule.min_inputs - n} or more, "
        f"fewer --byzantine{others}"
    )


def check_options(opts: DemoOptions) -> None:
    """Everything about the options that can be wrong, before anything starts."""
    from node.chain.deploy import MAX_COMMITTEE
    from node.learning.tasks import get_task
    from node.stoprule import accuracy_to_bps

    try:
        accuracy_to_bps(opts.target_accuracy)
    except ValueError as exc:
        raise ConfigError(f"--target-accuracy: {exc}") from None
    if opts.patience < 0:
        raise ConfigError(f"--patience must be >= 0, got {opts.patience}")

    if opts.nodes < 2:
        raise ConfigError(f"--nodes must be at least 2, got {opts.nodes}")
    if opts.nodes > MAX_NODES:
        raise ConfigError(
            f"--nodes must be at most {MAX_NODES} (each node is a process of ~350 MB), "
            f"got {opts.nodes}"
        )
    if not 0 <= opts.byzantine < opts.nodes:
        raise ConfigError(
            f"--byzantine must be in [0, {opts.nodes - 1}] for --nodes {opts.nodes} "
            "(at least one honest node)"
        )
    if opts.rounds < 1:
        raise ConfigError(f"--rounds must be at least 1, got {opts.rounds}")
    if not 0 <= opts.committee_size <= MAX_COMMITTEE:
        raise ConfigError(
            f"--committee-size must be in [0, {MAX_COMMITTEE}] (0: every node), "
            f"got {opts.committee_size}"
        )
    if opts.alpha < 0:
        raise ConfigError(f"--alpha must be >= 0, got {opts.alpha}")
    if opts.byzantine and not [a for a in opts.attack.split(",") if a.strip()]:
        raise ConfigError("--attack needs at least one attack name")
    get_task(opts.task)
    check_rule(opts, updates_per_round(opts))
    from node.operator.deploy import DeployRequest, training_spec

    training_spec(
        DeployRequest(
            algorithm=opts.algorithm,
            prox_mu=opts.prox_mu,
            dp=opts.dp,
            dp_clip=opts.dp_clip,
            dp_noise=opts.dp_noise,
            update_codec=opts.update_codec,
            staleness=opts.staleness,
        )
    )
    if opts.explorer and opts.explorer_port == opts.port:
        raise ConfigError(f"--explorer-port and --port are both {opts.port}: pick two")
    # the arguments are consistent: now what this machine holds (directories, ports)
    check_demo_dir(opts)
    check_port(opts.port, opts.devnet_dir)
    if opts.explorer:
        from node.demo.explorer import check_explorer_port

        check_explorer_port(opts.explorer_port, opts.nodes_dir)


def check_port(port: int, devnet_dir: Path) -> None:
    """The port is free, or held by the demo's own devnet (which the demo restarts)."""
    import socket

    from node.chain import devnet

    if devnet.status(devnet_dir).running:
        return
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise ConfigError(
                f"port {port} is in use (by a devnet from `fedchain devnet up`?): the demo "
                f"runs its own chain; pass --port {port + 1} or another free port"
            ) from None


def _made_by_demo(demo_dir: Path) -> bool:
    if (demo_dir / MARKER).is_file():
        return True
    config = demo_dir / "node0" / "config.toml"  # a demo run from before the marker
    return config.is_file() and "(written by `fedchain demo`)" in config.read_text()


def check_demo_dir(opts: DemoOptions) -> None:
    """DATA/demo is wiped at start: only if empty, missing, or the demo's own."""
    demo_dir = opts.nodes_dir
    if demo_dir.is_dir() and any(demo_dir.iterdir()) and not _made_by_demo(demo_dir):
        raise ConfigError(
            f"{demo_dir} exists and was not made by `fedchain demo`; the demo wipes that "
            "directory at start: pass another --data-dir"
        )


def mark_demo_dir(opts: DemoOptions) -> None:
    opts.nodes_dir.mkdir(parents=True, exist_ok=True)
    (opts.nodes_dir / MARKER).write_text("created by `fedchain demo`; wiped by the next run\n")

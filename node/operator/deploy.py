"""Deploy a task: validate the parameters people type, then token + coordinator on any chain.

Shared by `fedchain deploy` (any RPC URL, the deployer's keystore) and `fedchain devnet up`
(anvil's first account). Everything cheap is checked before anything slow: parameters
and the rule here, then the RPC endpoint and the key, and only then the task's genesis
model (torch), so a typo costs milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import Decimal, InvalidOperation
from pathlib import Path

from rich.console import Console

from node.chain.deploy import Deployment, DeployParams
from node.errors import ConfigError
from node.learning.spec import TrainingSpec
from node.operator.format import TOKEN, fed, in_words
from node.privacy.bound import dp_problems
from node.staleness import DEFAULT_STALENESS
from node.stoprule import accuracy_to_bps
from node.update.names import CODEC

BPS = 10_000
DEFAULT_TASK = "mnist5k-mlp"
DEFAULT_RULE = "fedavg"
DEFAULT_PROX_MU = 0.01  # FedProx without --prox-mu (docs/heterogeneity.md)
DEFAULT_DP_CLIP = 0.1  # --dp without --dp-clip (docs/privacy.md)
DEFAULT_DP_NOISE = 1.0  # --dp without --dp-noise


@dataclass(frozen=True)
class DeployRequest:
    """What the command line asked for; None: not given (the default applies, and
    `devnet up` does not compare it with an existing deployment)."""

    task: str | None = None
    min_participants: int | None = None
    commit_window: int | None = None
    vote_window: int | None = None
    contributor_pool: str | None = None  # FED per round
    voter_pool: str | None = None  # FED per round
    rule: str | None = None
    byzantine_f: int | None = None
    min_stake: str | None = None  # FED
    unstake_cooldown: int | None = None
    slash_percent: str | None = None
    treasury: str | None = None  # FED
    late_vote_grace: int | None = None  # seconds
    claim_period: int | None = None  # seconds
    inactivity_rounds: int | None = None
    inactivity_leak_percent: str | None = None
    supply: str | None = None  # FED
    committee_size: int | None = None  # K drawn per round; 0: everyone active
    algorithm: str | None = None  # local training: fedavg, fedprox, fednova
    prox_mu: float | None = None  # FedProx's proximal term
    dp: str | None = None  # differential privacy: off, local, distributed
    dp_clip: float | None = None  # L2 clip norm C of every update
    dp_noise: float | None = None  # noise multiplier z (std z * C)
    # the chain's stop rule (0: off): agreed validation accuracy (0.9 or 90), rounds without
    # a better one, finalized rounds
    target_accuracy: float | None = None
    patience: int | None = None
    max_rounds: int | None = None
    update_codec: str | None = None  # how updates travel: fxp32-q16 or topk-int8-p<P>
    staleness: int | None = None  # overlapped rounds: 1 trains on the previous round's base

    def given(self) -> list[str]:
        return [f.name for f in fields(self) if getattr(self, f.name) is not None]


@dataclass(frozen=True)
class DeployPlan:
    """A validated request: what gets deployed."""

    task: str
    params: DeployParams
    rule: str  # canonical spec, e.g. nnm+trimmed_mean
    byzantine_f: int
    training: TrainingSpec = TrainingSpec()


def _units(text: str, flag: str, *, allow_zero: bool) -> int:
    """FED as typed ("12.5") -> token units; ConfigError naming the flag."""
    try:
        value = Decimal(str(text))
    except InvalidOperation:
        raise ConfigError(f"{flag} {text!r} is not a number of FED") from None
    if not value.is_finite() or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"{flag} must be a number of FED {bound}, got {text}")
    units = value * TOKEN
    if units != units.to_integral_value():
        raise ConfigError(f"{flag} {text} has more than 18 decimals")
    return int(units)


def _pools(request: DeployRequest, defaults: DeployParams) -> tuple[int, int]:
    """(reward per round, voter share in bps) from the two pools. One pool given alone
    keeps the default split (the other pool scales with it)."""
    default_voter = defaults.reward_per_round * defaults.voter_share_bps // BPS
    default_contrib = defaults.reward_per_round - default_voter
    c_text, v_text = request.contributor_pool, request.voter_pool
    contrib = _units(c_text, "--contributor-pool", allow_zero=True) if c_text else None
    voter = _units(v_text, "--voter-pool", allow_zero=True) if v_text else None
    if contrib is None and voter is None:
        return defaults.reward_per_round, defaults.voter_share_bps
    if voter is None:
        voter = contrib * default_voter // default_contrib  # type: ignore[operator]
    if contrib is None:
        contrib = voter * default_contrib // default_voter
    total = contrib + voter
    if total == 0:
        return 0, 0
    if voter * BPS % total or voter * BPS // total > 5000:
        share = Decimal(voter * 100) / Decimal(total)
        raise ConfigError(
            f"--voter-pool {fed(voter)} is {share:.3f}% of the {fed(total)} round reward: "
            "the voter pool must be at most 50% of the round and a whole number of 0.01% "
            f"(e.g. --contributor-pool {fed(contrib)[:-4]} "
            f"--voter-pool {fed(contrib // 4)[:-4]} for 80/20)"
        )
    return total, voter * BPS // total


def plan_deployment(request: DeployRequest, defaults: DeployParams | None = None) -> DeployPlan:
    """Validate ``request`` (cheap: no chain, no torch); ConfigError with the fix.
    ``defaults``: the parameters for what the request leaves out."""
    from node.aggregate.registry import build_rule  # numpy only

    defaults = defaults or DeployParams()
    for flag, value in (
        ("--min-participants", request.min_participants),
        ("--commit-window", request.commit_window),
        ("--vote-window", request.vote_window),
        ("--unstake-cooldown", request.unstake_cooldown),
        ("--byzantine-f", request.byzantine_f),
        ("--late-vote-grace", request.late_vote_grace),
        ("--claim-period", request.claim_period),
        ("--inactivity-rounds", request.inactivity_rounds),
        ("--committee-size", request.committee_size),
        ("--patience", request.patience),
        ("--max-rounds", request.max_rounds),
    ):
        if value is not None and value < 0:
            raise ConfigError(f"{flag} must be >= 0, got {value}")
    reward, voter_bps = _pools(request, defaults)
    slash_bps = _bps(request.slash_percent, "--slash", defaults.slash_bps)
    leak_bps = _bps(
        request.inactivity_leak_percent, "--inactivity-leak", defaults.inactivity_leak_bps
    )
    params = DeployParams(
        min_stake=_units(request.min_stake, "--min-stake", allow_zero=False)
        if request.min_stake is not None
        else defaults.min_stake,
        commit_window=_pick(request.commit_window, defaults.commit_window),
        vote_window=_pick(request.vote_window, defaults.vote_window),
        reward_per_round=reward,
        voter_share_bps=voter_bps,
        slash_bps=slash_bps,
        min_participants=_pick(request.min_participants, defaults.min_participants),
        unstake_cooldown=_pick(request.unstake_cooldown, defaults.unstake_cooldown),
        late_vote_grace=_pick(request.late_vote_grace, defaults.late_vote_grace),
        claim_period=_pick(request.claim_period, defaults.claim_period),
        inactivity_rounds=_pick(request.inactivity_rounds, defaults.inactivity_rounds),
        inactivity_leak_bps=leak_bps,
        committee_size=_pick(request.committee_size, defaults.committee_size),
        target_metric_bps=_target_bps(request.target_accuracy, defaults.target_metric_bps),
        patience=_pick(request.patience, defaults.patience),
        max_rounds=_pick(request.max_rounds, defaults.max_rounds),
        treasury=_units(request.treasury, "--treasury", allow_zero=True)
        if request.treasury is not None
        else defaults.treasury,
        supply=_units(request.supply, "--supply", allow_zero=True)
        if request.supply is not None
        else defaults.supply,
    )
    problems = params.problems()
    if problems:
        raise ConfigError("; ".join(problems))
    f = _pick(request.byzantine_f, 0)
    rule = build_rule(request.rule or DEFAULT_RULE, f)
    if rule.min_inputs > params.min_participants:
        raise ConfigError(
            f"rule {rule.spec!r} with f = {f} needs at least {rule.min_inputs} updates per "
            f"round, but rounds may open with --min-participants {params.min_participants}: "
            f"give --min-participants {rule.min_inputs} or more, or a lower --byzantine-f"
        )
    if 0 < params.committee_size < rule.min_inputs:
        raise ConfigError(
            f"rule {rule.spec!r} with f = {f} needs at least {rule.min_inputs} updates per "
            f"round, but a committee of --committee-size {params.committee_size} commits at "
            f"most {params.committee_size}: give --committee-size {rule.min_inputs} or more "
            "(0: everyone), or a lower --byzantine-f"
        )
    return DeployPlan(request.task or DEFAULT_TASK, params, rule.spec, f, training_spec(request))


def training_spec(request: DeployRequest) -> TrainingSpec:
    """The deployment's training section from --algorithm / --prox-mu / --dp / --dp-clip /
    --dp-noise."""
    algorithm = request.algorithm or "fedavg"
    if request.prox_mu is not None and algorithm != "fedprox":
        raise ConfigError("--prox-mu applies to --algorithm fedprox only")
    mu = 0.0
    if algorithm == "fedprox":
        mu = DEFAULT_PROX_MU if request.prox_mu is None else request.prox_mu
        if mu <= 0:
            raise ConfigError(f"--prox-mu must be > 0 for FedProx, got {mu}")
    dp_mode = request.dp or "off"
    dp_given = request.dp_clip is not None or request.dp_noise is not None
    if dp_mode == "off" and dp_given:
        raise ConfigError("--dp-clip and --dp-noise apply with --dp local or --dp distributed")
    dp_on = dp_mode != "off"
    spec = TrainingSpec(
        update_codec=request.update_codec or CODEC,
        staleness=DEFAULT_STALENESS if request.staleness is None else request.staleness,
        algorithm=algorithm,
        prox_mu=mu,
        dp_mode=dp_mode,
        dp_clip_norm=(DEFAULT_DP_CLIP if request.dp_clip is None else request.dp_clip)
        if dp_on
        else 0.0,
        dp_noise_multiplier=(DEFAULT_DP_NOISE if request.dp_noise is None else request.dp_noise)
        if dp_on
        else 0.0,
    )
    problems = spec.problems() + dp_problems(spec)
    if problems:
        raise ConfigError(
            "; ".join(
                p.replace("training.dp_mode", "--dp")
                .replace("training.dp_clip_norm", "--dp-clip")
                .replace("training.dp_noise_multiplier", "--dp-noise")
                .replace("training.update_codec:", "--update-codec:")
                .replace("training.", "--")
                .replace("_", "-")
                for p in problems
            )
        )
    return spec


def _pick(value: int | None, default: int) -> int:
    return default if value is None else value


def _target_bps(accuracy: float | None, default: int) -> int:
    if accuracy is None:
        return default
    try:
        return accuracy_to_bps(accuracy)
    except ValueError as exc:
        raise ConfigError(f"--target-accuracy: {exc} (e.g. 0.9 or 90; 0: off)") from None


def _bps(percent: str | None, flag: str, default: int) -> int:
    """A percentage as typed ("1.5") -> basis points; ConfigError naming the flag."""
    if percent is None:
        return default
    try:
        bps = Decimal(percent) * 100
    except InvalidOperation:
        raise ConfigError(f"{flag} {percent!r} is not a percentage") from None
    if not bps.is_finite() or bps != bps.to_integral_value():
        raise ConfigError(f"{flag} must be a percentage with at most 2 decimals")
    return int(bps)


def check_task(spec: str) -> str:
    """Load the task (imports a custom task's module); returns its id (``Task.name``)."""
    from node.learning.tasks import get_task

    return get_task(spec).name


def genesis_cid(task_spec: str) -> str:
    """The CID of the task's genesis model (seed 0): imports torch, builds the model."""
    from node.learning.local import genesis_params
    from node.learning.tasks import get_task
    from node.store.cid import compute_cid
    from node.update.codec import encode_model

    return compute_cid(encode_model(genesis_params(get_task(task_spec))))


def deploy_plan(rpc_url: str, deployer_key: str, plan: DeployPlan, out: Path) -> Deployment:
    """Deploy ``plan`` with ``deployer_key`` and write the deployment file ``out``."""
    from node.chain.deploy import deploy

    task_id = check_task(plan.task)
    return deploy(
        rpc_url,
        deployer_key,
        genesis_cid(plan.task),
        task_id,
        plan.params,
        out,
        task=plan.task,
        rule=plan.rule,
        byzantine_f=plan.byzantine_f,
        training=plan.training,
    )


def _pool_units(params: DeployParams) -> tuple[int, int]:
    voter = params.reward_per_round * params.voter_share_bps // BPS
    return params.reward_per_round - voter, voter


def differences(existing: Deployment, request: DeployRequest) -> list[str]:
    """The values ``request`` gives explicitly that ``existing`` was deployed without."""
    plan = plan_deployment(request)
    have, want = existing.params, plan.params
    given = set(request.given())
    checks: list[tuple[set[str], str, object, object]] = [
        ({"task"}, "task", existing.task_spec, plan.task),
        ({"min_participants"}, "min participants", have.min_participants, want.min_participants),
        ({"commit_window"}, "commit window", have.commit_window, want.commit_window),
        ({"vote_window"}, "vote window", have.vote_window, want.vote_window),
        (
            {"contributor_pool", "voter_pool"},
            "pools (contributor, voter)",
            tuple(fed(u) for u in _pool_units(have)),
            tuple(fed(u) for u in _pool_units(want)),
        ),
        (
            {"rule", "byzantine_f"},
            "rule",
            _rule_text(existing),
            f"{plan.rule} (f={plan.byzantine_f})",
        ),
        ({"min_stake"}, "min stake", fed(have.min_stake), fed(want.min_stake)),
        ({"unstake_cooldown"}, "unstake cooldown", have.unstake_cooldown, want.unstake_cooldown),
        ({"slash_percent"}, "slash (bps)", have.slash_bps, want.slash_bps),
        ({"late_vote_grace"}, "late vote grace", have.late_vote_grace, want.late_vote_grace),
        ({"claim_period"}, "claim period", have.claim_period, want.claim_period),
        (
            {"inactivity_rounds"},
            "inactivity rounds",
            have.inactivity_rounds,
            want.inactivity_rounds,
        ),
        (
            {"inactivity_leak_percent"},
            "inactivity leak (bps)",
            have.inactivity_leak_bps,
            want.inactivity_leak_bps,
        ),
        ({"supply"}, "supply", fed(have.supply), fed(want.supply)),
        ({"committee_size"}, "committee size", have.committee_size, want.committee_size),
        (
            {"target_accuracy", "patience", "max_rounds"},
            "stop rule (target bps, patience, max rounds)",
            (have.target_metric_bps, have.patience, have.max_rounds),
            (want.target_metric_bps, want.patience, want.max_rounds),
        ),
        (
            {"algorithm", "prox_mu", "dp", "dp_clip", "dp_noise", "update_codec", "staleness"},
            "training",
            _training_text(existing.training),
            _training_text(plan.training),
        ),
    ]
    return [
        f"{name} {old} (asked {new})"
        for flags, name, old, new in checks
        if flags & given and old != new
    ]


def _rule_text(deployment: Deployment) -> str:
    if not deployment.rule:
        return "per-node config"
    return f"{deployment.rule} (f={deployment.byzantine_f})"


def _training_text(spec: TrainingSpec) -> str:
    text = f"fedprox (mu={spec.prox_mu:g})" if spec.algorithm == "fedprox" else spec.algorithm
    if spec.dp_mode != "off":
        text += (
            f", {spec.dp_mode} DP (clip {spec.dp_clip_norm:g}, noise multiplier "
            f"{spec.dp_noise_multiplier:g}, delta {spec.dp_delta:g})"
        )
    if spec.update_codec != CODEC:
        text += f", updates compressed ({spec.update_codec}, error feedback)"
    if spec.staleness:
        text += f", overlapped rounds (staleness {spec.staleness})"
    return text


def _committee_text(k: int) -> str:
    if not k:
        return "every active participant takes part in each round"
    return f"committees of {k} drawn by stake per round"


def print_deployment(deployment: Deployment, path: Path, console: Console) -> None:
    """The parameters every node of the deployment shares, for people."""
    p = deployment.params
    contrib, voter = _pool_units(p)
    console.print(
        f"task {deployment.task_spec} (id {deployment.task_id}), rule {_rule_text(deployment)}, "
        f"training {_training_text(deployment.training)}, "
        f"min participants {p.min_participants}, commit window {in_words(p.commit_window)}, "
        f"vote window {in_words(p.vote_window)}, pools per round {fed(contrib)} contributors "
        f"+ {fed(voter)} voters, min stake {fed(p.min_stake)}, late-vote grace "
        f"{in_words(p.late_vote_grace)}, claim period {in_words(p.claim_period)}, inactive "
        f"after {p.inactivity_rounds} missed rounds (leak {p.inactivity_leak_bps / 100:g}%), "
        f"{_committee_text(p.committee_size)}"
    )
    console.print(
        f"coordinator {deployment.coordinator}, token {deployment.token} "
        f"(chain {deployment.chain_id}); deployment file {path}"
    )


def deployer_key(
    keystore: Path | None, private_key_file: Path | None, password_file: Path | None
) -> str:
    """The deployer's private key from a keystore (password file, env or prompt) or,
    with a warning, a plaintext key file."""
    from node.keystore import resolve_password, unlock_keystore

    if keystore is not None and private_key_file is None:
        return unlock_keystore(keystore, resolve_password(password_file))
    if keystore is not None or private_key_file is None:
        raise ConfigError(
            "give the deployer's key as --keystore FILE (encrypted, `fedchain account new`) "
            "or --private-key-file FILE, not both"
        )
    if not private_key_file.is_file():
        raise ConfigError(f"key file {private_key_file} not found")
    key = private_key_file.read_text().strip()
    if not key.startswith("0x") or len(key) != 66:
        raise ConfigError(f"{private_key_file} must hold one 0x-prefixed 32-byte hex private key")
    return key


def _check_key_files(keystore: Path | None, private_key_file: Path | None) -> None:
    from node.keystore import keystore_address

    if keystore is not None:
        keystore_address(keystore)  # exists and is a keystore: before any prompt
    elif private_key_file is not None and not private_key_file.is_file():
        raise ConfigError(f"key file {private_key_file} not found")


def deploy_to(
    rpc_url: str,
    out: Path,
    request: DeployRequest,
    console: Console,
    *,
    keystore: Path | None = None,
    private_key_file: Path | None = None,
    password_file: Path | None = None,
    force: bool = False,
) -> Deployment:
    """`fedchain deploy`: parameters, task name, key file, RPC, password, then deploy."""
    from eth_account import Account

    from node.chain.devnet import rpc_call

    plan = plan_deployment(request)
    check_task(plan.task)
    if out.exists() and not force:
        raise ConfigError(f"{out} already exists: pass --force to overwrite it, or another --out")
    if not rpc_url.startswith(("http://", "https://")):
        raise ConfigError(f"--rpc-url must be an http(s):// JSON-RPC URL, got {rpc_url!r}")
    if (keystore is None) == (private_key_file is None):
        deployer_key(keystore, private_key_file, password_file)  # raises the usage error
    _check_key_files(keystore, private_key_file)
    chain_id = int(rpc_call(rpc_url, "eth_chainId"), 16)
    if private_key_file is not None:
        console.print(f"warning: signing with the plaintext key in {private_key_file}")
    key = deployer_key(keystore, private_key_file, password_file)
    address = Account.from_key(key).address
    if int(rpc_call(rpc_url, "eth_getBalance", [address, "latest"]), 16) == 0:
        raise ConfigError(f"deployer {address} has no ETH on chain {chain_id} to pay for gas")
    console.print(f"deploying task {plan.task} to chain {chain_id} from {address}")
    deployment = deploy_plan(rpc_url, key, plan, out)
    print_deployment(deployment, out, console)
    return deployment

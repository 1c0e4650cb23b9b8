"""`fedchain deploy`: token + coordinator for any task and parameters, on any chain.

The deployment options are shared with `fedchain devnet up` (node/cli/devnet.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from node.cli.app import app, console, expected_errors
from node.cli.keyopts import Keystore, PrivateKeyFile, SignPasswordFile

if TYPE_CHECKING:
    from node.operator.deploy import DeployRequest

Task = Annotated[
    str | None,
    typer.Option(
        help="learning task: built-in name, an installed `fedchain.tasks` entry point, or "
        "package.module:function (default: mnist5k-mlp)"
    ),
]
MinParticipants = Annotated[
    int | None, typer.Option(help="active participants a round needs to open (default: 3)")
]
CommitWindow = Annotated[
    int | None, typer.Option(help="seconds a round accepts commitments (default: 60)")
]
VoteWindow = Annotated[
    int | None, typer.Option(help="seconds a round accepts outcome votes (default: 60)")
]
ContributorPool = Annotated[
    str | None, typer.Option(help="FED paid per round to contributors (default: 800)")
]
VoterPool = Annotated[
    str | None, typer.Option(help="FED paid per round to winning voters (default: 200)")
]
Rule = Annotated[
    str | None,
    typer.Option(
        help="aggregation rule every node runs, e.g. nnm+trimmed_mean "
        "(docs/aggregation.md) (default: fedavg)"
    ),
]
ByzantineF = Annotated[
    int | None, typer.Option(help="Byzantine updates the rule tolerates (default: 0)")
]
Algorithm = Annotated[
    str | None,
    typer.Option(
        help="local training every node runs: fedavg, fedprox (proximal term, --prox-mu) or "
        "fednova (updates normalised by local steps) (docs/heterogeneity.md) (default: fedavg)"
    ),
]
ProxMu = Annotated[
    float | None,
    typer.Option(help="FedProx's proximal weight mu (default with fedprox: 0.01)"),
]
Dp = Annotated[
    str | None,
    typer.Option(
        "--dp",
        help="differential privacy every node applies to its update: off, local (each adds "
        "noise std z*C) or distributed (each adds z*C/sqrt(K)) (docs/privacy.md) "
        "(default: off)",
    ),
]
UpdateCodec = Annotated[
    str | None,
    typer.Option(
        help="how updates travel: fxp32-q16 (dense) or topk-int8-p<P> (the top P per 1000 "
        "entries of each tensor as int8, with error feedback; topk-int8-p100: about 17x "
        "fewer bytes) (docs/bench/compression.json) (default: fxp32-q16)"
    ),
]
Staleness = Annotated[
    int | None,
    typer.Option(
        min=0,
        max=1,
        help="overlapped rounds: 1 trains round r+1's update on the previous round's base "
        "while round r is exchanged and voted (one round of bounded staleness); 0 trains on "
        "the round's base (docs/bench/staleness.json) (default: 0)",
    ),
]
DpClip = Annotated[
    float | None, typer.Option(help="DP: L2 norm C every update is clipped to (default: 0.1)")
]
DpNoise = Annotated[
    float | None, typer.Option(help="DP: noise multiplier z, noise std z*C (default: 1.0)")
]
MinStake = Annotated[str | None, typer.Option(help="FED a participant must stake (default: 10)")]
Cooldown = Annotated[
    int | None, typer.Option(help="seconds from unstake to withdraw (default: 300)")
]
Slash = Annotated[
    str | None, typer.Option(help="percent of stake slashed for an invalid update (default: 50)")
]
Treasury = Annotated[
    str | None,
    typer.Option(help="FED moved from the supply into the reward treasury (default: 100000)"),
]
LateVoteGrace = Annotated[
    int | None,
    typer.Option(
        help="seconds a finalized round stays current so late winning voters still count "
        "(default: 15)"
    ),
]
ClaimPeriod = Annotated[
    int | None,
    typer.Option(
        help="seconds after a round's vote deadline its rewards can be claimed; then anyone "
        "may sweep what is left back to the treasury (default: 86400)"
    ),
]
InactivityRounds = Annotated[
    int | None,
    typer.Option(help="rounds a staker may miss voting in before it can be reported (default: 5)"),
]
InactivityLeak = Annotated[
    str | None,
    typer.Option(
        help="percent of a reported inactive staker's stake moved to the treasury (default: 1)"
    ),
]
Supply = Annotated[
    str | None,
    typer.Option(
        help="FED minted once, to the deployer, when the token is deployed: the treasury and "
        "every participant's tokens come from it (default: 10000000)"
    ),
]
CommitteeSize = Annotated[
    int | None,
    typer.Option(
        help="participants drawn per round, by stake, to train and vote (docs/committee.md); "
        "0 or at least the active count: everyone (default: 0)"
    ),
]

TargetAccuracy = Annotated[
    float | None,
    typer.Option(
        help="stop rule: the deployment finishes once a round's agreed validation accuracy "
        "(the voters' stake-weighted mean) reaches this, as 0.9 or 90 (default: 0, off)"
    ),
]
Patience = Annotated[
    int | None,
    typer.Option(
        help="stop rule: finish after this many finalized rounds in a row without a better "
        "agreed accuracy (default: 0, off)"
    ),
]
MaxRounds = Annotated[
    int | None,
    typer.Option(help="stop rule: finish with this many finalized rounds (default: 0, off)"),
]

DEPLOY_EXAMPLES = """Examples:

  fedchain deploy --rpc-url http://127.0.0.1:8545 --keystore deployer.json

  fedchain deploy --rpc-url $RPC --keystore k.json --task my-task --out my.json

  fedchain deploy --rpc-url $RPC --keystore k.json --min-participants 5
  --commit-window 300 --vote-window 120 --contributor-pool 400 --voter-pool 100

  fedchain deploy --rpc-url $RPC --keystore k.json --update-codec topk-int8-p100

  fedchain deploy --rpc-url $RPC --keystore k.json --staleness 1   # overlapped rounds

  fedchain deploy --rpc-url $RPC --private-key-file key.hex --byzantine-f 1
  --rule nnm+trimmed_mean --min-participants 4

  fedchain deploy --rpc-url $RPC --keystore k.json --supply 1000000 --treasury 50000
  --claim-period 604800 --inactivity-rounds 10 --inactivity-leak 0.5

  fedchain deploy --rpc-url $RPC --keystore k.json --min-participants 8 --committee-size 8

  fedchain deploy --rpc-url $RPC --keystore k.json --algorithm fedprox --prox-mu 0.01

  fedchain deploy --rpc-url $RPC --keystore k.json --dp distributed --dp-clip 0.1 --dp-noise 1.0

  fedchain deploy --rpc-url $RPC --keystore k.json --target-accuracy 0.95 --patience 5
  --max-rounds 100
"""


def deploy_request(
    task: str | None,
    min_participants: int | None,
    commit_window: int | None,
    vote_window: int | None,
    contributor_pool: str | None,
    voter_pool: str | None,
    rule: str | None,
    byzantine_f: int | None,
    min_stake: str | None,
    unstake_cooldown: int | None,
    slash: str | None,
    treasury: str | None,
    late_vote_grace: int | None = None,
    claim_period: int | None = None,
    inactivity_rounds: int | None = None,
    inactivity_leak: str | None = None,
    supply: str | None = None,
    committee_size: int | None = None,
    algorithm: str | None = None,
    prox_mu: float | None = None,
    dp: str | None = None,
    dp_clip: float | None = None,
    dp_noise: float | None = None,
    target_accuracy: float | None = None,
    patience: int | None = None,
    max_rounds: int | None = None,
    update_codec: str | None = None,
    staleness: int | None = None,
) -> DeployRequest:
    from node.operator.deploy import DeployRequest

    return DeployRequest(
        task=task,
        min_participants=min_participants,
        commit_window=commit_window,
        vote_window=vote_window,
        contributor_pool=contributor_pool,
        voter_pool=voter_pool,
        rule=rule,
        byzantine_f=byzantine_f,
        min_stake=min_stake,
        unstake_cooldown=unstake_cooldown,
        slash_percent=slash,
        treasury=treasury,
        late_vote_grace=late_vote_grace,
        claim_period=claim_period,
        inactivity_rounds=inactivity_rounds,
        inactivity_leak_percent=inactivity_leak,
        supply=supply,
        committee_size=committee_size,
        algorithm=algorithm,
        prox_mu=prox_mu,
        dp=dp,
        dp_clip=dp_clip,
        dp_noise=dp_noise,
        target_accuracy=target_accuracy,
        patience=patience,
        max_rounds=max_rounds,
        update_codec=update_codec,
        staleness=staleness,
    )


@app.command(epilog=DEPLOY_EXAMPLES)
def deploy(
    rpc_url: Annotated[str, typer.Option("--rpc-url", help="the chain's JSON-RPC URL")],
    out: Annotated[Path, typer.Option(help="deployment file to write")] = Path("deployment.json"),
    keystore: Keystore = None,
    private_key_file: PrivateKeyFile = None,
    password_file: SignPasswordFile = None,
    force: Annotated[bool, typer.Option(help="overwrite an existing --out file")] = False,
    task: Task = None,
    min_participants: MinParticipants = None,
    commit_window: CommitWindow = None,
    vote_window: VoteWindow = None,
    contributor_pool: ContributorPool = None,
    voter_pool: VoterPool = None,
    rule: Rule = None,
    byzantine_f: ByzantineF = None,
    min_stake: MinStake = None,
    unstake_cooldown: Cooldown = None,
    slash: Slash = None,
    treasury: Treasury = None,
    late_vote_grace: LateVoteGrace = None,
    claim_period: ClaimPeriod = None,
    inactivity_rounds: InactivityRounds = None,
    inactivity_leak: InactivityLeak = None,
    supply: Supply = None,
    committee_size: CommitteeSize = None,
    algorithm: Algorithm = None,
    prox_mu: ProxMu = None,
    dp: Dp = None,
    dp_clip: DpClip = None,
    dp_noise: DpNoise = None,
    target_accuracy: TargetAccuracy = None,
    patience: Patience = None,
    max_rounds: MaxRounds = None,
    update_codec: UpdateCodec = None,
    staleness: Staleness = None,
) -> None:
    """Deploy the token and a coordinator for a task to any EVM chain.

    Writes the deployment file every node of the task uses (`fedchain node init
    --deployment FILE`).

    The deployer signs with --keystore (password from --password-file, else
    FEDCHAIN_KEYSTORE_PASSWORD, else a prompt) or a plaintext --private-key-file. It
    receives the token's whole --supply (nobody can mint more) and funds the treasury
    from it. Every value is checked before anything is sent.
    """
    from node.operator.deploy import deploy_to

    request = deploy_request(
        task,
        min_participants,
        commit_window,
        vote_window,
        contributor_pool,
        voter_pool,
        rule,
        byzantine_f,
        min_stake,
        unstake_cooldown,
        slash,
        treasury,
        late_vote_grace,
        claim_period,
        inactivity_rounds,
        inactivity_leak,
        supply,
        committee_size,
        algorithm,
        prox_mu,
        dp,
        dp_clip,
        dp_noise,
        target_accuracy,
        patience,
        max_rounds,
        update_codec=update_codec,
        staleness=staleness,
    )
    expected_errors(
        lambda: deploy_to(
            rpc_url,
            out,
            request,
            console,
            keystore=keystore,
            private_key_file=private_key_file,
            password_file=password_file,
            force=force,
        )
    )

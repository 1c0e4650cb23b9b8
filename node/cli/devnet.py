"""`fedchain devnet ...` and `fedchain fund`: the local Anvil devnet."""

from __future__ import annotations

from typing import Annotated

import typer

from node.cli.app import DEFAULT_DEVNET, DevnetDir, Port, app, console, devnet_app, expected_errors
from node.cli.deploy import (
    Algorithm,
    ByzantineF,
    ClaimPeriod,
    CommitteeSize,
    CommitWindow,
    ContributorPool,
    Cooldown,
    Dp,
    DpClip,
    DpNoise,
    InactivityLeak,
    InactivityRounds,
    LateVoteGrace,
    MaxRounds,
    MinParticipants,
    MinStake,
    Patience,
    ProxMu,
    Rule,
    Slash,
    Staleness,
    Supply,
    TargetAccuracy,
    Task,
    Treasury,
    UpdateCodec,
    VoterPool,
    VoteWindow,
    deploy_request,
)

UP_EXAMPLES = """Examples:

  fedchain devnet up

  fedchain devnet up --task digits-mlp --min-participants 2

  fedchain devnet up --data-dir .data/my-task --task my-task --commit-window 30

  fedchain devnet up --min-participants 4 --rule median --byzantine-f 1

  fedchain devnet up --late-vote-grace 2 --claim-period 120   # fast local experiments

  fedchain devnet up --algorithm fednova   # FedNova: updates normalised by local steps

  fedchain devnet up --dp distributed --dp-clip 0.1 --dp-noise 1.0   # differential privacy

  fedchain devnet up --target-accuracy 0.9 --patience 3 --max-rounds 50   # stop rule
"""


@devnet_app.command("up", epilog=UP_EXAMPLES)
def devnet_up(
    data_dir: DevnetDir = DEFAULT_DEVNET,
    port: Port = 8545,
    accounts: Annotated[
        int, typer.Option(min=1, max=1000, help="pre-funded anvil accounts (new chains only)")
    ] = 10,
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
    """Start anvil (state in DATA_DIR), deploy if not yet deployed, print accounts.

    The deployment options are those of `fedchain deploy`. On a devnet that already has a
    deployment, options that differ from it are an error (the chain is never wiped).
    """
    from node.operator.devnet import devnet_up as up

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
    expected_errors(lambda: up(data_dir, port, console, request=request, accounts=accounts))


@devnet_app.command("down")
def devnet_down(data_dir: DevnetDir = DEFAULT_DEVNET) -> None:
    """Stop anvil; its state is saved in DATA_DIR.

    Examples:

      fedchain devnet down

      fedchain devnet down --data-dir .data/my-task
    """
    from node.chain import devnet

    expected_errors(lambda: devnet.down(data_dir))
    console.print("devnet stopped")


@devnet_app.command("status")
def devnet_status(data_dir: DevnetDir = DEFAULT_DEVNET) -> None:
    """Is the devnet running, where, at which block.

    Examples:

      fedchain devnet status

      fedchain devnet status --data-dir .data/my-task
    """
    from node.operator.devnet import devnet_status as status

    expected_errors(lambda: status(data_dir, console))


@app.command()
def fund(
    address: Annotated[str, typer.Argument(help="account to fund")],
    tokens: Annotated[
        int, typer.Option(help="FED to transfer to it from the deployer's supply")
    ] = 1000,
    eth: Annotated[int, typer.Option(help="devnet ETH to send for gas")] = 10,
    data_dir: DevnetDir = DEFAULT_DEVNET,
) -> None:
    """Devnet only: transfer FED and send ETH to ADDRESS from the deployer account (which
    holds the token's fixed supply: FED cannot be minted).

    Examples:

      fedchain fund 0x70997970C51812dc3A010C7d01b50e0d17dc79C8

      fedchain fund 0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC --tokens 500 --eth 1
    """
    from node.operator.devnet import fund_on_devnet

    expected_errors(lambda: fund_on_devnet(data_dir, address, tokens, eth))
    console.print(f"funded {address} with {tokens} FED and {eth} ETH")

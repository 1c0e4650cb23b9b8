"""`fedchain rounds` and `fedchain round show`: what the chain recorded, round by round."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from node.cli.app import (
    DEFAULT_DEPLOYMENT,
    DeploymentFile,
    Json,
    NodeDir,
    app,
    console,
    expected_errors,
)
from node.cli.keyopts import (
    Keystore,
    LegacyKeyFile,
    PrivateKeyFile,
    RpcUrl,
    SignPasswordFile,
    key_source,
)

round_app = typer.Typer(help="one round in detail", no_args_is_help=True)
app.add_typer(round_app, name="round")

ROUNDS_EXAMPLES = """Examples:

  fedchain rounds                              # the 20 newest rounds

  fedchain rounds --last 5 --node-dir nodes/a  # with this node's reward

  fedchain rounds --watch                      # follow new rounds (Ctrl-C stops)

  fedchain rounds --last 100 --json            # slashes and rewards per address included
"""
SWEEP_EXAMPLES = """Examples:

  fedchain round sweep --keystore ~/keys/op.json       # every round whose claims ended

  fedchain round sweep 3 4 --private-key-file key.hex --json
"""
SHOW_EXAMPLES = """Examples:

  fedchain round show 3

  fedchain round show 3 --node-dir nodes/a     # plus what this node verified, rejected, scored

  fedchain round show 3 --json
"""


@app.command(epilog=ROUNDS_EXAMPLES)
def rounds(
    deployment: DeploymentFile = DEFAULT_DEPLOYMENT,
    last: Annotated[
        int, typer.Option("--last", help="show the N newest rounds (--watch: at most N)")
    ] = 20,
    round_id: Annotated[
        int | None, typer.Option("--round", help="one round (`round show N` tells more)")
    ] = None,
    node_dir: NodeDir = None,
    keystore: Keystore = None,
    private_key_file: PrivateKeyFile = None,
    key_file: LegacyKeyFile = None,
    rpc_url: RpcUrl = "",
    as_json: Json = False,
    watch: Annotated[
        bool, typer.Option("--watch", help="follow the newest rounds until Ctrl-C")
    ] = False,
) -> None:
    """List rounds: status, commits, votes, model CID, pool, slashes, when; your reward with
    an account (--node-dir, --keystore or --private-key-file; no password needed).

    Reads events into a local index (~/.cache/fedchain), so each run reads only new blocks.
    """
    from node.operator.keys import account_address, read_client
    from node.operator.rounds import print_rounds, round_rows, watch_rounds

    def setup() -> tuple[Any, str | None]:
        me = account_address(key_source(node_dir, keystore, private_key_file, key_file, None))
        return read_client(deployment, rpc_url), me

    chain, me = expected_errors(setup)

    def fetch(count: int) -> list[dict[str, Any]]:
        return expected_errors(lambda: round_rows(chain, round_id, me, node_dir, last=count))

    if watch:
        watch_rounds(fetch, console, last, as_json)
        return
    print_rounds(fetch(last), console, as_json)


@round_app.command("show", epilog=SHOW_EXAMPLES)
def round_show(
    round_id: Annotated[int, typer.Argument(help="the round number", show_default=False)],
    deployment: DeploymentFile = DEFAULT_DEPLOYMENT,
    node_dir: NodeDir = None,
    rpc_url: RpcUrl = "",
    as_json: Json = False,
) -> None:
    """One round: when it opened, closed and settled (local time, with tx hashes), who
    committed which CID, each vote with its stake and the authors it rejected, slashes,
    rewards per address in FED; with --node-dir, this node's verdict and score per author.
    """
    from node.operator.keys import read_client
    from node.operator.round_show import print_round, round_detail

    detail = expected_errors(
        lambda: round_detail(read_client(deployment, rpc_url), round_id, node_dir)
    )
    print_round(detail, console, as_json)


@round_app.command("sweep", epilog=SWEEP_EXAMPLES)
def round_sweep(
    round_ids: Annotated[
        list[int] | None,
        typer.Argument(help="rounds to sweep (default: every finalized round not swept yet)"),
    ] = None,
    deployment: DeploymentFile = DEFAULT_DEPLOYMENT,
    keystore: Keystore = None,
    private_key_file: PrivateKeyFile = None,
    password_file: SignPasswordFile = None,
    rpc_url: RpcUrl = "",
    as_json: Json = False,
) -> None:
    """Return what is left of finalized rounds' reward pools (unclaimed rewards, rounding
    dust) to the treasury once their claim period ended. Anyone may sweep, paying only
    gas: sign with --keystore FILE or --private-key-file FILE. Running nodes sweep the
    rounds they took part in by themselves.
    """
    from node.operator.keys import client_for
    from node.operator.output import print_result
    from node.operator.rewards import sweep_rounds

    def run() -> dict[str, Any]:
        source = key_source(None, keystore, private_key_file, None, password_file)
        return sweep_rounds(client_for(source, deployment, rpc_url), round_ids or None)

    print_result(expected_errors(run), console, as_json)

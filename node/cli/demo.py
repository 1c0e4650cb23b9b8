"""`fedchain demo`: a devnet, N node processes and R rounds end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from node.cli.app import Port, app, console, expected_errors, setup_logging
from node.demo.options import MAX_NODES

DEMO_EXAMPLES = """Examples:

  fedchain demo

  fedchain demo --nodes 3 --rounds 2 --task digits-mlp --out out/quick

  fedchain demo --nodes 6 --byzantine 2 --attack sign_flip,boost --rule nnm+trimmed_mean

  fedchain demo --task mypkg.mytask:make_task --nodes 4 --port 8546

  fedchain demo --nodes 8 --committee-size 4 --task digits-mlp

  fedchain demo --explorer --explorer-port 8600   # then open http://127.0.0.1:8600/

  fedchain demo --task digits-mlp --alpha 0.1 --algorithm fednova

  fedchain demo --dp distributed --dp-clip 0.1 --dp-noise 1.0   # differential privacy

  fedchain demo --task digits-mlp --rounds 20 --target-accuracy 0.9 --patience 3

  fedchain demo --update-codec topk-int8-p100   # compressed updates, error feedback

  fedchain demo --staleness 1   # overlapped rounds: train round r+1 while r is voted
"""


@app.command(epilog=DEMO_EXAMPLES)
def demo(
    nodes: Annotated[int, typer.Option(min=2, max=MAX_NODES, help="node processes")] = 4,
    rounds: Annotated[int, typer.Option(min=1, help="training rounds")] = 5,
    task: Annotated[
        str,
        typer.Option(help="built-in task, `fedchain.tasks` entry point or module:function"),
    ] = "mnist5k-mlp",
    out: Annotated[Path, typer.Option(help="report directory")] = Path("out/demo"),
    port: Port = 8545,
    data_dir: Annotated[
        Path, typer.Option(help="the demo's chain and nodes go to DATA_DIR/demo")
    ] = Path(".data"),
    byzantine: Annotated[int, typer.Option(min=0, help="how many nodes attack")] = 0,
    attack: Annotated[str, typer.Option(help="attack of the Byzantine nodes")] = "sign_flip",
    rule: Annotated[str, typer.Option(help="aggregation rule, e.g. nnm+trimmed_mean")] = "",
    alpha: Annotated[float, typer.Option(min=0, help="Dirichlet label skew (0: IID)")] = 0.0,
    collude: Annotated[
        bool, typer.Option(help="attackers with the same attack pool data, send one update")
    ] = True,
    committee_size: Annotated[
        int,
        typer.Option(
            min=0, help="nodes drawn per round by stake to train and vote (0: every node)"
        ),
    ] = 0,
    stop_devnet: Annotated[bool, typer.Option(help="also stop the devnet at the end")] = False,
    explorer: Annotated[
        bool,
        typer.Option(help="run the round explorer on the demo's chain (left up with the devnet)"),
    ] = False,
    explorer_port: Annotated[
        int, typer.Option(min=1, max=65535, help="the explorer's port on 127.0.0.1")
    ] = 8600,
    algorithm: Annotated[
        str, typer.Option(help="local training: fedavg, fedprox or fednova")
    ] = "fedavg",
    prox_mu: Annotated[
        float | None, typer.Option(help="FedProx's proximal weight (default: 0.01)")
    ] = None,
    dp: Annotated[
        str,
        typer.Option(
            "--dp", help="differential privacy: off, local or distributed (docs/privacy.md)"
        ),
    ] = "off",
    dp_clip: Annotated[
        float | None, typer.Option(help="DP: L2 clip norm C of every update (default: 0.1)")
    ] = None,
    dp_noise: Annotated[
        float | None, typer.Option(help="DP: noise multiplier z, std z*C (default: 1.0)")
    ] = None,
    target_accuracy: Annotated[
        float,
        typer.Option(
            help="the chain's stop rule: finish once a round's agreed accuracy reaches this "
            "(0.9 or 90; 0: off); --rounds is the rule's round cap"
        ),
    ] = 0.0,
    patience: Annotated[
        int,
        typer.Option(
            min=0, help="stop rule: finish after N finalized rounds without a better accuracy"
        ),
    ] = 0,
    update_codec: Annotated[
        str,
        typer.Option(
            help="how updates travel: fxp32-q16 (dense) or topk-int8-p<P> (top P per 1000 "
            "entries as int8, error feedback; e.g. topk-int8-p100)"
        ),
    ] = "fxp32-q16",
    staleness: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=1,
            help="overlapped rounds: 1 trains round r+1's update on the previous round's "
            "base while round r is exchanged and voted; 0 on the round's base (default: 0)",
        ),
    ] = None,
    chain_round_cap: Annotated[
        bool,
        typer.Option(
            help="the chain finishes the deployment after --rounds rounds (with "
            "--no-chain-round-cap its rounds go on once the demo's nodes stopped)"
        ),
    ] = True,
) -> None:
    """Devnet + N nodes + R rounds end to end; exit 0 only if every round finalized.

    The demo runs its own chain in DATA_DIR/demo/devnet (never the one `fedchain devnet
    up` keeps in DATA_DIR/devnet) and its nodes in DATA_DIR/demo/node*, wiped at start.
    Options are checked first: the rule must be able to aggregate the updates of
    --nodes with f = --byzantine.
    """
    from node.demo.options import DemoOptions, check_options

    setup_logging(False, "WARNING")
    opts = DemoOptions(
        nodes=nodes,
        rounds=rounds,
        task=task,
        out=out,
        port=port,
        data_root=data_dir,
        byzantine=byzantine,
        attack=attack,
        rule=rule or ("nnm+trimmed_mean" if byzantine else "fedavg"),
        alpha=alpha,
        collude=collude,
        committee_size=committee_size,
        stop_devnet=stop_devnet,
        explorer=explorer,
        explorer_port=explorer_port,
        algorithm=algorithm,
        prox_mu=prox_mu,
        dp=dp,
        dp_clip=dp_clip,
        dp_noise=dp_noise,
        target_accuracy=target_accuracy,
        patience=patience,
        chain_round_cap=chain_round_cap,
        update_codec=update_codec,
        staleness=staleness,
    )
    expected_errors(lambda: check_options(opts))
    from node.demo.run import run_demo  # torch: only once the options are fine

    code = expected_errors(lambda: run_demo(opts, console))
    raise typer.Exit(code)

"""Simulation entry point: a node whose update behaviour a config's [simulation] table sets.

The composition root for Byzantine simulation nodes (the demo starts its attackers with
it); ``fedchain node run`` is the honest one and never reads [simulation].

    python -m node.attacks --config nodes/node5/config.toml
"""

from __future__ import annotations

import argparse
from pathlib import Path

import trio

from node.attacks.simulation import behaviour_for, load_simulation
from node.cli.app import err, expected_errors, setup_logging
from node.config import load_config
from node.startup import open_account


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m node.attacks", description=__doc__)
    parser.add_argument("--config", type=Path, required=True, help="node config file (TOML)")
    args = parser.parse_args(argv)
    cfg = expected_errors(lambda: load_config(args.config))
    sim = expected_errors(lambda: load_simulation(args.config, cfg))
    setup_logging(cfg.log_json, cfg.log_level)
    chain = expected_errors(lambda: open_account(cfg))
    from node.daemon import run_node

    try:
        expected_errors(lambda: trio.run(run_node, cfg, chain, behaviour_for(sim, cfg)))
    except KeyboardInterrupt:
        err.print("node stopped")


if __name__ == "__main__":
    main()

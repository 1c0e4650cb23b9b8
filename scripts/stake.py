"""Stake, top up, request an unstake, withdraw after the cool-down, or show the position.

python scripts/stake.py add 50 --node-dir NODE       # registers with the node's peer id
python scripts/stake.py add 25 --node-dir NODE       # tops up once registered
python scripts/stake.py unstake 30 --node-dir NODE   # or no amount: everything
python scripts/stake.py withdraw --node-dir NODE     # after the cool-down
python scripts/stake.py status --node-dir NODE [--json]
"""

import argparse

from _common import chain_of, common, console, run

from node.ops import (
    balance,
    parse_amount,
    print_balance,
    print_result,
    request_unstake,
    stake_more,
    withdraw,
)


def main() -> int:
    p = argparse.ArgumentParser(description="stake FED in the fedchain coordinator")
    sub = p.add_subparsers(dest="action", required=True)
    opts = [common(key=True)]
    add = sub.add_parser("add", parents=opts, help="stake (register if needed) or top up")
    add.add_argument("amount", help="FED to add, e.g. 12.5")
    out = sub.add_parser("unstake", parents=opts, help="request stake out (starts the cool-down)")
    out.add_argument("amount", nargs="?", default=None, help="FED to unstake (default: all)")
    sub.add_parser("withdraw", parents=opts, help="withdraw unstaked FED after the cool-down")
    sub.add_parser("status", parents=opts, help="stake, unbonding and when it unlocks")
    args = p.parse_args()
    chain = chain_of(args)
    if args.action == "add":
        print_result(
            stake_more(chain, parse_amount(args.amount), args.node_dir), console, args.json
        )
    elif args.action == "unstake":
        amount = None if args.amount is None else parse_amount(args.amount)
        print_result(request_unstake(chain, amount), console, args.json)
    elif args.action == "withdraw":
        print_result(withdraw(chain), console, args.json)
    else:
        print_balance(balance(chain, args.node_dir), console, args.json)
    return 0


if __name__ == "__main__":
    run(main)

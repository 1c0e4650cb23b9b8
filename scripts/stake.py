"""Stake, top up, request an unstake, withdraw after the cool-down, or show the position.

python scripts/stake.py add 50 --node-dir NODE       # registers with the node's peer id
python scripts/stake.py add 25 --node-dir NODE       # tops up once registered
python scripts/stake.py unstake 30 --node-dir NODE   # or no amount: everything
python scripts/stake.py withdraw --node-dir NODE     # after the cool-down
python scripts/stake.py status --node-dir NODE [--json]
"""

import argparse

from _common import address_of, common, console, reader, run, signed

from node.operator.format import parse_amount
from node.operator.output import print_result
from node.operator.staking import balance, print_balance, request_unstake, stake_more, withdraw


def main() -> int:
    p = argparse.ArgumentParser(description="stake FED in the fedchain coordinator")
    sub = p.add_subparsers(dest="action", required=True)
    opts = [common()]
    add = sub.add_parser("add", parents=opts, help="stake (register if needed) or top up")
    add.add_argument("amount", help="FED to add, e.g. 12.5")
    out = sub.add_parser("unstake", parents=opts, help="request stake out (starts the cool-down)")
    out.add_argument("amount", nargs="?", default=None, help="FED to unstake (default: all)")
    sub.add_parser("withdraw", parents=opts, help="withdraw unstaked FED after the cool-down")
    sub.add_parser("status", parents=opts, help="stake, unbonding and when it unlocks")
    args = p.parse_args()
    if args.action == "status":
        chain = reader(args, address_of(args, required=True))
        print_balance(balance(chain, args.node_dir), console, args.json)
        return 0
    if args.action == "add":
        units = parse_amount(args.amount)
        result = signed(
            args, "stake", {"amount": units}, lambda c: stake_more(c, units, args.node_dir)
        )
    elif args.action == "unstake":
        part = None if args.amount is None else parse_amount(args.amount)
        result = signed(args, "unstake", {"amount": part}, lambda c: request_unstake(c, part))
    else:
        result = signed(args, "withdraw", {}, withdraw)
    print_result(result, console, args.json)
    return 0


if __name__ == "__main__":
    run(main)

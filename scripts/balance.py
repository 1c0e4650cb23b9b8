"""Wallet (ETH, FED), stake, unbonding and its cool-down, unclaimed rewards of an account.

python scripts/balance.py --node-dir NODE [--json]      (no password needed)
"""

from _common import address_of, console, parser, reader, run

from node.operator.staking import balance, print_balance


def main() -> int:
    p = parser("show an account's balances")
    args = p.parse_args()
    chain = reader(args, address_of(args, required=True))
    print_balance(balance(chain, args.node_dir), console, args.json)
    return 0


if __name__ == "__main__":
    run(main)

"""Wallet (ETH, FED), stake, unbonding and its cool-down, unclaimed rewards of an account.

python scripts/balance.py --node-dir NODE [--json]
"""

from _common import chain_of, console, parser, run

from node.ops import balance, print_balance


def main() -> int:
    p = parser("show an account's balances", key=True)
    args = p.parse_args()
    print_balance(balance(chain_of(args), args.node_dir), console, args.json)
    return 0


if __name__ == "__main__":
    run(main)

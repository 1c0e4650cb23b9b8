"""Add stake to a registered participant (approves the coordinator first if needed).

python scripts/stake.py --key-file KEY --amount 50 [--json]
"""

import json
from decimal import Decimal

from _common import console, parser, run

from node.errors import FedchainError
from node.ops import TOKEN, client, stake_more


def main() -> int:
    p = parser("stake more FED", key=True)
    p.add_argument("--amount", type=Decimal, required=True, help="FED to add")
    args = p.parse_args()
    if args.amount <= 0:
        raise FedchainError("--amount must be positive")
    chain = client(args.deployment, args.key_file, args.rpc_url)
    result = stake_more(chain, int(args.amount * TOKEN))
    if args.json:
        console.print_json(json.dumps(result))
    else:
        console.print(
            f"{result['address']} staked {args.amount} FED; stake now "
            f"{result['stake'] / TOKEN:.4f} FED"
        )
    return 0


if __name__ == "__main__":
    run(main)

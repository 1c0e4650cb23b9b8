"""Claim every reward a node earned and has not claimed yet.

python scripts/claim.py --key-file KEY --node-dir NODE_DATA_DIR [--json]
"""

import json
from pathlib import Path

from _common import console, parser, run

from node.ops import claim_all, client


def main() -> int:
    p = parser("claim earned rewards", key=True)
    p.add_argument(
        "--node-dir",
        type=Path,
        required=True,
        help="the node's data directory (its state holds amounts and proofs)",
    )
    args = p.parse_args()
    chain = client(args.deployment, args.key_file, args.rpc_url)
    result = claim_all(chain, args.node_dir)
    if args.json:
        console.print_json(json.dumps(result))
    else:
        console.print(result["message"])
    return 0


if __name__ == "__main__":
    run(main)

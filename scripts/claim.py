"""Claim everything unclaimed: contributor rewards (amounts and proofs from the node's
state) and voter rewards (from the chain).

python scripts/claim.py --node-dir NODE [--round N] [--no-voter] [--json]
"""

from _common import chain_of, console, parser, run

from node.ops import claim_all, print_result


def main() -> int:
    p = parser("claim earned rewards", key=True)
    p.add_argument("--round", type=int, default=None, help="only this round")
    p.add_argument("--no-voter", action="store_true", help="skip voter rewards")
    args = p.parse_args()
    result = claim_all(chain_of(args), args.node_dir, voter=not args.no_voter, only=args.round)
    print_result(result, console, args.json)
    return 0


if __name__ == "__main__":
    run(main)

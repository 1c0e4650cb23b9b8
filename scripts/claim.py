"""Claim everything unclaimed: contributor rewards (amounts and proofs from the node's
state) and voter rewards (from the chain). While the node runs, the node claims.

python scripts/claim.py --node-dir NODE [--round N] [--no-voter] [--json]
"""

from _common import console, parser, run, signed

from node.operator.output import print_result
from node.operator.rewards import claim_all


def main() -> int:
    p = parser("claim earned rewards")
    p.add_argument("--round", type=int, default=None, help="only this round")
    p.add_argument("--no-voter", action="store_true", help="skip voter rewards")
    args = p.parse_args()
    voter = not args.no_voter
    result = signed(
        args,
        "claim",
        {"voter": voter, "round": args.round},
        lambda chain: claim_all(chain, args.node_dir, voter=voter, only=args.round),
    )
    print_result(result, console, args.json)
    return 0


if __name__ == "__main__":
    run(main)

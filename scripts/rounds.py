"""List the coordinator's rounds: status, commits, finalized model CID, reward pool.

python scripts/rounds.py [--round N] [--json] [--deployment FILE]
"""

from _common import console, parser, run

from node.ops import client, print_rounds, round_rows


def main() -> int:
    p = parser("list fedchain rounds", key=False)
    p.add_argument("--round", type=int, default=None, help="detail for one round")
    args = p.parse_args()
    chain = client(args.deployment, None, args.rpc_url)
    rows = round_rows(chain, args.round)
    if not rows and not args.json:
        console.print("no rounds yet")
    print_rounds(rows, console, args.json)
    return 0


if __name__ == "__main__":
    run(main)

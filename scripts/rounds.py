"""Rounds table: round, status, commits, votes, model CID, pool, your reward.

python scripts/rounds.py [--node-dir NODE | --keystore FILE] [--round N] [--json]
(--round N adds who committed what and who voted for which outcome; no password needed)
"""

from _common import address_of, console, parser, reader, run

from node.operator.rounds import print_rounds, round_rows


def main() -> int:
    p = parser("list fedchain rounds")
    p.add_argument("--round", type=int, default=None, help="detail for one round")
    args = p.parse_args()
    me = address_of(args, required=False)
    print_rounds(round_rows(reader(args), args.round, me, args.node_dir), console, args.json)
    return 0


if __name__ == "__main__":
    run(main)

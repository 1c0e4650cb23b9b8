"""Rounds table: round, status, commits, votes, model CID, pool, your reward.

python scripts/rounds.py [--node-dir NODE | --key-file KEY] [--round N] [--json]
(--round N adds who committed what and who voted for which outcome)
"""

from _common import chain_of, console, parser, run

from node.ops import key_file_of, print_rounds, round_rows


def main() -> int:
    p = parser("list fedchain rounds", key=False)
    p.add_argument("--round", type=int, default=None, help="detail for one round")
    args = p.parse_args()
    chain = chain_of(args)
    me = chain.address if key_file_of(args.key_file, args.node_dir) else None
    print_rounds(round_rows(chain, args.round, me, args.node_dir), console, args.json)
    return 0


if __name__ == "__main__":
    run(main)

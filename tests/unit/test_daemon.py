import dataclasses

import pytest

from node.chain.client import RoundInfo, RoundStatus
from node.daemon import ready_to_advance


def info(
    status: RoundStatus, *, closed_at: int = 0, winning: int = 0, finalized_at: int = 0
) -> RoundInfo:
    values: dict[str, object] = {
        f.name: b"" if f.type in ("bytes", bytes) else 0 for f in dataclasses.fields(RoundInfo)
    }
    values.update(
        round=1, status=status, opened_at=100, commit_deadline=200, closed_at=closed_at,
        vote_deadline=260, eligible_count=4, commit_count=4, stake_snapshot=400,
        winning_weight=winning, finalized_at=finalized_at,
    )  # fmt: skip
    return RoundInfo(**values)  # type: ignore[arg-type]


FINAL = RoundStatus.FINALIZED


@pytest.mark.parametrize(
    ("round_info", "now", "expected"),
    [
        (info(FINAL, closed_at=150, winning=300, finalized_at=160), 174, False),  # late voters
        (info(FINAL, closed_at=150, winning=300, finalized_at=160), 175, True),  # grace over
        (info(FINAL, closed_at=150, winning=400, finalized_at=160), 160, True),  # all voted
        (info(FINAL, winning=300, finalized_at=250), 259, False),
        (info(FINAL, winning=300, finalized_at=250), 260, True),  # at most the vote deadline
        (info(RoundStatus.OPEN), 259, False),
        (info(RoundStatus.OPEN), 260, True),  # no quorum by the deadline: fail it
        (info(RoundStatus.FAILED), 0, True),
    ],
)
def test_ready_to_advance_mirrors_the_contracts_grace(
    round_info: RoundInfo, now: int, expected: bool
) -> None:
    assert ready_to_advance(round_info, now, late_vote_grace=15) is expected


def test_no_grace_advances_at_finalization() -> None:
    assert ready_to_advance(info(FINAL, winning=300, finalized_at=210), 210, 0) is True


def test_reward_weights_fall_back_to_examples_when_no_update_scores() -> None:
    from node.aggregate.step import reward_weights

    assert reward_weights(["a", "b"], [5, 0], [10, 20]) == {"a": 5, "b": 0}
    assert reward_weights(["a", "b"], [0, 0], [10, 20]) == {"a": 10, "b": 20}
    # near-duplicates are not paid by the fallback either
    assert reward_weights(["a", "b", "c"], [0, 0, 0], [10, 20, 30], (1, 2)) == {
        "a": 10,
        "b": 0,
        "c": 0,
    }

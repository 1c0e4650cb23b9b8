import dataclasses

import pytest

from node.chain.client import RoundInfo, RoundStatus
from node.daemon import ready_to_advance


def info(status: RoundStatus, *, closed_at: int = 0, winning: int = 0) -> RoundInfo:
    values: dict[str, object] = {
        f.name: b"" if f.type in ("bytes", bytes) else 0 for f in dataclasses.fields(RoundInfo)
    }
    values.update(
        round=1, status=status, opened_at=100, commit_deadline=200, closed_at=closed_at,
        vote_deadline=260, eligible_count=4, commit_count=4, stake_snapshot=400,
        winning_weight=winning,
    )  # fmt: skip
    return RoundInfo(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("round_info", "now", "expected"),
    [
        (info(RoundStatus.FINALIZED, closed_at=150, winning=300), 160, False),  # late voters
        (info(RoundStatus.FINALIZED, closed_at=150, winning=300), 165, True),  # grace over
        (info(RoundStatus.FINALIZED, closed_at=150, winning=400), 151, True),  # all voted
        (info(RoundStatus.FINALIZED, winning=300), 210, False),  # vote opened at deadline
        (info(RoundStatus.OPEN), 259, False),
        (info(RoundStatus.OPEN), 260, True),  # no quorum by the deadline: fail it
        (info(RoundStatus.FAILED), 0, True),
    ],
)
def test_ready_to_advance(round_info: RoundInfo, now: int, expected: bool) -> None:
    assert ready_to_advance(round_info, now, grace=15) is expected


def test_reward_weights_fall_back_to_examples_when_no_update_scores() -> None:
    from node.round import reward_weights

    assert reward_weights(["a", "b"], [5, 0], [10, 20]) == {"a": 5, "b": 0}
    assert reward_weights(["a", "b"], [0, 0], [10, 20]) == {"a": 10, "b": 20}
    # near-duplicates are not paid by the fallback either
    assert reward_weights(["a", "b", "c"], [0, 0, 0], [10, 20, 30], (1, 2)) == {
        "a": 10,
        "b": 0,
        "c": 0,
    }

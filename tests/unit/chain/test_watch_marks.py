"""The chain watch's log counts, fed logs directly (no endpoint)."""

from node.chain.watch import ChainWatch, coordinator_topics, settle_events

COORDINATOR = "0x" + "11" * 20


def feed(watch: ChainWatch, event: str) -> None:
    watch._saw_log({"topics": [coordinator_topics((event,))[0]], "blockNumber": "0x5"})


def test_registry_marks_move_on_registry_logs_only() -> None:
    watch = ChainWatch("http://127.0.0.1:1", logs=settle_events(COORDINATOR))
    for event in ("Committed", "RewardClaimed", "Finalized", "Staked"):
        feed(watch, event)
    assert watch.registry_marks == 0
    for event in ("Registered", "Activated", "Deactivated", "PeerUpdated"):
        feed(watch, event)
    assert watch.registry_marks == 4


def test_a_new_log_subscription_moves_every_mark() -> None:
    watch = ChainWatch("http://127.0.0.1:1", logs=settle_events(COORDINATOR))
    watch._round_logs(live=True)
    assert (watch.registry_marks, watch.param_marks, watch.stop_marks) == (1, 1, 1)

"""New-block notifications for the round engine: wake on a block instead of polling.

``ChainWatch.run`` (a nursery task) subscribes to ``newHeads`` over the endpoint's
WebSocket (``ws://`` on the HTTP port for anvil and geth-style nodes) and keeps ``head`` /
``head_time`` current; ``wait(after, timeout)`` returns as soon as a block above ``after``
is seen, or after ``timeout``. A lost connection is retried with capped backoff; an
endpoint that refuses WebSocket (an HTTP-only provider) or subscriptions is polled over
HTTP once per ``poll_interval`` instead, and WebSocket is tried again every
``WS_RETRY_S``.

Given a log filter (``logs``, e.g. ``settle_events``: the coordinator's ``Finalized`` and
``RoundFailed``), the same WebSocket also subscribes to those logs: ``events`` counts them
(and every new session, which may have missed some) and ``wait_event`` returns on the next
one. A waiter that would otherwise read the chain every few seconds (an observer waiting
for its round to settle) reads once per event instead, and learns of it at once. No events
come while polling: the waiter's timeout is its fallback.

A filter that names the coordinator's ``address`` is widened to all of its logs, and the
watch also counts ``round_marks``: every log but the reward-claim and treasury ones
(``QUIET_EVENTS``, which change no round), plus one per new session. ``wait_round`` returns
on the next mark or once a block reaches a given time: a round wait skips the reads of
blocks that carry only claims (in a 4-node round, 7 of ~16 blocks). ``param_marks`` and
``stop_marks`` count the ``ParamsApplied`` and ``DeploymentFinished`` logs (plus one per
session change): the round loop reads the parameters and the stop rule's verdict again
only when they moved; ``registry_marks`` the same for ``REGISTRY_EVENTS`` (peer
discovery reads the registry's counts again only then).

Heads on demand: with such a filter the watch does not subscribe to ``newHeads`` while
its log subscription is live (anvil mines a block per transaction: 10-24 blocks a second
during a 32-node round, each a ~1 KB message to every node, and every subscriber costs
anvil time per block). ``head`` then moves with the logs' block numbers, and a wait's
deadline (``until``, chain time) is a timer on the chain's clock as last seen: the
latest block's timestamp at session start, the logs' ``blockTimestamp`` where the node
sends it, and every chain time a caller read (``saw_time``), whichever is furthest
ahead of the local clock. A refused log subscription subscribes to ``newHeads`` as before.
"""

from __future__ import annotations

import json
import logging
import math
import time
from functools import partial
from typing import Any

import trio

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0
MIN_BACKOFF_S = 0.2
MAX_BACKOFF_S = 5.0
IDLE_PING_S = 15.0  # no message for this long: ping, to notice a half-open connection
PING_TIMEOUT_S = 5.0
WS_RETRY_S = 60.0  # while polling an endpoint that refused WebSocket
HTTP_TIMEOUT_S = 5.0
_SUBSCRIBE_ID = 1
_LATEST_ID = 2
_LOGS_ID = 3
# a deadline the chain's clock says passed while the caller read an older block: it waits
# this long for the block (anvil mines one a second at least) before reading again
BLOCK_LAG_S = 0.5
# a round settled, or the next one opened: what observers wait for
SETTLE_EVENTS = ("Finalized", "RoundFailed", "RoundOpened")
# the coordinator's logs that change no round (not counted in ``round_marks``)
QUIET_EVENTS = ("RewardClaimed", "VoterRewardClaimed", "Swept", "TreasuryFunded", "Withdrawn")
PARAM_EVENTS = ("ParamsApplied",)  # the only way the coordinator's parameters change
STOP_EVENTS = ("DeploymentFinished",)  # the stop rule finished the deployment
# the only ways the registry's counts (participantCount, activeCount) or addresses change
REGISTRY_EVENTS = ("Registered", "Activated", "Deactivated", "PeerUpdated")


class _NoWebSocket(Exception):
    """The endpoint answers but offers no WebSocket or no ``newHeads`` subscription."""


def coordinator_topics(names: tuple[str, ...]) -> list[str]:
    """The log topics of the coordinator's events called ``names``."""
    from eth_utils import event_abi_to_log_topic

    from node.chain.artifacts import load_artifact

    abi = load_artifact("FedCoordinator").abi
    return [
        "0x" + event_abi_to_log_topic(e).hex()  # type: ignore[arg-type]
        for e in abi
        if e.get("type") == "event" and e.get("name") in names
    ]


def settle_events(coordinator: str) -> dict[str, Any]:
    """An ``eth_subscribe`` logs filter: the coordinator's ``SETTLE_EVENTS``."""
    return {"address": coordinator, "topics": [coordinator_topics(SETTLE_EVENTS)]}


def websocket_url(rpc_url: str) -> str:
    """``http://h:p/path`` -> ``ws://h:p/path`` (``https`` -> ``wss``); a ws URL as is."""
    for http, ws in (("https://", "wss://"), ("http://", "ws://")):
        if rpc_url.startswith(http):
            return ws + rpc_url[len(http) :]
    return rpc_url


class ChainWatch:
    """The chain's latest block, pushed by the node (or polled when it cannot push).

    ``mode``: ``"connecting"`` before the first attempt, then ``"websocket"``,
    ``"polling"`` or ``"down"`` (nothing answers; retrying).
    """

    def __init__(
        self,
        rpc_url: str,
        *,
        ws_url: str | None = None,
        poll_interval: float = 1.0,
        max_backoff: float = MAX_BACKOFF_S,
        idle_ping: float = IDLE_PING_S,
        logs: dict[str, Any] | None = None,
    ) -> None:
        self.rpc_url = rpc_url
        self.ws_url = ws_url or websocket_url(rpc_url)
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        self.idle_ping = idle_ping
        self.head = 0  # latest block number seen (0 until one is)
        self.head_time = 0  # its timestamp
        self.mode = "connecting"
        self.connects = 0  # WebSocket sessions established (1 + reconnects)
        self._changed = trio.Event()
        self.logs = logs  # an eth_subscribe logs filter, or None
        self.events = 0  # matching logs seen, plus one per new WebSocket session
        self._event = trio.Event()
        self._started: Any = None  # the nursery's task status until reported
        # a filter naming the coordinator: subscribed to all its logs, ``events`` counts
        # those matching the filter's topics and ``round_marks`` the non-quiet ones
        self._matching: set[str] | None = None
        self._quiet: set[str] = set()
        self._param_topics: set[str] = set()
        self._stop_topics: set[str] = set()
        self._registry_topics: set[str] = set()
        if logs is not None and logs.get("address") and logs.get("topics"):
            self._matching = {t.lower() for t in logs["topics"][0]}
            self._quiet = {t.lower() for t in coordinator_topics(QUIET_EVENTS)}
            self._param_topics = {t.lower() for t in coordinator_topics(PARAM_EVENTS)}
            self._stop_topics = {t.lower() for t in coordinator_topics(STOP_EVENTS)}
            self._registry_topics = {t.lower() for t in coordinator_topics(REGISTRY_EVENTS)}
        self.round_marks = 0
        # ParamsApplied / DeploymentFinished logs seen, each plus one per new or lost log
        # subscription: unchanged while ``round_logs_live``, the parameters (the stop
        # rule's verdict) read since are still the chain's
        self.param_marks = 0
        self.stop_marks = 0
        self.registry_marks = 0  # REGISTRY_EVENTS logs, the same way (peer discovery)
        self.round_logs_live = False  # this session's log subscription was acknowledged
        self._latest_known = False  # the latest block's answer came (started needs it)
        # newHeads only where the waits need them (no coordinator log subscription)
        self.heads_on_demand = self._matching is not None
        self.heads_live = False  # this session's newHeads subscription was acknowledged
        # chain time minus time.monotonic(), the largest seen this session (None: unknown)
        self._time_offset: float | None = None

    async def wait(self, after: int, timeout: float) -> int:
        """The head once it is above ``after``, or after ``timeout`` seconds at most."""
        with trio.move_on_after(max(0.0, timeout)):
            while self.head <= after:
                await self._changed.wait()
        return self.head

    async def wait_event(self, after: int, timeout: float) -> int:
        """``events`` once it is above ``after``, or after ``timeout`` seconds at most."""
        with trio.move_on_after(max(0.0, timeout)):
            while self.events <= after:
                await self._event.wait()
        return self.events

    async def wait_round(self, after: int, until: int, timeout: float) -> None:
        """Until ``round_marks`` is above ``after`` or a block's time reaches ``until``,
        ``timeout`` seconds at most (sooner if the log subscription is lost)."""
        await self._wait_logs(lambda: self.round_marks > after, until, timeout)

    async def wait_settle(self, after: int, until: int, timeout: float) -> None:
        """Until ``events`` (settle logs, new sessions) is above ``after`` or a block's time
        reaches ``until``, ``timeout`` seconds at most (sooner if the log subscription is
        lost): a vote wait that other members' votes need not wake."""
        await self._wait_logs(lambda: self.events > after, until, timeout)

    async def _wait_logs(self, moved: Any, until: int, timeout: float) -> None:
        with trio.move_on_after(max(0.0, timeout)):
            if self.heads_live:  # every block is seen: its timestamp judges the deadline
                while not moved() and self.head_time < until and self.round_logs_live:
                    await self._changed.wait()
                return
            with trio.move_on_after(self._seconds_until(until)):
                while not moved() and self.round_logs_live:
                    await self._changed.wait()

    def chain_time(self) -> float | None:
        """The chain's time now as last seen (see the module's doc), None if unknown."""
        return None if self._time_offset is None else time.monotonic() + self._time_offset

    def saw_time(self, stamp: int) -> None:
        """A caller read the latest block's timestamp ``stamp`` just now."""
        offset = stamp - time.monotonic()
        if self._time_offset is None or offset > self._time_offset:
            self._time_offset = offset

    def _seconds_until(self, until: int) -> float:
        now = self.chain_time()
        if now is None:
            return math.inf  # no clock yet: the caller's timeout bounds the wait
        return until - now if until > now else BLOCK_LAG_S

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Follow the chain until cancelled. Reports started (``nursery.start``) once the
        head is known or the first attempt failed: it never blocks a node's start-up on an
        unreachable chain for more than ``CONNECT_TIMEOUT_S``."""
        from trio_websocket import ConnectionClosed, HandshakeError

        lost = (HandshakeError, ConnectionClosed, OSError, trio.TooSlowError)
        self._started = task_status
        backoff = MIN_BACKOFF_S
        while True:
            connects = self.connects
            try:
                await self._follow_websocket()
            except _NoWebSocket as exc:
                self._set_mode("polling", f"no WebSocket at {self.ws_url} ({exc}): polling")
                await self._poll(WS_RETRY_S)
                continue
            except (*lost, ValueError, KeyError, TypeError) as exc:  # the latter: bad JSON
                self._set_mode("down", f"{self.ws_url}: {type(exc).__name__}: {exc}")
            self._report_started()
            if self.connects != connects:
                backoff = MIN_BACKOFF_S  # the session worked: retry quickly first
            await trio.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff)

    # ------------------------------------------------------------------ internals

    async def _follow_websocket(self) -> None:
        from trio_websocket import ConnectionRejected, open_websocket_url

        try:
            async with open_websocket_url(
                self.ws_url,
                connect_timeout=CONNECT_TIMEOUT_S,
                disconnect_timeout=1.0,
                max_message_size=4 * 1024 * 1024,
            ) as ws:
                self._time_offset = None  # a restarted chain may have another clock
                heads = not self.heads_on_demand
                if heads:
                    await ws.send_message(_request(_SUBSCRIBE_ID, "eth_subscribe", ["newHeads"]))
                await ws.send_message(
                    _request(_LATEST_ID, "eth_getBlockByNumber", ["latest", False])
                )
                if self.logs is not None:
                    wanted = (
                        self.logs if self._matching is None else {"address": self.logs["address"]}
                    )
                    await ws.send_message(_request(_LOGS_ID, "eth_subscribe", ["logs", wanted]))
                while True:
                    with trio.move_on_after(self.idle_ping) as idle:
                        text = await ws.get_message()
                    if idle.cancelled_caught:
                        with trio.fail_after(PING_TIMEOUT_S):
                            await ws.ping()
                        continue
                    if self._on_message(json.loads(text)) and not heads:
                        heads = True  # no log subscription: the waits need every block
                        await ws.send_message(
                            _request(_SUBSCRIBE_ID, "eth_subscribe", ["newHeads"])
                        )
        except ConnectionRejected as exc:
            raise _NoWebSocket(f"HTTP {exc.status_code}") from None
        finally:
            self.heads_live = False
            self._round_logs(live=False)

    def _on_message(self, msg: dict[str, Any]) -> bool:
        """Handle one message; True when the session must subscribe to ``newHeads`` now
        (heads on demand, and the log subscription was refused)."""
        if msg.get("method") == "eth_subscription":
            result = msg["params"]["result"]
            if "topics" in result:  # a log (a new head has none)
                self._saw_log(result)
            else:
                self._see(result)
        elif msg.get("id") == _SUBSCRIBE_ID:
            if "error" in msg:
                raise _NoWebSocket(f"eth_subscribe: {msg['error'].get('message')}")
            self.heads_live = True
            self._session_started("following new blocks")
        elif msg.get("id") == _LOGS_ID:
            if "error" in msg:
                log.info("chain watch: no log subscription (%s): waiters poll", msg["error"])
                return self.heads_on_demand
            if self._matching is not None:
                if self.heads_on_demand:
                    self._session_started("following the coordinator's logs")
                self._round_logs(live=True)
        elif msg.get("id") == _LATEST_ID and msg.get("result"):
            self._see(msg["result"])
            self._latest_known = True
            if self.mode == "websocket":  # started: subscribed and the head known
                self._report_started()
        return False

    def _session_started(self, what: str) -> None:
        self.connects += 1
        self._saw_event()  # a new session: events may have been missed meanwhile
        self._set_mode("websocket", f"{what} over {self.ws_url}")
        if self._latest_known:  # the latest block's answer came first (anvils reorder)
            self._report_started()

    async def _poll(self, duration: float) -> None:
        """Poll ``eth_blockNumber`` over HTTP for ``duration`` seconds (a new number: its
        block's timestamp too)."""
        from node.chain.devnet import rpc_call
        from node.chain.errors import ChainUnreachable, DevnetError

        # a stop does not wait for a stalled HTTP read (trio_typing's stubs predate the flag)
        call = partial(trio.to_thread.run_sync, abandon_on_cancel=True)  # type: ignore[call-arg]
        end = trio.current_time() + duration
        while trio.current_time() < end:
            try:
                number = int(await call(rpc_call, self.rpc_url, "eth_blockNumber"), 16)
                if number != self.head or not self.head_time:
                    block = await call(
                        rpc_call, self.rpc_url, "eth_getBlockByNumber", [hex(number), False]
                    )
                    if block:
                        self._see(block)
                if self.mode != "polling":
                    self._set_mode("polling", f"polling {self.rpc_url}")
            except (ChainUnreachable, DevnetError, ValueError, KeyError, TypeError) as exc:
                self._set_mode("down", f"{self.rpc_url}: {exc}")
            self._report_started()
            await trio.sleep(self.poll_interval)

    def _see(self, block: dict[str, Any]) -> None:
        number, stamp = int(block["number"], 16), int(block["timestamp"], 16)
        if (number, stamp) == (self.head, self.head_time):
            return
        # A restarted chain (an older state) or a reorg may move the head back: follow it.
        self.head, self.head_time = number, stamp
        self.saw_time(stamp)
        self._wake()

    def _saw_log(self, entry: dict[str, Any]) -> None:
        if not self.heads_live and not entry.get("removed"):
            self._log_block(entry)
        if self._matching is None:
            self._saw_event()
            return
        topic = str((entry.get("topics") or [""])[0]).lower()
        if topic in self._matching:
            self._saw_event()
        if topic in self._param_topics:
            self.param_marks += 1
        if topic in self._stop_topics:
            self.stop_marks += 1
        if topic in self._registry_topics:
            self.registry_marks += 1
        if topic not in self._quiet:
            self.round_marks += 1
            self._wake()

    def _log_block(self, entry: dict[str, Any]) -> None:
        """A log's block moves ``head`` (and the clock, if the log carries its time)."""
        try:
            number = int(entry["blockNumber"], 16)
            stamp = entry.get("blockTimestamp")
            if stamp is not None:
                self.saw_time(int(stamp, 16))
        except (KeyError, TypeError, ValueError):
            return
        if number > self.head:
            self.head = number
            self._wake()

    def _round_logs(self, live: bool) -> None:
        """The log subscription is (no longer) acknowledged: a new one may have missed logs
        (a mark), a lost one leaves waiters to ``wait`` per block."""
        self.round_logs_live = live
        self.round_marks += 1
        self.param_marks += 1
        self.stop_marks += 1
        self.registry_marks += 1
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    def _saw_event(self) -> None:
        self.events += 1
        self._event.set()
        self._event = trio.Event()

    def _set_mode(self, mode: str, why: str) -> None:
        if mode != self.mode:
            (log.info if mode != "down" else log.warning)("chain watch: %s", why)
        self.mode = mode

    def _report_started(self) -> None:
        if self._started is not None:
            self._started.started()
            self._started = None


def _request(request_id: int, method: str, params: list[Any]) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})

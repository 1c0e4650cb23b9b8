"""What a node's round loop shares: the adapters, the journal, and the round's view of peers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeVar

import trio

from node.aggregate.registry import Rule, build_rule
from node.ahead import AheadTraining
from node.behaviour import UpdateBehaviour
from node.chain.client import ChainClient, Participant
from node.chainlink import ChainLink
from node.config import NodeConfig
from node.learning.tasks import Dataset, Task
from node.metrics import Metrics
from node.p2p.connection_budget import ConnectionBudget
from node.p2p.network import PeerNetwork
from node.ports import BlobStore, ChainPort
from node.state import NodeState
from node.status_pace import StatusPace
from node.store.pushed import PushedBlobs

if TYPE_CHECKING:  # node.claims imports this module
    from node.announcements import AnnouncementFeed
    from node.claims import ClaimQueue

T = TypeVar("T")


class BlockWatch(Protocol):
    """What the round engine needs of ``node.chain.watch.ChainWatch``."""

    head: int  # the latest block seen
    mode: str  # "websocket", "polling", "down", ...
    events: int  # rounds settling seen (node/observer.py waits on them)
    round_marks: int  # round-changing logs seen (node/waits.py waits on them)
    round_logs_live: bool  # whether round_marks are counted now
    param_marks: int  # ParamsApplied logs seen (node/round_loop.py's parameters cache)
    stop_marks: int  # DeploymentFinished logs seen (whether to ask if the deployment ended)
    registry_marks: int  # registry-changing logs seen (when peer discovery reads the counts)

    async def wait(self, after: int, timeout: float) -> int: ...

    async def wait_event(self, after: int, timeout: float) -> int: ...

    async def wait_round(self, after: int, until: int, timeout: float) -> None: ...

    async def wait_settle(self, after: int, until: int, timeout: float) -> None: ...

    def saw_time(self, stamp: int) -> None: ...  # a read's chain time (the deadlines' clock)


def _no_report(phase: str) -> None:
    return None


@dataclass
class NodeContext:
    """Everything a round needs, built once by the daemon."""

    cfg: NodeConfig
    chain: ChainClient
    net: PeerNetwork
    state: NodeState
    task: Task
    train_data: Dataset
    test_data: Dataset
    deployment_id: str
    genesis_cid: str
    topic: str
    providers: dict[str, set[str]] = field(default_factory=dict)
    # CID -> peer ids that signed an announcement of it (not the providers they list)
    announcers: dict[str, set[str]] = field(default_factory=dict)
    rule: Rule = field(default_factory=lambda: build_rule("fedavg", 0))
    metrics: Metrics = field(default_factory=Metrics)
    registered_peers: set[str] = field(default_factory=set)  # refreshed by peer discovery
    # lower-case address -> peer id of each active participant (peer discovery; read by
    # node/base_model.py to ask connected holders first, without registry reads)
    peer_ids: dict[str, str] = field(default_factory=dict)
    # lower-case address -> registry entry, as peer discovery last read the registry
    # (node/committee_links.py takes members' entries from it instead of reading them)
    registry: dict[str, Participant] = field(default_factory=dict)
    # the current round's committee members' registry entries (node/committee_links.py)
    committee_peers: dict[str, Participant] = field(default_factory=dict)
    # which connections to keep, which to close (node/p2p/connection_budget.py)
    links: ConnectionBudget = field(default_factory=ConnectionBudget)
    current_round: int = 0  # updated by the round loop; gossip round-window checks use it
    phase: str = "starting"
    # a new phase for status.json (set by the daemon)
    report: Callable[[str], None] = field(default=_no_report)
    status_pace: StatusPace = field(default_factory=StatusPace)  # when status.json is written
    watch: BlockWatch | None = None  # new blocks wake the waits (node/waits.py)
    behaviour: UpdateBehaviour = field(default_factory=UpdateBehaviour)  # honest by default
    # held by operator commands run through the control endpoint and by automatic claims
    claim_lock: trio.Lock = field(default_factory=trio.Lock)
    # overlapped rounds: updates trained ahead of their round (set by the round loop)
    ahead: AheadTraining | None = None
    # claims sent beside the round loop, off the critical path (set by the round loop)
    claims: ClaimQueue | None = None
    # the announcement topic, subscribed while on a round's committee (set by the daemon)
    announcements: AnnouncementFeed | None = None
    # update blobs their authors pushed on the announcement topic (node/store/pushed.py)
    pushed: PushedBlobs = field(default_factory=PushedBlobs)

    link: ChainLink = field(init=False)  # chain outage bookkeeping (retries, status)
    chain_port: ChainPort = field(init=False)  # the chain, through ``link``
    blobs: BlobStore = field(init=False)  # updates and models by CID (node/ports.py)
    # cancelled by the first stop signal: no more rounds, blobs still served a while
    rounds_scope: trio.CancelScope = field(default_factory=trio.CancelScope)

    def __post_init__(self) -> None:
        self.link = ChainLink(self.metrics)
        self.chain_port = ChainPort(self.chain, self.link)
        self.blobs = BlobStore(self.net, self.metrics)

    @property
    def address(self) -> str:
        return self.chain.address

"""A libp2p host with exactly TCP + Noise + yamux (no plaintext, secio, TLS or mplex)."""

from __future__ import annotations

import contextlib
import logging
import socket
from collections import Counter
from typing import cast

import multiaddr
from libp2p import new_host
from libp2p.abc import IHost, INetStream
from libp2p.crypto.keys import KeyPair
from libp2p.crypto.x25519 import create_new_key_pair as new_x25519_key_pair
from libp2p.custom_types import TProtocol
from libp2p.network.config import ConnectionConfig
from libp2p.network.swarm import Swarm
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_PROTOCOL_ID

from node.errors import NetworkError
from node.p2p import yamux

log = logging.getLogger(__name__)

# Connections of all kinds: above the high watermark py-libp2p prunes the least
# valuable ones; above MAX_CONNECTIONS it refuses new ones.
HIGH_WATERMARK = 192
MAX_CONNECTIONS = 256
# Inbound streams one peer may hold open at once, all protocols together. Our own
# protocols cap themselves lower (Bitswap 8, block stream 2, pubsub 2 per peer).
PEER_INBOUND_STREAMS = 32


def make_host(key_pair: KeyPair, metrics: Counter[str]) -> IHost:
    yamux.install(metrics)
    # py-libp2p's default security list includes plaintext and secio: pin Noise only.
    noise = NoiseTransport(key_pair, noise_privkey=new_x25519_key_pair().private_key)
    host = new_host(
        key_pair=key_pair,
        sec_opt={TProtocol(NOISE_PROTOCOL_ID): noise},
        muxer_opt={TProtocol(YAMUX_PROTOCOL_ID): yamux.ReaderSafeYamux},
        connection_config=ConnectionConfig(
            max_connections=MAX_CONNECTIONS,
            high_watermark=HIGH_WATERMARK,
            min_connections=0,
            low_watermark=0,
        ),
    )
    _disable_auto_connector(host)
    _contain_handler_failures(host, metrics)
    return host


def _disable_auto_connector(host: IHost) -> None:
    """Peers come from the chain's registry (``node.peer_discovery.discover_peers``).

    py-libp2p 0.8.1's auto-connector redials every known address to reach the middle
    of the watermarks, and ``min_connections=0, low_watermark=0`` does not stop it: it
    aims for ``(low + high) / 2`` (150 with the defaults; "initiating 150 new dials"
    every 30 s). Its entry points are replaced on this host's swarm instead.
    """
    swarm = cast(Swarm, host.get_network())

    async def no_dials() -> None:
        return None

    swarm.auto_connector.maybe_connect = no_dials  # type: ignore[method-assign]
    swarm._schedule_auto_connect = lambda: None  # type: ignore[method-assign]


def _contain_handler_failures(host: IHost, metrics: Counter[str]) -> None:
    """Keep one failing stream handler from silencing the whole connection.

    py-libp2p 0.8.1 runs every inbound stream's handler (ours, Bitswap's, pubsub's)
    as a child of the connection's accept loop and lets its exceptions through: a
    handler that raises, e.g. because the peer reset the stream it was writing to,
    ends that loop. The connection then stays up but never accepts a stream again,
    so every later fetch from that peer hangs until it times out. Here a failed
    handler resets its own stream, is counted, and the connection carries on.
    """
    swarm = cast(Swarm, host.get_network())
    dispatch = swarm.common_stream_handler
    active: Counter[str] = Counter()  # inbound streams open per peer, every protocol

    async def contained(stream: INetStream) -> None:
        peer = str(stream.muxed_conn.peer_id)
        if active[peer] >= PEER_INBOUND_STREAMS:
            # Identify and ping have no limit of their own (ping holds a task per stream
            # for as long as the peer keeps it open); ours refuse earlier, inside.
            metrics["stream.refused.peer_streams"] += 1
            with contextlib.suppress(Exception):
                await stream.reset()
            return
        active[peer] += 1
        try:
            await dispatch(stream)
        except Exception as exc:  # noqa: BLE001 - any handler, any peer misbehaviour
            metrics["stream.handler_failed"] += 1
            log.debug("stream handler failed (%s): %r", stream.get_protocol(), exc)
            with contextlib.suppress(Exception):
                await stream.reset()
        finally:
            active[peer] -= 1
            if active[peer] <= 0:
                del active[peer]

    swarm.set_stream_handler(contained)


def tcp_multiaddr(host: str, port: int) -> multiaddr.Multiaddr:
    family = "ip6" if ":" in host else "ip4"
    return multiaddr.Multiaddr(f"/{family}/{host}/tcp/{port}")


def ensure_port_free(host: str, port: int) -> None:
    """NetworkError if something already listens on ``host:port``.

    py-libp2p binds with SO_REUSEPORT, so a second node on a taken port would start
    "successfully" and the kernel would split incoming connections between the two.
    A probe bind without SO_REUSEPORT fails with EADDRINUSE in that case.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise NetworkError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc

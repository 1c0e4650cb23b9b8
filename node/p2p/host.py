"""A libp2p host with exactly TCP + Noise + yamux (no plaintext, secio, TLS or mplex)."""

from __future__ import annotations

import socket

import multiaddr
from libp2p import new_host
from libp2p.abc import IHost
from libp2p.crypto.keys import KeyPair
from libp2p.crypto.x25519 import create_new_key_pair as new_x25519_key_pair
from libp2p.custom_types import TProtocol
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_PROTOCOL_ID
from libp2p.stream_muxer.yamux.yamux import Yamux

from node.errors import NetworkError


def make_host(key_pair: KeyPair) -> IHost:
    # py-libp2p's default security list includes plaintext and secio: pin Noise only.
    noise = NoiseTransport(key_pair, noise_privkey=new_x25519_key_pair().private_key)
    return new_host(
        key_pair=key_pair,
        sec_opt={TProtocol(NOISE_PROTOCOL_ID): noise},
        muxer_opt={TProtocol(YAMUX_PROTOCOL_ID): Yamux},
    )


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

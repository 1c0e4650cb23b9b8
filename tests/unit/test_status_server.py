from pathlib import Path

import trio

from node.metrics import Metrics
from node.status_server import serve_status, status_url


def test_metrics_render_prometheus_text() -> None:
    metrics = Metrics()
    metrics.inc("updates_rejected_total", reason="norm_bound")
    metrics.inc("updates_rejected_total", 2, reason="norm_bound")
    metrics.inc("updates_accepted_total")
    metrics.set("model_accuracy", 0.91)
    text = metrics.render({"fetch.ok": 4})
    assert 'fedchain_updates_rejected_total{reason="norm_bound"} 3' in text
    assert "# TYPE fedchain_updates_accepted_total counter" in text
    assert "# TYPE fedchain_model_accuracy gauge\nfedchain_model_accuracy 0.91" in text
    assert 'fedchain_p2p_events_total{event="fetch.ok"} 4' in text
    assert metrics.as_dict()['updates_rejected_total{reason="norm_bound"}'] == 3


async def _get(host: str, port: int, path: str) -> bytes:
    stream = await trio.open_tcp_stream(host, port)
    await stream.send_all(f"GET {path} HTTP/1.0\r\n\r\n".encode())
    data = b""
    while chunk := await stream.receive_some(4096):
        data += chunk
    await stream.aclose()
    return data


def test_status_endpoint_serves_metrics_status_and_404(tmp_path: Path) -> None:
    async def main() -> list[bytes]:
        async with trio.open_nursery() as nursery:
            port = await nursery.start(
                serve_status, tmp_path, "127.0.0.1", 0, lambda: "m 1\n", lambda: '{"ok": 1}'
            )
            replies = [await _get("127.0.0.1", port, p) for p in ("/metrics", "/status", "/x")]
            nursery.cancel_scope.cancel()
        return replies

    metrics, status, missing = trio.run(main)
    assert metrics.startswith(b"HTTP/1.0 200 OK") and metrics.endswith(b"\r\n\r\nm 1\n")
    assert status.endswith(b'{"ok": 1}') and b"application/json" in status
    assert missing.startswith(b"HTTP/1.0 404")
    assert status_url(tmp_path).startswith("http://127.0.0.1:")

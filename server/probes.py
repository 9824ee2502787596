"""The metrics port: `/metrics` (Prometheus), `/healthz` and `/readyz` (HTTP probes), and
404 for any other path, so that a probe pointed at a wrong path fails instead of passing.

`/healthz` answers 200 while the process is up (a liveness probe: restart it when this
fails). `/readyz` answers 200 only while gRPC health would say SERVING (the default
ruleset is served and, under `--log-when-full block`, the decision log takes decisions),
503 otherwise, with each failing condition in a small JSON body (a readiness probe:
send no traffic while it fails).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

Readiness = Callable[[], tuple[bool, dict[str, str]]]


def serve_probes(
    registry: CollectorRegistry, port: int, host: str, ready: Readiness
) -> ThreadingHTTPServer:
    """Start the port's HTTP server in a daemon thread; returns it (`server_port`)."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "tierline"

        def do_GET(self) -> None:
            self._answer(body=True)

        def do_HEAD(self) -> None:
            self._answer(body=False)

        def _answer(self, body: bool) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                encode, kind = choose_encoder(self.headers.get("Accept", ""))
                self._send(200, kind, encode(registry), body)
            elif path == "/healthz":
                self._send(200, "application/json", b'{"status":"up"}\n', body)
            elif path == "/readyz":
                ok, failing = ready()
                text = orjson.dumps({"ready": ok, "failing": failing}) + b"\n"
                self._send(200 if ok else 503, "application/json", text, body)
            else:
                text = b"not found: this port serves /metrics, /healthz and /readyz\n"
                self._send(404, "text/plain; charset=utf-8", text, body)

        def _send(self, status: int, kind: str, data: bytes, body: bool) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body:
                self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # scrapes and probes every few seconds are not events

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(  # a short poll: a stop waits for it (`Metrics.close`)
        target=server.serve_forever, args=(0.1,), name="tierline-metrics", daemon=True
    ).start()
    return server

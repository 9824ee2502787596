"""uvicorn in a thread of the server's process: one process, one decision log, one
set of callers, certificates and rules for both ports.

The socket is bound here, before anything is served, so that a port that is taken
fails the start in one line, and `--http-port 0` has its port known at once. The
thread runs its own event loop (uvicorn sets no signal handlers outside the main
thread: SIGTERM stays the server's, which stops this port with the rest).
`stop` is graceful: no new connection is taken, calls in flight finish (the drain
has already let them end, `server/running.py`), keep-alive connections are closed,
all within a bound."""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

import uvicorn

from server.http.api import HttpApi
from server.http.tls import HttpCertificates, NamedH11Protocol
from server.logs import get_logger

log = get_logger("tierline.server")
START_S = 10.0  # the longest wait for the port to serve
STOP_S = 5  # the longest wait for its connections to close at a stop


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (OSError naming the address when it cannot be had)."""
    try:
        family, kind, proto, _name, address = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[
            0
        ]
        listener = socket.socket(family, kind, proto)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
        listener.listen(1024)
    except OSError as error:
        raise OSError(f"cannot serve HTTP on {host}:{port}: {error.strerror or error}") from None
    listener.set_inheritable(True)
    return listener


class HttpServer:
    """The HTTP/JSON port: started by `start`, stopped by `stop`."""

    def __init__(
        self, api: HttpApi, listener: socket.socket, certificates: HttpCertificates | None
    ):
        self.listener = listener
        self.port = int(listener.getsockname()[1])
        self.certificates = certificates
        config = uvicorn.Config(
            api.app(),
            http=NamedH11Protocol,
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=STOP_S,
            timeout_keep_alive=30,
            ssl_context_factory=self._ssl if certificates is not None else None,
        )
        logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, name="tierline-http", daemon=True)
        self.failed: BaseException | None = None

    def _ssl(self, _config: Any, _default: Any) -> Any:
        assert self.certificates is not None
        return self.certificates.listening

    def _run(self) -> None:
        try:
            self.server.run(sockets=[self.listener])
        except BaseException as error:  # said at start (below) or at the stop
            self.failed = error
            log.error("http_port_failed", error=repr(error))

    def start(self) -> None:
        """Serve; OSError when the port does not come up within `START_S`."""
        self.thread.start()
        deadline = time.monotonic() + START_S
        while not self.server.started:
            if self.failed is not None or not self.thread.is_alive():
                raise OSError(f"cannot serve HTTP on port {self.port}: {self.failed!r}")
            if time.monotonic() > deadline:
                self.stop()
                raise OSError(f"the HTTP port {self.port} did not come up in {START_S:.0f} s")
            time.sleep(0.01)

    def stop(self) -> None:
        """Take no new connection, let answers in flight go out, close the rest."""
        self.server.should_exit = True
        self.thread.join(STOP_S + 2)
        if self.thread.is_alive():  # past the bound: cut what is left
            self.server.force_exit = True
            self.thread.join(2)
        self.listener.close()


def start_http(settings: Any, classifier: Any, guard: Any, metrics: Any, drain: Any) -> HttpServer:
    """The HTTP/JSON port of `settings` over the gRPC port's servicer and guard, serving;
    CertificateProblem or OSError when it cannot."""
    assert settings.http_port is not None
    certificates = None
    if settings.tls_cert is not None and settings.tls_key is not None:
        certificates = HttpCertificates(
            settings.tls_cert, settings.tls_key, settings.tls_client_ca, metrics
        )
    api = HttpApi(classifier, guard, metrics, drain, settings.max_message_bytes)
    server = HttpServer(api, bind(settings.host, settings.http_port), certificates)
    server.start()
    return server

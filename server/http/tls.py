"""TLS on the HTTP port, as on the gRPC port: the same files, the same checks, the
same reload for new connections, the same client CA and the same caller names.

Python's `ssl` reads certificate files once per `SSLContext`. The listening
context's `sni_callback` runs in every handshake (with the client's server name, or
None when it sent none, as clients do for an IP address) before the certificate is
chosen; it looks at the files' stamps (a `stat` each, as the gRPC port does) and,
when they changed and the new set passes `load_files` (`server/security/tls.py`:
the key is the certificate's, the files parse), puts a context made from them on
the connection. Connections already open keep theirs. A set that does not pass is
refused once per change (an event and the gRPC port's metric say so) and the last
good one serves on, so a rotation never fails a handshake.

With `--tls-client-ca` a client must present a certificate that CA signed, or the
handshake fails. Its names (subject alternative names in order, else the common
name) are read once per connection, after the handshake, by `NamedH11Protocol`
and passed to each request's scope, where `api.py` hands them to the guard in
the auth-context keys gRPC uses."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from server.logs import get_logger
from server.metrics import Metrics
from server.security.tls import ReloadedFiles, load_files

log = get_logger("tierline.security")
PEER_NAMES = "tierline.client_certificate_names"  # the key in each request's scope state


class HttpCertificates:
    """The HTTP port's TLS contexts: the one that listens, and the one now served (made
    again by `security.tls.ReloadedFiles` when the files change, as on the gRPC port)."""

    def __init__(
        self, cert: Path, key: Path, client_ca: Path | None, metrics: Metrics | None = None
    ):
        self.paths = (cert, key, client_ca)
        self._files = ReloadedFiles(
            self.paths, self._load, lambda served: served[1], "http", metrics
        )  # raises: the start is refused
        self.listening = self._context()
        self.listening.sni_callback = self._choose

    @property
    def current(self) -> ssl.SSLContext:
        return self._files.current[0]

    @property
    def serial(self) -> int:
        return self._files.current[1]

    def _load(self) -> tuple[ssl.SSLContext, int]:
        cert, key, client_ca = self.paths
        serial = load_files(cert, key, client_ca).serial  # checked as the gRPC port checks
        return self._context(), serial

    def _context(self) -> ssl.SSLContext:
        """A server context of the files as they are (TLS 1.2 at least, HTTP/1.1)."""
        cert, key, client_ca = self.paths
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(cert, key)
        context.set_alpn_protocols(["http/1.1"])
        if client_ca is not None:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(cafile=str(client_ca))
        return context

    def _choose(self, connection: ssl.SSLObject, _name: str | None, _ctx: Any) -> None:
        """Before the certificate is sent: the context of the newest good files. Never
        raises (a raise would fail the handshake)."""
        try:
            connection.context = self.fresh()
        except Exception as error:  # the set that works keeps serving
            log.error("http_tls_certificate_check_failed", error=repr(error))
            connection.context = self.current

    def fresh(self) -> ssl.SSLContext:
        """The context to serve: made again when the files changed and the new set is good."""
        (context, serial), new = self._files.fresh()
        if new:
            log.info("tls_certificate_reloaded", port="http", serial=f"{serial:x}")
        return context


def peer_names(certificate: dict[str, Any] | None) -> dict[str, list[bytes]]:
    """A verified peer certificate (`SSLObject.getpeercert()`) in the auth-context keys
    gRPC fills: `x509_subject_alternative_name` (every name, in order) and
    `x509_common_name`."""
    if not certificate:
        return {}
    sans = [str(value).encode() for _kind, value in certificate.get("subjectAltName", ())]
    common = [
        str(value).encode()
        for rdn in certificate.get("subject", ())
        for key, value in rdn
        if key == "commonName"
    ]
    auth: dict[str, list[bytes]] = {}
    if sans:
        auth["x509_subject_alternative_name"] = sans
    if common:
        auth["x509_common_name"] = common
    return auth


class NamedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, which also passes the verified client certificate's
    names to every request of the connection (in the scope's `state`)."""

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:  # the handshake is done when asyncio calls this
            names = peer_names(ssl_object.getpeercert())
            self.app_state = {**self.app_state, PEER_NAMES: names}

"""TLS and mutual TLS on the gRPC port, with certificate files re-read when they change.

gRPC asks `CertificateFiles.fetch` before every new connection's handshake
(`grpc.dynamic_ssl_server_credentials`). It looks at the files' size, time and
inode (a `stat` each: cheap next to a handshake) and, when they changed, reads
them, checks that they go together, and hands gRPC the new configuration: new
connections get the new certificate, connections already open keep theirs and
their calls are untouched.

Files are rarely replaced at once: `cp new.crt tls.crt; cp new.key tls.key` leaves
a moment when the certificate is new and the key old, or a file half written. A
set that does not parse, or whose key is not the certificate's, is refused (an
event and a metric say why) and the last good set keeps serving, so a rotation
never fails a handshake; the set is tried again as soon as a file changes once
more. Kubernetes' secret volumes swap a symlink: a new inode, seen the same way.

The caller's name under mutual TLS is the client certificate's subject
alternative name (the first, in the certificate's order), else its common name,
read from the call's auth context after gRPC verified the certificate against
`--tls-client-ca`.
"""

from __future__ import annotations

import datetime
import hashlib
import ssl
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from server.logs import get_logger
from server.metrics import Metrics
from server.security.callers import file_stamp as _stamp

log = get_logger("tierline.security")
EXPIRY_WARNING = datetime.timedelta(days=14)  # a start this close to expiry warns

Stamp = tuple[tuple[int, int, int, int] | None, ...]


class CertificateProblem(Exception):
    """The certificate files cannot be served: what is wrong and where (one line)."""


@dataclass(frozen=True)
class Served:
    """One good set of files, as gRPC takes it."""

    configuration: grpc.ServerCertificateConfiguration
    serial: int
    subject: str
    not_after: datetime.datetime
    client_cas: int  # certificates in --tls-client-ca (0: no mutual TLS)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise CertificateProblem(f"cannot read {what} {path}: {error.strerror}") from None


def load_files(cert: Path, key: Path, client_ca: Path | None) -> Served:
    """Read and check one set: a certificate chain, the private key of its first
    certificate, and the client CA's certificates. CertificateProblem says what is wrong."""
    chain_pem = _read(cert, "--tls-cert")
    key_pem = _read(key, "--tls-key")
    try:
        chain = x509.load_pem_x509_certificates(chain_pem)
    except ValueError:
        raise CertificateProblem(f"--tls-cert {cert}: not a PEM certificate") from None
    try:
        private: PrivateKeyTypes = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        raise CertificateProblem(f"--tls-key {key}: not an unencrypted PEM private key") from None
    leaf = chain[0]
    if _public(private) != leaf.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        raise CertificateProblem(
            f"--tls-key {key} is not the key of the certificate in --tls-cert {cert}"
        )
    roots = None
    client_cas = 0
    if client_ca is not None:
        roots = _read(client_ca, "--tls-client-ca")
        try:
            client_cas = len(x509.load_pem_x509_certificates(roots))
        except ValueError:
            raise CertificateProblem(f"--tls-client-ca {client_ca}: not PEM certificates") from None
    configuration = grpc.ssl_server_certificate_configuration(
        [(key_pem, chain_pem)], root_certificates=roots
    )
    return Served(
        configuration,
        int(leaf.serial_number),
        leaf.subject.rfc4514_string(),
        leaf.not_valid_after_utc,
        client_cas,
    )


def _public(key: PrivateKeyTypes) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


Made = TypeVar("Made")


class ReloadedFiles(Generic[Made]):
    """What the certificate files give (`make`: gRPC's configuration, or an SSL context),
    made again when one of the files changes. Both ports ask `fresh()` before each
    handshake (gRPC's fetcher, the HTTP port's SNI hook): a changed set that does not load
    is refused once (logged, counted) and the last good one keeps serving; `make` raising
    at the start refuses the start."""

    def __init__(
        self,
        paths: tuple[Path, Path, Path | None],
        make: Callable[[], Made],
        serial: Callable[[Made], int],
        port: str,
        metrics: Metrics | None = None,
    ):
        self.paths = paths
        self.metrics = metrics
        self._make, self._serial, self._port = make, serial, port
        self._lock = threading.Lock()
        self._stamp = self._stamps()
        self._refused: Stamp | None = None
        self._content = self._contents()
        self.current = make()

    def fresh(self) -> tuple[Made, bool]:
        """The newest good set, and whether it was made by this question."""
        stamp = self._stamps()
        if stamp == self._stamp or stamp == self._refused:
            return self.current, False
        with self._lock:
            if stamp == self._stamp:  # another handshake loaded it meanwhile
                return self.current, False
            content = self._contents()
            if content == self._content:
                # The same bytes under a new stamp: a write seen half-way (truncated, then
                # written: two stamps, one content) or a touch. Nothing to load or to say.
                self._stamp = stamp
                return self.current, False
            try:
                made = self._make()
            except (CertificateProblem, ssl.SSLError, OSError) as problem:
                self._refused = stamp
                log.error(
                    "tls_certificate_refused",
                    port=self._port,
                    problem=str(problem),
                    serving_serial=f"{self._serial(self.current):x}",
                )
                self._count("refused")
                return self.current, False
            self._stamp, self._refused, self.current = stamp, None, made
            self._content = content
            self._count("loaded")
            return made, True

    def _stamps(self) -> Stamp:
        return tuple(_stamp(p) for p in self.paths if p is not None)

    def _contents(self) -> bytes:
        """A digest of the files' bytes (taken before `make` reads them: a change while
        it reads gives a later digest that differs, so the next handshake loads again)."""
        digest = hashlib.sha256()
        for path in self.paths:
            if path is not None:
                try:
                    data = path.read_bytes()
                except OSError:
                    data = b"\0missing"
                digest.update(len(data).to_bytes(8, "big") + data)
        return digest.digest()

    def _count(self, result: str) -> None:
        if self.metrics is not None:
            self.metrics.tls_reloads.labels(result).inc()


class CertificateFiles:
    """The served set, and gRPC's fetcher that replaces it when the files change."""

    def __init__(
        self, cert: Path, key: Path, client_ca: Path | None, metrics: Metrics | None = None
    ):
        self.paths = (cert, key, client_ca)
        self.metrics = metrics
        self._files = ReloadedFiles(
            self.paths, lambda: load_files(cert, key, client_ca), _serial, "grpc", metrics
        )  # raises: the start is refused
        self._said(self.served, "tls_certificate_loaded")
        left = self.served.not_after - datetime.datetime.now(datetime.UTC)
        if left < EXPIRY_WARNING:
            log.warning(
                "tls_certificate_expires_soon",
                serial=f"{self.served.serial:x}",
                not_after=self.served.not_after.isoformat(),
                days_left=round(left.total_seconds() / 86400, 1),
            )

    @property
    def served(self) -> Served:
        return self._files.current

    @property
    def mutual(self) -> bool:
        return self.paths[2] is not None

    def credentials(self) -> grpc.ServerCredentials:
        return grpc.dynamic_ssl_server_credentials(
            self.served.configuration,
            # None keeps the configuration (grpc's documentation; its stubs say otherwise)
            cast(Callable[[], grpc.ServerCertificateConfiguration], self.fetch),
            require_client_authentication=self.mutual,
        )

    def fetch(self) -> grpc.ServerCertificateConfiguration | None:
        """gRPC's question before each handshake: a new configuration, or None to keep
        the one it has. Never raises (gRPC would fail the handshake)."""
        try:
            served, new = self._files.fresh()
            if not new:
                return None
            self._said(served, "tls_certificate_reloaded")
            return served.configuration
        except Exception as error:  # whatever it is, the set that works keeps serving
            log.error("tls_certificate_check_failed", error=repr(error))
            return None

    def _said(self, served: Served, event: str) -> None:
        if self.metrics is not None:
            self.metrics.tls_not_after.set(served.not_after.timestamp())
        log.info(
            event,
            serial=f"{served.serial:x}",
            subject=served.subject,
            not_after=served.not_after.isoformat(),
            client_cas=served.client_cas,
        )


def _serial(served: Served) -> int:
    return served.serial


def certificate_names(auth: Mapping[str, Any]) -> list[str]:
    """A verified client certificate's names from the call's auth context (each key holds
    a list of bytes): its subject alternative names in order, else its common name; []
    without a certificate."""
    sans = auth.get("x509_subject_alternative_name") or ()
    names = [n.decode("utf-8", "replace") for n in sans]
    if names:
        return names
    return [n.decode("utf-8", "replace") for n in auth.get("x509_common_name") or ()][:1]

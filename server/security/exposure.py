"""Plaintext stays on this machine: without TLS the service binds only loopback
addresses, unless `--insecure` says that something else on the path does TLS
(a sidecar, a service mesh). Refused at start, in one line with the fix, before
anything is loaded or started: a server that would have answered the network in
plaintext never answers once."""

from __future__ import annotations

import ipaddress
import socket

from server.archive import StartRefused
from server.settings import Settings


def loopback_only(host: str) -> bool:
    """Whether every address `host` names is a loopback address (127.0.0.0/8, ::1).
    A wildcard (0.0.0.0, ::, empty) or a name that does not resolve is not."""
    bare = host.strip().removeprefix("[").removesuffix("]")
    if not bare:
        return False
    try:
        return ipaddress.ip_address(bare).is_loopback
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(bare, None, 0, socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return False
    addresses = {str(info[4][0]).split("%", 1)[0] for info in found}
    return bool(addresses) and all(ipaddress.ip_address(a).is_loopback for a in addresses)


def refuse_plaintext_beyond_loopback(settings: Settings) -> None:
    """StartRefused when the settings would serve plaintext to other machines."""
    if settings.tls or settings.insecure or loopback_only(settings.host):
        return
    raise StartRefused(
        f"--host {settings.host} would serve plaintext gRPC beyond this machine; give "
        "--tls-cert FILE --tls-key FILE, or --host 127.0.0.1, or --insecure if TLS ends "
        "before tierline (a sidecar or mesh)"
    )


def authentication(settings: Settings) -> list[str]:
    """How callers are identified: "tokens", "certificates", both, or none ([])."""
    ways = []
    if settings.auth_tokens is not None:
        ways.append("tokens")
    if settings.tls_client_ca is not None:
        ways.append("certificates")
    return ways

"""Callers and their roles: the `--auth-tokens` file, re-read when it changes.

One caller a line, `#` comments and blank lines ignored:

    NAME ROLE[,ROLE...] sha256:HEX    a caller by bearer token (HEX: the token's SHA-256)
    NAME ROLE[,ROLE...] cert          a caller by client certificate (mutual TLS), NAME
                                      being a name of the certificate (SAN, else CN)

The file holds digests, never tokens: reading it does not let anyone call. A
name may have several token lines (an old and a new token while callers move to
the new one, as SpiceDB takes several preshared keys); a digest may belong to one
caller only. Roles are `classify`, `read` and `validate` (`server/security/guard.py`
says which methods need which).

The file is looked at again at most every `CHECK_S` (by the call that comes after),
and read again when its size, time or inode changed, so that a token is added or
revoked without a restart, within about a second. At start a bad line refuses the
start; later, a bad line is left out and said (by line number: a line may hold a
pasted token, so no field of it is ever quoted), and the good lines apply, so that
a typo can revoke a caller but never let anyone in. A file that cannot be read
keeps the callers read last (an error event says so).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from server.logs import get_logger

if TYPE_CHECKING:  # `tierline token` imports this module: no metrics, no gRPC
    from server.metrics import Metrics

log = get_logger("tierline.security")

ROLES = ("classify", "read", "validate")
# `tierline studio --auth-tokens FILE` reads the same format with its own roles: `view`
# (see the files, the sample and the impact) and `edit` (also save, and remember a
# column mapping); a studio file is its own file, never the service's.
STUDIO_ROLES = ("view", "edit")
CHECK_S = 0.5  # how often a call looks whether the file changed
TOKEN_PREFIX = "tl_"  # tokens `tierline token new` makes: easy to find by secret scanners
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@:/+=-]{0,254}")
_DIGEST = re.compile(r"sha256:([0-9a-fA-F]{64})")


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: a token's or a certificate's name, and what it may do."""

    name: str
    roles: frozenset[str]
    by: str  # "token" or "cert"


class CallersProblem(Exception):
    """The file cannot be used: one line each problem (a start refuses it)."""


@dataclass(frozen=True)
class Callers:
    """One reading of the file."""

    tokens: tuple[tuple[bytes, Caller], ...] = ()  # (SHA-256 of the token, caller)
    certificates: dict[str, Caller] | None = None  # certificate name -> caller

    def by_token(self, token: str) -> Caller | None:
        """The caller whose digest is the token's, compared in constant time: every
        digest is compared, whatever matched, so timing says nothing of which matched."""
        presented = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
        found: Caller | None = None
        for digest, caller in self.tokens:
            if hmac.compare_digest(digest, presented):
                found = caller
        return found

    def by_certificate(self, names: Iterable[str]) -> Caller | None:
        """The first of a certificate's names that has a `cert` line."""
        known = self.certificates or {}
        for name in names:
            caller = known.get(name)
            if caller is not None:
                return caller
        return None


def parse_callers(text: str, allowed: tuple[str, ...] = ROLES) -> tuple[Callers, list[str]]:
    """The callers of a file's text, and its problems ("line N: ...", quoting nothing
    of the line but a role name that is a plain word). `allowed`: the roles a line may
    give (the service's by default; the studio's `view` and `edit` for `tierline studio`,
    which reads the same file format)."""
    tokens: list[tuple[bytes, Caller]] = []
    certificates: dict[str, Caller] = {}
    seen: dict[bytes, int] = {}
    problems: list[str] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) != 3:
            problems.append(
                f"line {number}: {len(fields)} fields; a line is NAME ROLE[,ROLE...] "
                "sha256:HEX (or cert)"
            )
            continue
        name, roles_text, credential = fields
        if not NAME.fullmatch(name):
            problems.append(
                f"line {number}: the name has characters other than letters, digits "
                "and . _ @ : / + = -"
            )
            continue
        roles, wrong = _roles(roles_text, allowed)
        if wrong:
            problems.append(f"line {number}: {wrong}")
            continue
        if credential == "cert":
            if name in certificates:
                problems.append(f"line {number}: the certificate name {name} has a line above")
                continue
            certificates[name] = Caller(name, roles, "cert")
            continue
        matched = _DIGEST.fullmatch(credential)
        if matched is None:
            problems.append(
                f"line {number}: the third field must be sha256: and 64 hex digits (the "
                "token's SHA-256, never the token; `tierline token new` prints the line) "
                "or cert"
            )
            continue
        digest = bytes.fromhex(matched.group(1))
        if digest in seen:
            problems.append(f"line {number}: the same digest as line {seen[digest]}")
            continue
        seen[digest] = number
        tokens.append((digest, Caller(name, roles, "token")))
    return Callers(tuple(tokens), certificates), problems


def _roles(text: str, allowed: tuple[str, ...]) -> tuple[frozenset[str], str]:
    roles = [r for r in text.split(",") if r]
    unknown = [r for r in roles if r not in allowed]
    if not roles:
        return frozenset(), "no role; give one or more of " + ", ".join(allowed)
    if unknown:
        named = unknown[0] if re.fullmatch(r"[a-z_]{1,20}", unknown[0]) else "a role"
        return frozenset(), f"unknown role {named}; roles are " + ", ".join(allowed)
    return frozenset(roles), ""


def read_callers(path: Path, allowed: tuple[str, ...] = ROLES) -> Callers:
    """At start: the file's callers, or CallersProblem naming every bad line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        why = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise CallersProblem(f"cannot read --auth-tokens {path}: {why}") from None
    callers, problems = parse_callers(text, allowed)
    if problems:
        raise CallersProblem(f"--auth-tokens {path}: " + "; ".join(problems))
    return callers


class CallersFile:
    """The file's callers now: read at start, read again when it changes."""

    def __init__(
        self, path: Path, metrics: Metrics | None = None, allowed: tuple[str, ...] = ROLES
    ):
        self.path = path
        self.metrics = metrics
        self.allowed = allowed
        self._lock = threading.Lock()
        self._stamp = file_stamp(path)
        self.callers = read_callers(path, allowed)  # raises CallersProblem: the start is refused
        self._next_check = time.monotonic() + CHECK_S

    def current(self) -> Callers:
        """The callers, first read again if the file changed (looked at every `CHECK_S`)."""
        if time.monotonic() >= self._next_check and self._lock.acquire(blocking=False):
            try:  # one call looks; the others go on with what was read
                self._next_check = time.monotonic() + CHECK_S
                self._refresh()
            finally:
                self._lock.release()
        return self.callers

    def _refresh(self) -> None:
        stamp = file_stamp(self.path)
        if stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            why = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
            log.error(
                "auth_tokens_unreadable",
                path=str(self.path),
                error=why,
                kept="the callers read last",
            )
            self._count("unreadable")
            return
        callers, problems = parse_callers(text, self.allowed)
        self.callers = callers
        if problems:
            log.error("auth_tokens_lines_left_out", path=str(self.path), problems=problems)
        self._count("problems" if problems else "loaded")
        log.info(
            "auth_tokens_loaded",
            path=str(self.path),
            tokens=len(callers.tokens),
            certificates=len(callers.certificates or {}),
        )

    def _count(self, result: str) -> None:
        if self.metrics is not None:
            self.metrics.callers_reloads.labels(result).inc()


def file_stamp(path: Path) -> tuple[int, int, int, int] | None:
    """What tells a changed file (a replaced one: a new inode), or None when it is gone."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino, st.st_dev)


def new_token() -> str:
    """A fresh random token: 256 bits, URL-safe, with a prefix secret scanners can match."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_line(name: str, roles: Iterable[str], token: str) -> str:
    """The `--auth-tokens` line of a token: its name, roles and SHA-256, never the token."""
    digest = hashlib.sha256(token.encode("utf-8")).hexdigest()
    return f"{name} {','.join(roles)} sha256:{digest}"

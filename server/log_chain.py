"""The decision log's hash chain and signed checkpoints: written by the log writer,
checked by `tierline audit verify` (`server/log_verify.py`), which takes every
definition from here: one definition, read by both.

A chained line is the JSON object the log would hold without signing, with one
member appended last: `{…,"chain":"HEX"}` + newline. Its *canonical bytes* are
the line without that member: the bytes before `,"chain":"`, then `}`. Its
chain is the lowercase hex SHA-256 of the previous line's chain (64 ASCII
characters; 64 zeros before the first line of a new log) followed by its
canonical bytes. A `checkpoint` line signs, with Ed25519, the text
`tierline-checkpoint-v1\\n{head}\\n{lines}\\n{file_seq}\\n{ts}\\n{file}` where
`head` is the chain of the line before it and `lines` the number of lines of
its file before it; the checkpoint is itself a chained line. Each file starts
with `chain_start` (`prev_chain`: the chain it continues, `file_seq`: 1, 2, …
along rotations); a writer that restarts on a file writes `chain_resumed`
(`prev_chain`, and `cut_line` when the dead writer left a line unfinished: that
line's raw bytes are then chained as they are). No JSON parser is needed to
chain or check a line: only the fixed tail of its bytes.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
from typing import Any

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from engine.decision import iso_ts_bytes

ZERO = b"0" * 64
MARK = b',"chain":"'
TAIL = len(MARK) + 64 + 2  # ,"chain":"HEX"}
CHECKPOINT_EVERY_S = 10.0
CHECKPOINT_EVERY_LINES = 100_000
SIGNED_PREFIX = "tierline-checkpoint-v1"


class KeyProblem(Exception):
    """A key file that cannot be used (said in one sentence)."""


def key_id(public: Ed25519PublicKey) -> str:
    """The first 16 hex digits of the SHA-256 of the raw 32-byte public key."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_private_key(data: bytes, where: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as error:
        raise KeyProblem(f"{where} is not an unencrypted PEM private key: {error}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyProblem(f"{where} holds a {type(key).__name__}, not an Ed25519 key")
    return key


def load_public_key(data: bytes, where: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as error:
        raise KeyProblem(f"{where} is not a PEM public key: {error}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyProblem(f"{where} holds a {type(key).__name__}, not an Ed25519 key")
    return key


def chain_of(prev: bytes, canonical_body: bytes | memoryview) -> bytes:
    """The chain of a line whose canonical bytes are `canonical_body` + `}`."""
    digest = hashlib.sha256(prev)
    digest.update(canonical_body)
    digest.update(b"}")
    return digest.hexdigest().encode()


def signed_text(head: str, lines: int, file_seq: int, ts: str, file: str) -> bytes:
    return f"{SIGNED_PREFIX}\n{head}\n{lines}\n{file_seq}\n{ts}\n{file}".encode()


def split_line(line: bytes) -> tuple[bytes, bytes] | None:
    """(canonical body without its final `}`, claimed chain) of a chained line (without
    its newline); None when the line has no chain member at its end."""
    if len(line) < TAIL + 2 or line[-TAIL:-66] != MARK or line[-2:] != b'"}':
        return None
    return line[:-TAIL], line[-66:-2]


# ------------------------------------------------------------------ the writer's side


class Chain:
    """The writer's chain: seals lines, and makes checkpoint and start lines."""

    def __init__(self, key: Ed25519PrivateKey, file: str, every_s: float = CHECKPOINT_EVERY_S):
        self.every_s = min(every_s, CHECKPOINT_EVERY_S)
        self.key = key
        self.key_id = key_id(key.public_key())
        self.file = os.path.basename(file) if file != "-" else "-"
        self.head = ZERO
        self.file_seq = 0
        self.lines = 0  # lines of the current file
        self.since = 0  # lines since the last checkpoint
        self.checked_at = time.monotonic()

    def seal(self, data: bytes) -> bytes:
        """Lines (each ending in `}` and a newline) with their chain members."""
        out = bytearray()
        self.seal_into(out, data)
        return bytes(out)

    def seal_into(self, out: bytearray, data: bytes) -> None:
        """`seal`, appending to `out` (the writer's backlog). Each line is hashed as the
        encoder made it (its bytes up to its newline are its canonical bytes: it ends
        in `}`) through a view, and appended to `out` in two pieces: the line without
        its `}`, then `,"chain":"HEX"}` and the newline. Nothing else is allocated a
        line: no copy of the batch, no room made in advance (a bytearray grows by
        amortised steps; a zeroed batch-sized block cost page faults each batch), which
        took the cost from 4.0 to 1.9 µs a 1.5 KB line, of which SHA-256 is 1.5."""
        if not data:
            return
        sha256, find, mark = hashlib.sha256, data.find, MARK
        view = memoryview(data)
        head = self.head
        start = count = 0
        while (end := find(b"\n", start)) >= 0:
            digest = sha256(head)
            digest.update(view[start:end])
            head = digest.hexdigest().encode()
            out += view[start : end - 1]
            out += mark + head + b'"}\n'
            start = end + 1
            count += 1
        view.release()
        self.head = head
        self.lines += count
        self.since += count

    def _event(self, event: str, fields: dict[str, Any]) -> bytes:
        ts = iso_ts_bytes(time.time_ns()).decode()
        body = {"event": event, "ts": ts, "level": "info", "logger": "tierline.decisions"}
        return self.seal(orjson.dumps({**body, **fields}) + b"\n")

    def start(self, reason: str) -> bytes:
        """The first line of a new file: it continues the chain of the file before."""
        self.file_seq += 1
        self.lines = 0
        fields = {"prev_chain": self.head.decode(), "file_seq": self.file_seq}
        return self._event("chain_start", {**fields, "reason": reason, "key_id": self.key_id})

    def checkpoint(self, reason: str) -> bytes:
        """A signed checkpoint over the head; b"" when nothing was written since the last."""
        if not self.since and reason == "interval":
            self.checked_at = time.monotonic()
            return b""
        ts = iso_ts_bytes(time.time_ns()).decode()
        head = self.head.decode()
        signature = self.key.sign(signed_text(head, self.lines, self.file_seq, ts, self.file))
        fields = {
            "event": "checkpoint",
            "ts": ts,
            "level": "info",
            "logger": "tierline.decisions",
            "head": head,
            "lines": self.lines,
            "file_seq": self.file_seq,
            "file": self.file,
            "reason": reason,
            "key_id": self.key_id,
            "signature": base64.b64encode(signature).decode(),
        }
        line = self.seal(orjson.dumps(fields) + b"\n")
        self.since = 0
        self.checked_at = time.monotonic()
        return line

    def due(self, now: float) -> str:
        """Why a checkpoint is due now ("" when none is)."""
        if self.since >= CHECKPOINT_EVERY_LINES:
            return "lines"
        if self.since and now - self.checked_at >= self.every_s:
            return "interval"
        return ""

    def open_on(self, path: str) -> bytes:
        """At the writer's start: continue the chain the file at `path` ends with (a
        `chain_resumed` line), or start one (`chain_start`)."""
        tail = read_tail(path) if path != "-" else None
        if tail is None:
            return self.start("new")
        self.head, self.file_seq, self.lines, cut = tail
        if cut is not None:
            self.head = raw_chain(self.head, cut)
            self.lines += 1
        fields: dict[str, Any] = {"prev_chain": self.head.decode(), "file_seq": self.file_seq}
        if cut is not None:
            fields["cut_line"] = True
        self.since = 1  # the lines after the last checkpoint are signed by the next one
        return self._event("chain_resumed", {**fields, "key_id": self.key_id})


def raw_chain(prev: bytes, raw: bytes) -> bytes:
    """The chain of a line cut by a crash: its raw bytes, as they are, after `prev`."""
    return hashlib.sha256(prev + raw).hexdigest().encode()


def read_tail(path: str) -> tuple[bytes, int, int, bytes | None] | None:
    """(head, file_seq, lines, cut line or None) of the chain a file ends with, reading
    back only to its last checkpoint or start; None when it holds no chain."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if not size:
                return None
            lines_back: list[bytes] = []
            end, rest = size, b""
            while end > 0:
                start = max(0, end - (1 << 20))
                handle.seek(start)
                block = handle.read(end - start) + rest
                end = start
                pieces = block.split(b"\n")
                rest = pieces[0] if end > 0 else b""
                found = _scan_back(pieces[1:] if end > 0 else pieces, lines_back)
                if found is not None:
                    return found
    except OSError:
        return None
    return None


def _scan_back(
    pieces: list[bytes], after: list[bytes]
) -> tuple[bytes, int, int, bytes | None] | None:
    """Look back through `pieces` (lines of a block, last first) for the last checkpoint
    or chain start; `after` collects the lines seen after it (last first)."""
    for line in reversed(pieces):
        if line.startswith(b'{"event":"checkpoint"') or line.startswith(b'{"event":"chain_'):
            try:
                event = orjson.loads(line)
            except orjson.JSONDecodeError:
                after.append(line)
                continue
            if split_line(line) is None:
                after.append(line)
                continue
            base = int(event.get("lines", 0)) + 1 if event["event"] == "checkpoint" else 1
            if event["event"] == "chain_resumed":
                after.append(line)
                continue
            return _tail_from(line, int(event["file_seq"]), base, after)
        after.append(line)
    return None


def _tail_from(
    anchor: bytes, file_seq: int, base: int, after: list[bytes]
) -> tuple[bytes, int, int, bytes | None]:
    later = list(reversed(after))
    cut = None
    if later and later[-1] == b"":
        later.pop()  # the file ends with a newline
    elif later and split_line(later[-1]) is None:
        cut = later.pop()  # a line the dead writer did not finish
    split = split_line(anchor)
    assert split is not None
    head = split[1]
    lines = base
    for line in later:
        parts = split_line(line)
        if parts is not None:
            head = parts[1]
        elif line:
            head = raw_chain(head, line)
        lines += 1
    return head, file_seq, lines, cut

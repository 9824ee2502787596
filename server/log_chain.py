"""The decision log's hash chain and signed checkpoints: written by the log writer,
checked by `tierline audit verify`. One module, so that both read one definition.

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
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from engine.decision import iso_ts_bytes

ZERO = b"0" * 64
MARK = b',"chain":"'
TAIL = len(MARK) + 64 + 2  # ,"chain":"HEX"}
CHECKPOINT_EVERY_S = 10.0
CHECKPOINT_EVERY_LINES = 100_000
SIGNED_PREFIX = "tierline-checkpoint-v1"
MAX_PROBLEMS = 1000


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
        """`seal`, appending to `out` (the writer's backlog). One pass over the bytes,
        hashing views of them, each line copied once, into room made for all of them
        at once: fresh memory is what costs most here, more than the hashing."""
        if not data:
            return
        count = data.count(b"\n")
        at = len(out)
        out.extend(bytes(len(data) + (TAIL - 1) * count))  # TAIL - 2 + newline - `}\n`
        sha256, find, mark = hashlib.sha256, data.find, MARK
        view, target = memoryview(data), memoryview(out)
        head = self.head
        start = 0
        while (end := find(b"\n", start)) >= 0:
            body = view[start : end - 1]
            digest = sha256(head)
            digest.update(body)
            digest.update(b"}")
            head = digest.hexdigest().encode()
            size = end - 1 - start
            target[at : at + size] = body
            at += size
            target[at : at + TAIL + 1] = mark + head + b'"}\n'
            at += TAIL + 1
            start = end + 1
        view.release()
        target.release()
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
            self.head = _raw_chain(self.head, cut)
            self.lines += 1
        fields: dict[str, Any] = {"prev_chain": self.head.decode(), "file_seq": self.file_seq}
        if cut is not None:
            fields["cut_line"] = True
        self.since = 1  # the lines after the last checkpoint are signed by the next one
        return self._event("chain_resumed", {**fields, "key_id": self.key_id})


def _raw_chain(prev: bytes, raw: bytes) -> bytes:
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
            head = _raw_chain(head, line)
        lines += 1
    return head, file_seq, lines, cut


# ----------------------------------------------------------------- the verifier's side

KINDS = (
    "edited",
    "inserted",
    "removed",
    "moved",
    "truncated",
    "missing-file",
    "bad-signature",
    "unsigned-tail",
)


@dataclass
class Problem:
    file: str
    line: int
    kind: str
    detail: str = ""
    count: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"file": self.file, "line": self.line, "kind": self.kind}
        if self.count is not None:
            out["count"] = self.count
        if self.detail:
            out["detail"] = self.detail
        return out


@dataclass
class Verdict:
    lines: int = 0
    checkpoints: int = 0
    cut_lines: int = 0
    problems: list[Problem] = field(default_factory=list)
    key_id: str = ""
    focus_verified: bool | None = None  # the line of `focus`, when one was asked about
    focus_where: str = ""
    more_problems: int = 0

    @property
    def intact(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "intact": self.intact,
            "lines": self.lines,
            "problems": [p.to_dict() for p in self.problems],
        }


@dataclass
class _Line:
    number: int
    raw: bytes  # without its newline
    body: bytes | None  # canonical bytes without `}`; None when the line has no chain
    claimed: bytes


def _first_ts(path: Path) -> str:
    try:
        with open(path, "rb") as handle:
            first = handle.readline()
        return str(orjson.loads(first).get("ts", ""))
    except (OSError, orjson.JSONDecodeError, AttributeError):
        return ""


def order_files(paths: Iterable[Path]) -> list[Path]:
    """Rotated files in the order they were written: by their first line's time."""
    return sorted(paths, key=_first_ts)


class Verifier:
    """Streams files in order, keeping only the head, counts and a window of 3 lines: a
    line whose chain holds takes one hash; a break is classified by the two lines after
    it and by the count the next checkpoint signs."""

    def __init__(self, public: Ed25519PublicKey, focus: bytes = b""):
        self.public = public
        self.key_id = key_id(public)
        self.verdict = Verdict(key_id=self.key_id)
        self.head: bytes | None = None
        self.file_seq = 0
        self.focus = focus
        self.file = ""
        self._focus_seen = ""  # where the focused line is, until a checkpoint signs it
        self._segment_bad = False  # a problem since the last checkpoint
        self._pending: list[Problem] = []  # breaks: edited or removed, said at the checkpoint
        self._swap: tuple[int, bytes] | None = None  # after a moved line: its partner's
        # line number, and the head the chain runs on from after it
        self._since = 0  # lines since the last checkpoint
        self._since_start = 0
        self._shift = 0  # lines removed (+) or inserted (-) in this file, said already
        self._cut_file = False  # the file before ended without its checkpoint (said)

    def problem(self, line: int, kind: str, detail: str, count: int | None = None) -> None:
        self._segment_bad = True
        problems = self.verdict.problems
        last = problems[-1] if problems else None
        if (
            last is not None
            and count is None
            and (last.file, last.kind) == (self.file, kind)
            and last.line + (last.count or 1) == line
        ):
            last.count = (last.count or 1) + 1  # a run of lines: one problem with its length
            return
        if len(problems) < MAX_PROBLEMS:
            problems.append(Problem(self.file, line, kind, detail, count))
        else:
            self.verdict.more_problems += 1

    def run(self, paths: list[Path]) -> Verdict:
        for index, path in enumerate(paths):
            self.file = str(path)
            self._file(path, last=index == len(paths) - 1)
        return self.verdict

    def _file(self, path: Path, last: bool) -> None:
        sha256, mark = hashlib.sha256, MARK
        ahead: deque[bytes] = deque()
        number = 0
        self._shift = 0
        with open(path, "rb", buffering=1 << 20) as handle:
            lines = iter(handle)
            head = self.head
            focus = self.focus
            quick = head is not None and self._swap is None
            since, since_start = self._since, self._since_start
            while True:
                line = ahead.popleft() if ahead else next(lines, None)
                if line is None:
                    break
                number += 1
                # the common case, inline: a decision line whose chain holds
                if (
                    quick
                    and line[-77:-67] == mark
                    and not line.startswith(b'{"event"')
                    and not (focus and focus in line)
                ):
                    digest = sha256(head)  # type: ignore[arg-type]
                    digest.update(line[:-77])
                    digest.update(b"}")
                    chained = digest.hexdigest().encode()
                    if chained == line[-67:-3]:
                        head = chained
                        if not since:
                            since_start = number
                        since += 1
                        continue
                while len(ahead) < 2:
                    more = next(lines, None)
                    if more is None:
                        break
                    ahead.append(more)
                window = [_line(number + i, raw) for i, raw in enumerate([line, *ahead])]
                self.head, self._since, self._since_start = head, since, since_start
                self._take(window)
                head, since, since_start = self.head, self._since, self._since_start
                focus = self.focus
                quick = head is not None and self._swap is None
        self.head, self._since, self._since_start = head, since, since_start
        self.verdict.lines += number
        if self._since:
            if last:
                self.problem(
                    self._since_start,
                    "unsigned-tail",
                    "lines after the last checkpoint",
                    self._since,
                )
            else:
                self.problem(number, "truncated", "the file does not end with a checkpoint")
                self._cut_file = True
            self._since = 0
        self._said(self._pending)  # no checkpoint follows to count them: edited
        self._pending = []

    def _said(self, problems: list[Problem]) -> None:
        room = MAX_PROBLEMS - len(self.verdict.problems)
        self.verdict.problems.extend(problems[: max(0, room)])
        self.verdict.more_problems += max(0, len(problems) - max(0, room))

    def _take(self, window: list[_Line]) -> None:
        item = window[0]
        if self.focus and self.focus in item.raw:
            self._focus_seen = f"{self.file}:{item.number}"
        if not self._since:
            self._since_start = item.number
        self._since += 1
        if item.body is None:
            self._unchained(window)
            return
        if item.raw.startswith(b'{"event":"chain_start"'):
            self._file_start(item)
        before = self.head
        if before is not None and chain_of(before, item.body) != item.claimed:
            self._break(window)
        self.head = item.claimed
        if self._swap is not None and self._swap[0] == item.number:
            self.head, self._swap = self._swap[1], None
        if item.raw.startswith(b'{"event":"checkpoint"'):
            self._checkpoint(item, before)

    def _unchained(self, window: list[_Line]) -> None:
        item = window[0]
        following = window[1] if len(window) > 1 else None
        if (
            following is not None
            and self.head is not None
            and following.raw.startswith(b'{"event":"chain_resumed"')
        ):
            cut = _raw_chain(self.head, item.raw)
            if b'"prev_chain":"' + cut + b'"' in following.raw:
                self.head = cut  # a line a crashed writer cut: committed to by the next one
                self.verdict.cut_lines += 1
                return
        kind = "truncated" if following is None and item.raw else "inserted"
        self.problem(item.number, kind, "a line without a chain")

    def _file_start(self, item: _Line) -> None:
        assert item.body is not None
        event = orjson.loads(item.body + b"}")
        seq, prev = int(event.get("file_seq", 0)), str(event.get("prev_chain", "")).encode()
        if self.head is None:  # the first file given: its start is the anchor
            self.head, self.file_seq = prev, seq
            return
        if seq > self.file_seq + 1:
            missing = seq - self.file_seq - 1
            self.problem(item.number, "missing-file", f"{missing} file(s) missing before this one")
            self.head = prev
        elif seq <= self.file_seq:
            why = "a new chain starts here: the files before it are not given, or are missing"
            self.problem(item.number, "missing-file", why)
            self.head = prev
        elif prev != self.head:
            if not self._cut_file:  # said once, at the file that was cut
                self.problem(item.number, "truncated", "the file before this one was cut short")
            self.head = prev
        self.file_seq = seq
        self._cut_file = False

    def _break(self, window: list[_Line]) -> None:
        item = window[0]
        assert self.head is not None and item.body is not None
        head = self.head
        nxt = window[1] if len(window) > 1 else None
        after = window[2] if len(window) > 2 else None
        if nxt is not None and nxt.body is not None and chain_of(head, nxt.body) == nxt.claimed:
            if (
                after is not None
                and after.body is not None
                and chain_of(item.claimed, after.body) == after.claimed
            ):
                self.problem(item.number, "moved", "a line out of its place")
                self._swap = (nxt.number, item.claimed)  # its partner, then the chain runs on
            else:
                self.problem(item.number, "inserted", "a line that is not in the chain")
            item.claimed = head  # the chain goes on as if it were not there
            return
        if len(self._pending) < MAX_PROBLEMS:
            self._pending.append(Problem(self.file, item.number, "edited", "the chain breaks here"))
        self._segment_bad = True

    def _checkpoint(self, item: _Line, before: bytes | None) -> None:
        assert item.body is not None
        event = orjson.loads(item.body + b"}")
        head, lines = str(event.get("head", "")), int(event.get("lines", -1))
        ts, file = str(event.get("ts", "")), str(event.get("file", ""))
        signed = signed_text(head, lines, int(event.get("file_seq", 0)), ts, file)
        try:
            signature = base64.b64decode(str(event.get("signature", "")), validate=True)
            self.public.verify(signature, signed)
            good = True
        except (InvalidSignature, ValueError):
            good = False
        pending, self._pending = self._pending, []
        if not good:
            other = event.get("key_id") != self.key_id
            why = f"signed by key {event.get('key_id')}, not by this key" if other else "forged"
            self._said([p for p in pending if p.line != item.number])
            self.problem(item.number, "bad-signature", why)
        else:
            held = item.number - 1 + self._shift  # lines of this file before it, as signed
            if pending:  # the first break takes its kind from the count the checkpoint signs
                pending[0].kind = (
                    "removed" if held < lines else "inserted" if held > lines else "edited"
                )
                if len(pending) > 1 and held != lines:
                    for problem in pending:
                        problem.detail += (
                            f"; {len(pending)} breaks and {abs(lines - held)} line(s) "
                            f"{'missing' if held < lines else 'extra'} before the checkpoint "
                            f"at line {item.number}: which break is which cannot be told"
                        )
                self._said(pending)
            elif not self._segment_bad and (head.encode() != before or held != lines):
                kind = "removed" if held < lines else "inserted" if held > lines else "edited"
                self.problem(self._since_start, kind, "the chain does not lead to this checkpoint")
            elif not self._segment_bad:
                self.verdict.checkpoints += 1
                if self._focus_seen:
                    self.verdict.focus_verified = True
                    self.verdict.focus_where = self._focus_seen
                    self.focus = b""
            self._shift += lines - held  # said once: later checkpoints count from here
        self._segment_bad = False
        self._focus_seen = ""
        self._since = 0


def _line(number: int, line: bytes) -> _Line:
    raw = line[:-1] if line.endswith(b"\n") else line
    parts = split_line(raw)
    if parts is None:
        return _Line(number, raw, None, b"")
    return _Line(number, raw, parts[0], parts[1])


def verify(paths: list[Path], public: Ed25519PublicKey, focus: bytes = b"") -> Verdict:
    """Check files of one log, in the order given (see `order_files`)."""
    verdict = Verifier(public, focus).run(paths)
    if focus and verdict.focus_verified is None:
        verdict.focus_verified = False
    return verdict

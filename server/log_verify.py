"""`tierline audit verify`'s reading of a decision log: every chain and signature
checked, in one pass over the files, in constant memory.

The definitions (canonical bytes, the chain, the signed text) are in
`server/log_chain.py`, shared with the writer that seals the lines. A line
whose chain holds costs one SHA-256 and no parsing; a break is classified from
the two lines after it (inserted, moved) or from the line count the next
checkpoint signs (edited, removed); a checkpoint's signature is checked with
the public key; lines no checkpoint closes are an unsigned tail. A columnar
batch's record commits to its segment's SHA-256 (`server/log_segments.py`):
each segment is hashed, in constant memory, and one that is missing is a
`missing-file`, one whose bytes differ `edited`, at its record's line.
"""

from __future__ import annotations

import base64
import hashlib
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from server.log_chain import MARK, chain_of, key_id, raw_chain, signed_text, split_line
from server.log_segments import RECORD_PREFIX, segment_path, sha256_file

MAX_PROBLEMS = 1000

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
        elif item.raw.startswith(RECORD_PREFIX):
            self._segment(item)

    def _segment(self, item: _Line) -> None:
        """A batch record's segment: there, and holding the bytes whose SHA-256 the
        (chained, signed) record commits to."""
        assert item.body is not None
        try:
            record = orjson.loads(item.body + b"}")
        except orjson.JSONDecodeError:
            return  # not JSON: the chain has said what happened to this line
        path = segment_path(record, Path(self.file))
        shown = str(record.get("segment", path))
        try:
            sha = sha256_file(path)
        except OSError as error:
            self.problem(
                item.number,
                "missing-file",
                f"the segment {shown} of batch {record.get('batch_id')} cannot be read: "
                f"{error.strerror or error}",
            )
            return
        if sha != record.get("segment_sha256"):
            self.problem(
                item.number,
                "edited",
                f"the segment {shown} of batch {record.get('batch_id')} is not the one its "
                "record commits to (its SHA-256 differs)",
            )

    def _unchained(self, window: list[_Line]) -> None:
        item = window[0]
        following = window[1] if len(window) > 1 else None
        if (
            following is not None
            and self.head is not None
            and following.raw.startswith(b'{"event":"chain_resumed"')
        ):
            cut = raw_chain(self.head, item.raw)
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

"""The rules folder as the studio sees it: which files there are, reading one, saving
one through the server's reload gate, and the record of every save.

Every path a page names is a name relative to `--rules` that must end in `.tiers`
and lead, once symbolic links are followed, to a regular file inside the folder:
`..`, absolute paths and links that leave the folder are refused before anything is
opened (`server/rulefiles.py` reads the file, as `tierline serve` does). A save
is written only when the text passes the gate that a reload of `tierline serve`
applies (`engine.registry.Registry.load`: it checks clean and its examples pass),
only when the file on disk is still the one the page opened (its SHA-256), and
atomically (a temporary file beside it, then a rename), so that a running server
never reads half a file. Each save is recorded with its author, time and digests:
a git commit of that file alone when the folder is in a git repository, else a
line of `.tierline-history.jsonl` in the folder, carrying the diff.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from engine.language.diagnostics import RuleError
from engine.language.source import Source
from engine.load import MAX_SOURCE_BYTES
from engine.registry import Registry
from server.rulefiles import Refused, read_rule_file
from tierline.studio.errors import StudioError
from tierline.studio.live import CHECKING

HISTORY = ".tierline-history.jsonl"
GIT_TIMEOUT_S = 30


@dataclass(frozen=True)
class Opened:
    path: str  # relative to the folder, with `/`
    text: str
    digest: str  # SHA-256 of the file's bytes: what a save must still find on disk


def digest_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Workspace:
    """One `--rules` folder. Saves are serialised: two pages saving one file at once
    get one save and one conflict, never a mixed file."""

    def __init__(self, root: Path):
        self.root = root.resolve()
        self._saving = threading.Lock()
        self.git = _in_git(self.root)

    # ---------------------------------------------------------------- paths

    def resolve(self, name: str) -> Path:
        """The file a page's name leads to, or StudioError `outside` / `not-a-rule-file`."""
        pure = PurePosixPath(name)
        if (
            not name
            or "\\" in name
            or "\x00" in name
            or pure.is_absolute()
            or any(part in ("..", "") for part in name.split("/"))
        ):
            raise StudioError(
                "outside",
                f"{name!r}: only files inside the rules folder can be opened",
                403,
                name=repr(name),
            )
        if pure.suffix != ".tiers":
            raise StudioError(
                "not-a-rule-file", f"{name}: rule files end in .tiers", 400, name=name
            )
        path = self.root.joinpath(*pure.parts)
        real = path.resolve()
        if real.parent != self.root and self.root not in real.parents:
            raise StudioError(
                "outside",
                f"{name}: leads outside the rules folder (a symbolic link?)",
                403,
                name=name,
            )
        return path

    def files(self) -> list[str]:
        """The folder's rule files, as `tierline serve` loads them (`*.tiers` in the
        folder itself), leaving out links that lead outside it."""
        out: list[str] = []
        for path in sorted(self.root.glob("*.tiers")):
            try:
                self.resolve(path.name)
            except StudioError:
                continue
            if path.is_file():
                out.append(path.name)
        return out

    # ---------------------------------------------------------------- read

    def open(self, name: str) -> Opened:
        path = self.resolve(name)
        try:
            source = read_rule_file(self.root, path)
        except FileNotFoundError:
            raise StudioError(
                "no-such-file", f"{name}: no such rule file", 404, name=name
            ) from None
        except Refused as error:
            raise StudioError("refused", str(error), 403) from None
        except RuleError as error:  # not UTF-8
            raise StudioError("unreadable", str(error), 422) from None
        except OSError as error:
            raise StudioError("unreadable", f"{name}: {error.strerror}", 422) from None
        data = source.text.encode("utf-8")
        return Opened(name, source.text, digest_of(data))

    def current_digest(self, name: str) -> str | None:
        """The SHA-256 of the file's bytes now, None when it is gone."""
        try:
            return digest_of(self.resolve(name).read_bytes())
        except FileNotFoundError:
            return None

    # ---------------------------------------------------------------- save

    def save(self, name: str, text: str, base: str | None, author: str) -> dict[str, Any]:
        """Write `text` as `name` if it passes the gate and the file on disk is still
        `base` (None: a new file, which must not exist). Returns the record."""
        path = self.resolve(name)
        data = text.encode("utf-8")
        if len(data) > MAX_SOURCE_BYTES:
            raise StudioError(
                "too-large", f"{name}: over {MAX_SOURCE_BYTES:,} bytes", 413, limit=MAX_SOURCE_BYTES
            )
        with CHECKING:  # the server's reload gate: it checks clean, its examples pass
            gate = Registry().load(Source(text, str(path)))
        if not gate.accepted:
            assert gate.failure is not None
            raise StudioError("gate", gate.failure.message, 422)
        assert gate.entry.serving is not None
        with self._saving:
            now = self.current_digest(name)
            if now != base:
                raise StudioError(
                    "conflict",
                    f"{name} changed on disk since it was opened; reload it (your text is "
                    "kept in the page) and apply your change again",
                    409,
                    on_disk=now,
                    opened=base,
                    name=name,
                )
            old_text = "" if base is None else path.read_text(encoding="utf-8")
            _write_atomically(path, data)
            record = {
                "file": name,
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "author": author,
                "old_digest": base,
                "new_digest": digest_of(data),
                "ruleset": gate.entry.serving.name,
                "ruleset_digest": gate.entry.serving.digest,
            }
            diff = unified(name, old_text, text)
            if self.git is not None:
                record["commit"] = self._commit(path, record)
            else:
                self._append_history({**record, "diff": diff})
            return record

    def _commit(self, path: Path, record: dict[str, Any]) -> str:
        assert self.git is not None
        relative = str(path.relative_to(self.git))
        message = (
            f"studio: save {record['file']} ({record['ruleset']})\n\n"
            f"Saved-by: {record['author']}\n"
            f"Old-digest: {record['old_digest'] or '(new file)'}\n"
            f"New-digest: {record['new_digest']}\n"
            f"Ruleset-digest: {record['ruleset_digest']}\n"
        )
        author = f"{record['author']} <{record['author']}@tierline-studio>"
        identity = ["-c", "user.name=tierline studio", "-c", "user.email=studio@tierline"]
        _git(self.git, "add", "--", relative)
        _git(self.git, *identity, "commit", "--no-verify", "-q", "-m", message,
             f"--author={author}", "--only", "--", relative)  # fmt: skip
        return _git(self.git, "rev-parse", "HEAD").strip()

    def _append_history(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False) + "\n"
        fd = os.open(self.root / HISTORY, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)

    # ---------------------------------------------------------------- history

    def history(self, name: str, limit: int = 50) -> list[dict[str, Any]]:
        """The saves of a file, newest first, each with its diff."""
        path = self.resolve(name)
        if self.git is not None:
            return self._git_history(path, limit)
        try:
            lines = (self.root / HISTORY).read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        records = []
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("file") == name:
                records.append(record)
        return records[::-1][:limit]

    def _git_history(self, path: Path, limit: int) -> list[dict[str, Any]]:
        assert self.git is not None
        relative = str(path.relative_to(self.git))
        sep = "\x1f"
        listed = _git(self.git, "log", f"-n{limit}", f"--format=%H{sep}%an{sep}%aI{sep}%s",
                      "--", relative)  # fmt: skip
        out = []
        for line in listed.splitlines():
            commit, author, when, subject = line.split(sep, 3)
            shown = _git(self.git, "show", "--format=", "--no-color", commit, "--", relative)
            out.append({"commit": commit, "author": author, "time": when,
                        "subject": subject, "diff": shown})  # fmt: skip
        return out


def unified(name: str, old: str, new: str) -> str:
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{name}", f"b/{name}"
        )
    )


def _write_atomically(path: Path, data: bytes) -> None:
    """A temporary file in the same folder (not `*.tiers`: a watcher ignores it), synced,
    then renamed over the file: readers see the old file or the new, never a part."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".saving")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.chmod(temporary, path.stat().st_mode & 0o777)
        except FileNotFoundError:
            os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def _in_git(folder: Path) -> Path | None:
    """The top of the git work tree holding the folder, None when there is none (or no git)."""
    try:
        found = subprocess.run(["git", "-C", str(folder), "rev-parse", "--show-toplevel"],
                               capture_output=True, text=True, timeout=GIT_TIMEOUT_S,
                               check=False)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    top = found.stdout.strip()
    return Path(top).resolve() if found.returncode == 0 and top else None


def _git(top: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(top), *args], capture_output=True, text=True,
                          timeout=GIT_TIMEOUT_S, check=False)  # fmt: skip
    if done.returncode != 0:
        raise StudioError(
            "git", f"git {args[0]} failed: {done.stderr.strip() or done.stdout.strip()}", 500
        )
    return done.stdout

"""The archive: every rule source the service served, by digest, for `tierline audit`.

A decision line names its ruleset's digest; `tierline audit` replays the decision
against the source of that digest from here. A line whose source is not kept is a
decision nobody can explain later, so the archive is part of the decision log: a
folder that cannot be written stops the start (`check_writable`, with the path and
the fix), and a source that cannot be kept while serving is a failure of the log
(`server/decision_log.py`), never of the rule file.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

FIX = (
    "give --archive (or TIERLINE_ARCHIVE) a folder tierline can create and write, "
    "or run with --decision-log off"
)


class StartRefused(Exception):
    """Something the service needs cannot work: said in one line with the fix, exit 2."""


class Archive:
    def __init__(self, folder: Path):
        self.folder = folder

    def check_writable(self) -> None:
        """At start-up: create the folder and write, sync and remove a probe file in it
        (a real write: permission bits do not stop root, a read-only mount does)."""
        probe = self.folder / f".tierline-probe-{os.getpid()}"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.write(fd, b"probe\n")
                os.fsync(fd)
            finally:
                os.close(fd)
            probe.unlink()
        except OSError as error:
            with contextlib.suppress(OSError):
                probe.unlink()
            raise StartRefused(
                f"cannot keep rule sources in the archive {self.folder}: "
                f"{_why(error, self.folder)}; {FIX}"
            ) from None

    def keep(self, digest: str, source: str) -> None:
        """Write `source` as DIGEST.tiers unless it is there (written whole, then renamed:
        an archived file is never half a source). Raises OSError."""
        target = self.folder / f"{digest}.tiers"
        if target.exists():
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{digest}.{os.getpid()}.tmp")
        try:
            tmp.write_text(source, encoding="utf-8")
            tmp.replace(target)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise


def check_log_path(target: str) -> None:
    """At start-up: the decision log's file can be created and appended to (it is opened
    with O_APPEND and left as it was; "-" is stdout)."""
    if target in ("-", "off"):
        return
    path = Path(target)
    try:
        path.resolve().parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.close(fd)
    except OSError as error:
        raise StartRefused(
            f"cannot write the decision log {path}: {_why(error, path.parent)}; give "
            "--decision-log (or TIERLINE_DECISION_LOG) a file tierline can create and write, "
            "- for stdout, or off"
        ) from None


def _why(error: OSError, folder: Path) -> str:
    """The system's reason; when a part of the path is a file, which one."""
    for part in (folder, *folder.parents):
        if part.exists() and not part.is_dir():
            return f"{part} is a file, not a folder"
    return error.strerror or str(error)

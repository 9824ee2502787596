"""Reading the rules folder defensively: other people write it.

A rules folder is shared with editors, deploy scripts and careless hands, so
whatever sits in it under a `.tiers` name, reading it must never block,
never fill memory and never show a caller what lies outside the folder:

- Only regular files are read, and symbolic links that lead to a regular
  file inside the folder. A FIFO, socket or device is refused from `lstat`
  alone, without being opened (opening a FIFO for reading blocks until a
  writer comes; reading a device may never end). The file is then opened
  with O_NONBLOCK and O_NOFOLLOW and checked again with `fstat`, so a file
  swapped between the two looks is refused as well.
- Its size comes from `fstat` before a byte is read: a file over the limit
  (`MAX_SOURCE_BYTES`, as for `tierline check`) is refused unread, and no
  read asks for more than the limit, even from a file that grows meanwhile.
- A symbolic link leaving the folder is refused with a message that names
  neither its target nor anything in it.
- A refusal is remembered by the file's `stat` (device, inode, size, times):
  until one of them changes, the file is not read again, whatever asks
  (a rescan, another file's removal, SIGHUP).

Refusals are raised as `Refused`, whose message starts with the file's path
as the server names it; `server/loading.py` turns them into the file's
rejection.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
from pathlib import Path

from engine.language.diagnostics import RuleError
from engine.language.source import Source
from engine.load import MAX_SOURCE_BYTES, decode

StatKey = tuple[int, ...]  # lstat (and the target's stat for a link): what a change changes

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
_OPEN_FLAGS |= getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
_KINDS = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFDIR: "a folder",
}


class Refused(Exception):
    """This file is not read: its message says why, naming only the file itself."""


def _key(info: os.stat_result) -> StatKey:
    return (info.st_dev, info.st_ino, info.st_mode, info.st_size, info.st_mtime_ns,
            info.st_ctime_ns)  # fmt: skip


def stat_key(path: Path) -> StatKey | None:
    """What identifies this version of the file without reading it; None when it is gone."""
    try:
        own = os.lstat(path)
        if not stat.S_ISLNK(own.st_mode):
            return _key(own)
        try:
            return _key(own) + _key(os.stat(path))
        except OSError:
            return _key(own)  # a dangling link: still a version of its own
    except OSError:
        return None


def _kind(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def _inside(folder: Path, path: Path) -> Path:
    """The real file a path in the folder leads to, if it stays inside the folder."""
    real_folder = folder.resolve()
    try:
        target = path.resolve(strict=True)
    except (OSError, RuntimeError):  # dangling, or a loop of links
        raise Refused(f"{path}: is a symbolic link that leads nowhere readable; not read") from None
    if target.parent != real_folder and real_folder not in target.parents:
        raise Refused(
            f"{path}: is a symbolic link that leads outside the rules folder; only files "
            "inside the folder are read"
        )
    return target


def read_rule_file(folder: Path, path: Path) -> Source:
    """The file's text, as `engine.load.decode` makes it (RuleError when it is not UTF-8);
    `Refused` when it is not a regular file inside the folder, or too large; OSError when
    it cannot be opened (gone, no permission)."""
    own = os.lstat(path)
    real = path
    if stat.S_ISLNK(own.st_mode):
        real = _inside(folder, path)
        own = os.lstat(real)
    if not stat.S_ISREG(own.st_mode):
        raise Refused(f"{path}: is {_kind(own.st_mode)}, not a rule file; not read")
    _not_too_large(path, own.st_size)
    try:
        descriptor = os.open(real, _OPEN_FLAGS)
    except OSError as error:
        if error.errno == errno.ELOOP:  # swapped for a link since the lstat
            raise Refused(f"{path}: changed into a symbolic link while being read") from None
        raise
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):  # swapped since the lstat
            raise Refused(f"{path}: is {_kind(info.st_mode)}, not a rule file; not read")
        _not_too_large(path, info.st_size)
        data = _read_at_most(descriptor, MAX_SOURCE_BYTES + 1)
    finally:
        os.close(descriptor)
    _not_too_large(path, len(data))  # it grew while being read
    return decode(data, str(path))


def _read_at_most(descriptor: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    left = limit
    while left > 0:
        chunk = os.read(descriptor, min(left, 1024 * 1024))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _not_too_large(path: Path, size: int) -> None:
    if size > MAX_SOURCE_BYTES:
        raise Refused(
            f"{path}: is {size:,} bytes; rule files may be at most {MAX_SOURCE_BYTES:,} "
            "bytes; not read"
        )


class RuleFiles:
    """The rules folder's reader, and what it refused, by `stat_key`."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._refused: dict[str, StatKey] = {}
        self._lock = threading.Lock()

    def read(self, path: Path) -> Source:
        return read_rule_file(self.folder, path)

    def still_refused(self, path: Path) -> bool:
        """Refused before, and not changed since: reading it again would say the same."""
        with self._lock:
            known = self._refused.get(str(path))
        return known is not None and known == stat_key(path)

    def refused(self, path: Path, key: StatKey | None) -> None:
        """Remember a refusal of the version `key` (taken before the read)."""
        if key is None:
            return
        with self._lock:
            self._refused[str(path)] = key

    def accepted(self, path: Path) -> None:
        with self._lock:
            self._refused.pop(str(path), None)


def read_rule_text(folder: Path, path: Path) -> Source | None:
    """The file's text, or None when it is refused or cannot be read (for comparisons)."""
    try:
        return read_rule_file(folder, path)
    except (Refused, RuleError, OSError):
        return None

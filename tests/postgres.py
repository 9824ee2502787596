"""A real PostgreSQL server for the tests of the postgres dialect: a fresh cluster in
a temporary folder, listening on a free loopback port, stopped when the test ends.

The server's binaries come from the machine (Debian's `postgresql` package puts them
in /usr/lib/postgresql/VERSION/bin); `.ci/run` installs them where they are missing
and sets TIERLINE_REQUIRE_POSTGRES=1, so that CI fails rather than skips. PostgreSQL
refuses to run as root: as root, the cluster belongs to the `postgres` user."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

START_SECONDS = 60


def _bin() -> Path | None:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def postgres_server() -> Iterator[str]:
    """A connection string to a new, empty database; skips (or fails, in CI) without
    PostgreSQL's server programs."""
    where = _bin()
    if where is None:
        message = "PostgreSQL's server programs (initdb, pg_ctl) are not installed"
        if os.environ.get("TIERLINE_REQUIRE_POSTGRES"):
            pytest.fail(message + ", and TIERLINE_REQUIRE_POSTGRES is set")
        pytest.skip(message)
    folder = Path(tempfile.mkdtemp(prefix="tierline-pg-"))
    as_user: list[str] = []
    user = pwd.getpwuid(os.geteuid()).pw_name
    if os.geteuid() == 0:
        user = "postgres"
        entry = pwd.getpwnam(user)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
        as_user = ["runuser", "-u", user, "--"]
    data, port = folder / "data", _free_port()

    def run(*command: str) -> None:
        subprocess.run([*as_user, *command], check=True, capture_output=True, timeout=START_SECONDS)

    try:
        run(str(where / "initdb"), "-D", str(data), "-U", user, "-A", "trust", "-E", "UTF8",
            "--no-sync")  # fmt: skip
        # -w: pg_ctl returns once the server accepts connections
        run(str(where / "pg_ctl"), "-D", str(data), "-w", "-t", str(START_SECONDS),
            "-l", str(folder / "server.log"), "-o",
            f"-h 127.0.0.1 -p {port} -k {folder} -c fsync=off -c full_page_writes=off",
            "start")  # fmt: skip
        yield f"host=127.0.0.1 port={port} user={user} dbname=postgres"
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(
                [*as_user, str(where / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                capture_output=True,
                timeout=START_SECONDS,
            )
        shutil.rmtree(folder, ignore_errors=True)

"""A real `tierline studio` for the tests: a subprocess on a free loopback port, with a
folder of rule files copied from rules/ (so that saves never touch the repository)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.real_server import free_port, wait_until

ROOT = Path(__file__).resolve().parent.parent
HEADERS = {"X-Tierline-Studio": "1"}


def rules_folder(where: Path, *names: str, git: bool = False) -> Path:
    """A rules folder holding copies of the named shipped files; with `git`, a repository
    with them committed (so that a save becomes a commit)."""
    folder = where / "rules"
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(ROOT / "rules" / name, folder / name)
    if git:
        for args in (["init", "-q"], ["add", "."], ["-c", "user.name=t", "-c", "user.email=t@t",
                     "commit", "-qm", "start"]):  # fmt: skip
            subprocess.run(["git", "-C", str(folder), *args], check=True, timeout=30)
    return folder


@contextmanager
def studio(rules: Path, *flags: str) -> Iterator[str]:
    """`tierline studio --rules RULES --port <free> FLAGS…`, running; yields its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tierline", "studio", "--rules", str(rules), "--port", str(port),
         *flags],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if process.poll() is not None:
            return True
        try:
            return httpx.get(base + "/", timeout=1).status_code < 500
        except httpx.HTTPError:
            return False

    try:
        if not wait_until(up, 60) or process.poll() is not None:
            process.kill()
            _out, err = process.communicate(timeout=10)
            raise RuntimeError(f"tierline studio did not start: {err}")
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

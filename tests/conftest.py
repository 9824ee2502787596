"""Shared paths for the test suites."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest

from server.pb import pb_grpc

if TYPE_CHECKING:
    from server.running import Running

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
# beside the main checkout (/work/main -> /work/shared), or two up from a worktree
SHARED_DATA = next(
    (
        up / "shared" / "data" / "influencers"
        for up in (ROOT.parent, ROOT.parent.parent)
        if (up / "shared" / "data" / "influencers").is_dir()
    ),
    ROOT.parent / "shared" / "data" / "influencers",
)


@pytest.fixture
def rules_dir() -> Path:
    return RULES


# The design's example account: a fashion blogger with a close community (micro).
ACCOUNT: dict[str, Any] = {
    "followers": 45_000,
    "engagement_rate": 0.042,
    "topics": ["fashion"],
    "platform": "instagram",
}


def tierline(
    *args: str,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    cwd: Path = ROOT,
) -> subprocess.CompletedProcess[str]:
    """Run the `tierline` command as a user would, from the repository root (or `cwd`,
    with the repository on the import path)."""
    if cwd != ROOT:
        env = {**(env or {}), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "tierline", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
        env={**os.environ, **env} if env else None,
        timeout=120,
    )


@pytest.fixture(scope="module")
def stub(served: Running) -> Iterator[pb_grpc.ClassifierStub]:
    """A client of the module's own module-scoped `served` server (each server test
    module starts one with the settings it tests; a module may define its own stub)."""
    with grpc.insecure_channel(f"127.0.0.1:{served.port}") as channel:
        yield pb_grpc.ClassifierStub(channel)

"""Run `tierline serve` as a child process, for end-to-end tests and benchmarks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_serve(
    rules: Path, *flags: str, env: dict[str, str] | None = None, **popen: Any
) -> tuple[subprocess.Popen[str], int]:
    """Start `tierline serve --rules RULES --port <free> FLAGS…` and wait until it listens."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cli",
            "serve",
            "--rules",
            str(rules),
            "--port",
            str(port),
            *flags,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=popen.pop("stderr", subprocess.PIPE),
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        **popen,
    )
    wait_listening(process, port)
    return process, port


def wait_listening(process: subprocess.Popen[str], port: int) -> None:
    """Read stdout up to the "tierline listening on ..." line (printed once ready)."""
    assert process.stdout is not None
    for _ in range(100):
        line = process.stdout.readline()
        if f"listening on 127.0.0.1:{port}" in line:
            return
        if not line:
            break
    process.kill()
    errors = process.stderr.read() if process.stderr else ""
    raise RuntimeError(f"tierline serve did not start: {errors}")

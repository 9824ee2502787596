"""A small Language Server Protocol client: `tierline lsp` as a subprocess, spoken to
over stdio as an editor does (Content-Length framed JSON-RPC), every wait bounded.

The tests (tests/test_lsp_server.py) and the benchmark (benchmarks/lsp_speed.py)
use it; a reader thread files each message the server sends, so that a request's
answer, a notification and the server's own requests can be waited for apart.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_S = 30.0
STDERR_KEPT = 64 * 1024


class ServerError(Exception):
    """An error answer: `.code`, `.message`."""

    def __init__(self, error: dict[str, Any]):
        super().__init__(error.get("message", ""))
        self.code = error.get("code")
        self.message = error.get("message", "")


class LspClient:
    """One `tierline lsp` process and the messages it sent."""

    def __init__(self, *args: str, cwd: Path = ROOT) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tierline", "lsp", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=env,
        )
        self._ids = itertools.count(1)
        self._answers: dict[int, dict[str, Any]] = {}
        self._notifications: list[dict[str, Any]] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.stderr = bytearray()  # the server's log, the last STDERR_KEPT bytes of it
        # read all along: a full pipe would stop the server mid-write
        threading.Thread(target=self._drain, daemon=True).start()
        self.log: list[tuple[str, dict[str, Any]]] = []  # ("->" or "<-", message): a transcript

    # ---------------------------------------------------------------- wire

    def _send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode("utf-8")
        assert self.process.stdin is not None
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()
        self.log.append(("->", message))

    def _drain(self) -> None:
        stream = self.process.stderr
        assert stream is not None
        try:
            for line in iter(stream.readline, b""):
                self.stderr += line
                del self.stderr[:-STDERR_KEPT]
        except (ValueError, OSError):  # closed by close() after the server exited
            return

    def _read(self) -> None:
        stream = self.process.stdout
        assert stream is not None
        while True:
            length = None
            while True:
                line = stream.readline()
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.decode("ascii").partition(":")
                if name.lower() == "content-length":
                    length = int(value.strip())
            if length is None:
                continue
            message = json.loads(stream.read(length))
            with self._changed:
                self.log.append(("<-", message))
                if "id" in message and "method" in message:  # the server asks the client
                    self._send({"id": message["id"], "result": None})
                elif "id" in message:
                    self._answers[message["id"]] = message
                else:
                    self._notifications.append(message)
                self._changed.notify_all()

    def _wait(self, ready: Callable[[], Any], timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = ready()
                if found is not None:
                    return found
                left = deadline - time.monotonic()
                if left <= 0 or self.process.poll() is not None:
                    raise TimeoutError("no answer from tierline lsp in time")
                self._changed.wait(min(left, 0.5))

    # ------------------------------------------------------------ requests

    def request(self, method: str, params: Any, timeout: float = TIMEOUT_S) -> Any:
        """Send a request; its result (ServerError for an error answer)."""
        ident = next(self._ids)
        self._send({"id": ident, "method": method, "params": params})
        answer = self._wait(lambda: self._answers.pop(ident, None), timeout)
        if "error" in answer:
            raise ServerError(answer["error"])
        return answer.get("result")

    def notify(self, method: str, params: Any) -> None:
        self._send({"method": method, "params": params})

    def notifications(self, method: str) -> list[dict[str, Any]]:
        with self._changed:
            return [n["params"] for n in self._notifications if n["method"] == method]

    def wait_notification(
        self,
        method: str,
        matches: Callable[[dict[str, Any]], bool] = lambda _: True,
        after: int = 0,
        timeout: float = TIMEOUT_S,
    ) -> dict[str, Any]:
        """The first notification `method` numbered `after` or later that matches."""

        def ready() -> dict[str, Any] | None:
            seen = [n["params"] for n in self._notifications if n["method"] == method]
            return next((p for p in seen[after:] if matches(p)), None)

        found: dict[str, Any] = self._wait(ready, timeout)
        return found

    # -------------------------------------------------------------- session

    def initialize(
        self, root: Path = ROOT, encodings: list[str] | None = None, locale: str | None = None
    ) -> Any:
        capabilities: dict[str, Any] = {
            "textDocument": {"publishDiagnostics": {"versionSupport": True}},
        }
        if encodings is not None:
            capabilities["general"] = {"positionEncodings": encodings}
        result = self.request(
            "initialize",
            {
                "processId": os.getpid(),
                "rootUri": root.as_uri(),
                "workspaceFolders": [{"uri": root.as_uri(), "name": root.name}],
                "capabilities": capabilities,
                **({"locale": locale} if locale is not None else {}),
            },
        )
        self.notify("initialized", {})
        return result

    def open(self, uri: str, text: str, version: int = 1) -> None:
        self.notify(
            "textDocument/didOpen",
            {
                "textDocument": {
                    "uri": uri,
                    "languageId": "tierline",
                    "version": version,
                    "text": text,
                }
            },
        )

    def close(self) -> None:
        """Shut the server down politely, then for sure."""
        try:
            if self.process.poll() is None:
                self.request("shutdown", None, timeout=10)
                self.notify("exit", None)
                self.process.wait(timeout=10)
        except (TimeoutError, OSError, ServerError, subprocess.TimeoutExpired):
            pass
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(timeout=10)
            for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
                if stream is not None:
                    stream.close()

    def __enter__(self) -> LspClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

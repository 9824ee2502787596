"""structlog for the server's own events (ruleset_loaded, ruleset_rejected, ...):
JSON lines in production, a readable console renderer on a terminal.

Decision events are written by the decision-log writer process
(`server/log_writer.py`), in the same shape, by code generated per ruleset."""

from __future__ import annotations

import contextlib
import logging
import sys
from typing import Any, TextIO, cast

import orjson
import structlog


def configure_logging(*, json: bool | None = None) -> None:
    """Once per process. Events go to stderr, so stdout stays for the decision log."""
    use_json = not sys.stderr.isatty() if json is None else json
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer(serializer=lambda o, **_: orjson.dumps(o).decode())
        if use_json
        else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(cast(TextIO, _Unbreakable(sys.stderr))),
        cache_logger_on_first_use=True,
    )


class _Unbreakable:
    """stderr that cannot fail the service: when whoever read it is gone (a closed pipe)
    or it cannot be written, an event is lost, not the server's stop or a call."""

    def __init__(self, stream: Any):
        self.stream = stream

    def write(self, text: str) -> int:
        try:
            return int(self.stream.write(text))
        except (OSError, ValueError):
            return 0

    def flush(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.stream.flush()


class get_logger:
    """A logger whose events carry `logger=name`, bound at each call so that it
    follows `configure_logging()` even when created at import time."""

    def __init__(self, name: str):
        self.name = name

    def __getattr__(self, method: str) -> Any:
        return getattr(structlog.get_logger().bind(logger=self.name), method)

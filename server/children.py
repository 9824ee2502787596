"""Child processes that a signal to the whole process group must not stop.

A terminal's Ctrl-C sends SIGINT to every process of its group, and systemd's
default `KillMode=control-group` sends SIGTERM to every process of the service:
the server's children (the decision-log writer, the validation workers) get the
signal the server gets. The server stops them itself, after its graceful stop
(the writer once it has written what is queued, a worker once the call it runs
is answered), so they ignore both signals. A child ignores them from its first
instruction only if it is spawned with them ignored (an ignored signal stays
ignored through exec; Python then installs no KeyboardInterrupt handler): until
its own code runs, a spawned Python is a second of start-up, in which SIGINT
printed "Fatal Python error: init_import_site … KeyboardInterrupt" and SIGTERM
killed it. `spawning` does that; the child then calls `ignore_stop_signals`.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def spawning() -> Iterator[None]:
    """SIGINT and SIGTERM ignored while a child is spawned in this block (the fork and
    exec of `Process.start()`: milliseconds), so that the child starts with them
    ignored. A signal sent to the server in that window is ignored too (every thread of
    the process shares the disposition). Only the main thread can change handlers:
    elsewhere (a writer or worker restarted by a thread) this does nothing, and the
    child is covered from its `ignore_stop_signals` on."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {s: signal.signal(s, signal.SIG_IGN) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)


def ignore_stop_signals() -> None:
    """In a child, first thing: ignore SIGINT and SIGTERM (its parent stops it)."""
    for s in STOP_SIGNALS:
        signal.signal(s, signal.SIG_IGN)

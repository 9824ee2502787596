"""Child processes that a signal to the whole process group must not stop.

A terminal's Ctrl-C sends SIGINT to every process of its group, and systemd's
default `KillMode=control-group` sends SIGTERM to every process of the service:
the server's children (the decision-log writer, the validation workers) get the
signal the server gets. The server stops them itself, after its graceful stop
(the writer once it has written what is queued, a worker once the call it runs
is answered), so they ignore both signals. A child must not die of them from its first
instruction: until its own code runs, a spawned Python is a second of start-up,
in which SIGINT printed "Fatal Python error: init_import_site … KeyboardInterrupt"
and SIGTERM killed it.

So `spawning` blocks both signals in the thread that spawns (pthread_sigmask):
the child inherits that thread's mask through fork and exec (multiprocessing's
spawn passes `restore_signals=False`), so a signal sent to it during its start-up
waits, pending, until its first act, `ignore_stop_signals`, ignores both and
unblocks them (a pending ignored signal is discarded). This works in any thread:
a writer restarted by the supervisor thread and a worker started from a gRPC
thread are covered as the first ones are. The server itself loses nothing: a
signal sent to it while one thread blocks is taken by another thread, or waits
pending until the mask is restored. (Ignoring the signals in the server around
`Process.start()`, as this did before, dropped a SIGTERM sent in that window,
and the service then ran on until SIGKILL.) The standard library's
multiprocessing resource tracker starts its process the same way.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from multiprocessing import resource_tracker

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def spawning() -> Iterator[None]:
    """SIGINT and SIGTERM blocked in this thread while a child is spawned in this block
    (`Process.start()`), so that the child starts with them blocked; the thread's mask
    is restored after, and a signal that came meanwhile is then delivered, if no other
    thread took it. Any thread may use it.

    The resource tracker is started first, outside the block: `Process.start()` starts
    it on first use, and its launch ends by unblocking SIGINT and SIGTERM in the
    calling thread (multiprocessing.resource_tracker), which undid this block before
    the first child was spawned."""
    resource_tracker.ensure_running()
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def ignore_stop_signals() -> None:
    """In a child, first thing: ignore SIGINT and SIGTERM (its parent stops it), then
    unblock them (`spawning` started it with them blocked): one sent during its
    start-up, pending until now, is discarded."""
    for s in STOP_SIGNALS:
        signal.signal(s, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)

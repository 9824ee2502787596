"""Classifier calls in flight, so that a stop can wait for their responses to be sent.

grpcio's `server.stop(grace)` sends GOAWAY at once, and gRPC core closes each
connection as soon as its last call is done: a large response then still on its way
to a slow client is cut off (the client sees UNAVAILABLE, "Stream removed"). Calling
`stop` only when no call is left lets core's graceful GOAWAY, with its ping, queue
behind everything already sent, and close only once the client has acknowledged it.
"""

from __future__ import annotations

import threading


class Drain:
    """Counts admitted calls until gRPC reports them terminated; refuses new ones once closed."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._in_flight = 0
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def admit(self) -> bool:
        """Count a new call in, or say no: the server is stopping."""
        with self._changed:
            if self._closed:
                return False
            self._in_flight += 1
            return True

    def done(self) -> None:
        """A call admitted earlier has terminated: its status is written to the connection."""
        with self._changed:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._changed.notify_all()

    def close(self, timeout: float) -> int:
        """Refuse new calls, wait up to `timeout` s for those in flight; return how many remain."""
        with self._changed:
            self._closed = True
            self._changed.wait_for(lambda: self._in_flight == 0, timeout)
            return self._in_flight

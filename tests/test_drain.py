"""The drain's count: a stop waits for admitted calls, refuses new ones, and gives up on time."""

from __future__ import annotations

import threading

from server.drain import Drain


def test_close_waits_for_admitted_calls_and_refuses_new_ones() -> None:
    drain = Drain()
    assert drain.admit() and drain.admit()
    remaining: list[int] = []
    closing = threading.Thread(target=lambda: remaining.append(drain.close(30)))
    closing.start()
    while not drain.closed:
        pass
    assert not drain.admit()
    drain.done()
    assert closing.is_alive()  # one call is still in flight
    drain.done()
    closing.join(30)
    assert remaining == [0]


def test_close_gives_up_after_its_timeout_and_says_how_many_are_left() -> None:
    drain = Drain()
    assert drain.admit()
    assert drain.close(0.05) == 1
    drain.done()
    assert drain.close(0) == 0

"""Publish timeouts on a ready channel: one timer for all the confirms awaited, not one each.

A publish's confirm that has not come `timeout` seconds after it was sent fails with
PublishNotConfirmed (the listener answers AE 207 and the sender resends). A timer armed and
cancelled per publish cost the listener a timer handle, a heap push and a cancellation a
message (profile under bench/ingest.py); the publishes of one publisher share a timeout, so
their deadlines come in the order they were sent and one timer, set for the oldest, serves all.
No timer is left once no confirm is awaited (tests/unit/test_publish_timeout.py).
"""
from __future__ import annotations

import asyncio
from collections import deque

from hub.errors import PublishNotConfirmed


def unconfirmed(queue: str, timeout: float) -> str:
    """The reason a publish failed for want of its confirm."""
    return f"no confirm for a publish to {queue} within {timeout} s"


def _expire(confirm: asyncio.Future[None], queue: str, timeout: float) -> None:
    if not confirm.done():
        confirm.set_exception(PublishNotConfirmed(unconfirmed(queue, timeout)))


class ConfirmExpiry:
    """The confirms awaited on one loop, oldest first, and the one timer for the oldest."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._waiting: deque[tuple[float, asyncio.Future[None], str, float]] = deque()
        self._timer: asyncio.TimerHandle | None = None

    def watch(self, confirm: asyncio.Future[None], queue: str, timeout: float) -> None:
        """Fail `confirm` if it is not settled within `timeout` seconds from now."""
        deadline = self._loop.time() + timeout
        waiting = self._waiting
        if waiting and deadline < waiting[-1][0]:
            # Sooner than a publish before it (a shorter timeout): a timer of its own.
            timer = self._loop.call_at(deadline, _expire, confirm, queue, timeout)
            confirm.add_done_callback(lambda _confirm: timer.cancel())
            return
        waiting.append((deadline, confirm, queue, timeout))
        if self._timer is None:
            self._timer = self._loop.call_at(deadline, self._sweep)

    def settled(self) -> None:
        """Forget the settled confirms at the head; cancel the timer once none is awaited."""
        waiting = self._waiting
        while waiting and waiting[0][1].done():
            waiting.popleft()
        if not waiting and self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _sweep(self) -> None:
        self._timer = None
        now = self._loop.time()
        waiting = self._waiting
        while waiting:
            deadline, confirm, queue, timeout = waiting[0]
            if not confirm.done():
                if deadline > now:
                    break
                confirm.set_exception(PublishNotConfirmed(unconfirmed(queue, timeout)))
            waiting.popleft()
        if waiting:
            self._timer = self._loop.call_at(waiting[0][0], self._sweep)

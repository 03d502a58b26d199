"""A deadline on each read of one connection, kept by one timer that moves only when it must.

The listener's read loop bounds every read (idle_timeout between frames, read_timeout inside
one). `asyncio.timeout` around each read armed a timer, asked for the running task and loop
(each a getpid on Python 3.11) and cancelled the timer again: a few per cent of the listener's
CPU a message (profile under bench/ingest.py), for a deadline that almost never comes. Here the
timer stays where it is while the reads' deadlines move later, as frames put them off; when it
fires before the current deadline it is set again for it, and only a deadline sooner than the
timer moves it. A read that outlives its deadline raises TimeoutError, as under
`asyncio.timeout`: the reading task is cancelled and the cancellation turned into the timeout
(a cancellation from elsewhere stays a cancellation).
"""
from __future__ import annotations

import asyncio
from typing import Any


class ReadDeadline:
    """Reads of `task` (the connection's read loop), each bounded by a loop-time deadline."""

    def __init__(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any]) -> None:
        self._loop = loop
        self._task = task
        self._deadline = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._armed_for = 0.0  # the loop time the timer was set for
        self._reading = False
        self._expired = False

    async def read(self, reader: asyncio.StreamReader, size: int, deadline: float) -> bytes:
        """`reader.read(size)`, or TimeoutError once the loop's time reaches `deadline`."""
        self._deadline = deadline
        if self._timer is None or self._armed_for > deadline:
            self._arm(deadline)
        cancelling = self._task.cancelling()
        self._reading = True
        try:
            return await reader.read(size)
        except asyncio.CancelledError:
            if self._expired and self._task.uncancel() <= cancelling:
                raise TimeoutError from None
            raise
        finally:
            self._reading = self._expired = False

    def close(self) -> None:
        """Drop the timer (the connection is done)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._armed_for = when
        self._timer = self._loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._timer = None
        if not self._reading:
            return  # between reads: the next read sets it again
        if self._deadline > self._armed_for:
            self._arm(self._deadline)  # put off since it was set
            return
        self._expired = True
        self._task.cancel()

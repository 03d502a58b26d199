"""A connection's answers, written in the order its frames came, without a writer task.

Frames on one connection are handled concurrently but answered strictly in order. Each frame's
task, when done, writes its ACK and those of the done tasks queued behind it, from its own done
callback: no writer task woken through a queue and again through the task it awaits (one
event-loop callback a message where there were two or three, profile of `hub serve --role
listener` under bench/ingest.py). The reader waits, as it waited on the full queue before, while
more than `max_in_flight` frames are unanswered or while the socket's buffer is over its high
mark (the drain the writer task used to await).
"""
from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections import deque

from hub.metrics import Metrics
from hub.mllp.framing import wrap

log = logging.getLogger(__name__)


class OrderedAnswers:
    """The tasks answering one connection's frames, oldest first, and the writer they answer on."""

    def __init__(self, writer: asyncio.StreamWriter, metrics: Metrics, max_in_flight: int) -> None:
        self._writer = writer
        self._metrics = metrics
        self._max_in_flight = max_in_flight
        self._tasks: deque[asyncio.Task] = deque()
        self._room: asyncio.Future | None = None  # the reader waiting for fewer frames in flight
        self._broken = False

    async def add(self, task: asyncio.Task) -> None:
        """Answer `task`'s ACK after those of the frames before it; returns once the reader may
        read on."""
        self._tasks.append(task)
        task.add_done_callback(self._flush)
        if len(self._tasks) > self._max_in_flight + 1:  # as many as the queue and writer held
            self._room = asyncio.get_running_loop().create_future()
            await self._room
        if not self._broken:
            try:
                await self._writer.drain()
            except (ConnectionError, ssl.SSLError):
                self._broken = True

    async def finish(self) -> None:
        """Wait until every frame added is answered (or the connection broke)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks))
        self._flush()

    def _flush(self, _done: asyncio.Task | None = None) -> None:
        tasks = self._tasks
        while tasks and tasks[0].done():
            task = tasks.popleft()
            if task.cancelled():  # the loop is shutting down: answer nothing, the sender resends
                self._broken = True
                continue
            try:
                ack = task.result()
            except Exception:  # a bug, not bad input: answer nothing, so the sender resends
                log.exception("frame handling failed; closing the connection")
                self._broken = True
                self._writer.close()
                continue
            if ack is None or self._broken:
                continue
            try:
                # One write per ACK: common clients read an ACK with a single receive.
                self._writer.write(wrap(ack))
                self._metrics.ack_latency.observe(time.perf_counter() - task.arrived)  # type: ignore[attr-defined]
            except (ConnectionError, ssl.SSLError):
                self._broken = True
        room = self._room
        if room is not None and len(tasks) <= self._max_in_flight + 1 and not room.done():
            self._room = None
            room.set_result(None)

"""Run the dispatcher in a thread of its own: a round whenever work may be due, else once per
interval.

Work may be due when this process filed new deliveries (its routing workers call `wake()`
after each batch), when a lane that a round skipped as busy becomes free, or when the interval
passes: deliveries filed by another hub process, replays from `hub deliveries replay` and
retries whose time came are found by that round. A round does not wait for the lanes it
starts: they send on in their own threads, and the loop is at once ready for the next wake-up.

While there is work (a round started a lane, harvested outcomes or found a lane busy) the loop
asks again every `poll` seconds until `idle` seconds pass without any: a lane that caught up
with its backlog ends its drain, and what another process (a `--role worker` apart) queues
next should not wait a whole interval. An idle hub asks once per interval.

With `signals` (PostgreSQL's notifications, hub/store/due_signals.py) every hub process that
files deliveries tells the loop which destination they are for (`nudge`), so while it hears
them the loop does not poll: a nudge for a destination whose lane is draining needs no round
(the drain takes them, and a round follows its end), any other one wakes the loop. Polling
cost the sender CPU for every message while lanes were busy; retries that come due within a
drain wait for the interval round instead.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from hub.errors import DatabaseUnavailable
from hub.outbound.dispatcher import Dispatcher, unreachable_reason

log = logging.getLogger(__name__)

POLL = 0.02  # seconds between rounds while there is work
IDLE = 0.25  # seconds without work after which the loop waits a whole interval again


class DueSignals(Protocol):
    """Where the loop hears of deliveries filed by any process (hub.store.due_signals)."""

    @property
    def listening(self) -> bool:
        """Whether every delivery filed now is announced."""

    def start(self, on_due: Callable[[str], None], on_listen: Callable[[], None]) -> None:
        """`on_due(destination)` for each announcement, `on_listen()` whenever announcements
        are heard again after a time they were not."""

    def stop(self) -> None:
        """No more calls."""


class DispatchLoop:
    """Call `dispatcher.run_due(clock())` when woken and at least every `interval` seconds,
    in one thread, from `start()` until `stop()`; with `signals`, woken by what they
    announce."""

    def __init__(self, dispatcher: Dispatcher, clock: Callable[[], datetime], *,
                 interval: float = 1.0, poll: float = POLL, idle: float = IDLE,
                 signals: DueSignals | None = None) -> None:
        self._dispatcher = dispatcher
        self._signals = signals
        self._clock = clock
        self._interval = interval
        self._poll = poll
        self._idle = idle
        self._wakeup = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """Whether the loop's thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def wake(self) -> None:
        """Work may be due: run a round now (or right after the one in progress). Safe from
        any thread, and before `start()` (the first round runs at once anyway)."""
        self._wakeup.set()

    def nudge(self, destination: str) -> None:
        """Deliveries to `destination` were filed: a round, unless its lane is draining (the
        dispatcher then wakes the loop when the drain ends). Safe from any thread."""
        if not self._dispatcher.after_drain(destination, self.wake):
            self.wake()

    def start(self) -> None:
        """Start the thread (and the signals); its first round is immediate."""
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="outbound-dispatch", daemon=True)
        self._thread.start()
        if self._signals is not None:
            self._signals.start(self.nudge, self.wake)

    def stop(self, timeout: float | None = None) -> bool:
        """End the loop after the round in progress; whether its thread ended within `timeout`
        seconds (None: wait as long as it takes). The lanes are the dispatcher's to close."""
        thread, self._thread = self._thread, None
        if thread is None:
            return True
        if self._signals is not None:
            self._signals.stop()
        self._stopping.set()
        self._wakeup.set()
        thread.join(timeout)
        return not thread.is_alive()

    def _run(self) -> None:
        last_work = float("-inf")
        while not self._stopping.is_set():
            # Cleared before the round: a wake-up that comes during it gets a round of its own.
            self._wakeup.clear()
            if self._round():
                last_work = time.monotonic()
            busy = (time.monotonic() - last_work < self._idle
                    and not (self._signals is not None and self._signals.listening))
            self._wakeup.wait(self._poll if busy else self._interval)

    def _round(self) -> bool:
        """One round; whether it found work."""
        try:
            report = self._dispatcher.run_due(self._clock(), wait=0.0, on_free=self.wake)
        except DatabaseUnavailable as exc:  # an outage: the dispatcher's two lines, no traceback
            self._dispatcher.database.failed(unreachable_reason(exc))
            return False
        except Exception:  # noqa: BLE001 - the next round must still come
            log.exception("outbound: dispatch round failed")
            return False
        if (report.outcomes or report.busy) and log.isEnabledFor(logging.DEBUG):
            # The summary walks every outcome: not built for a line that is not written.
            log.debug("outbound round: %s, busy %s", report.summary(), report.busy)
        return bool(report.outcomes or report.busy or report.started)

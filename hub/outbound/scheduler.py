"""Wake the dispatcher every second: an apscheduler job, started and stopped explicitly.

While there is work, a wake-up keeps asking every few milliseconds (a lane that caught up with
its backlog ends its drain, and what routing queues next should not wait a whole interval); an
idle hub asks once per interval, as before.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler

from hub.errors import DatabaseUnavailable
from hub.outbound.dispatcher import Dispatcher, unreachable_reason

log = logging.getLogger(__name__)
JOB_ID = "outbound-run-due"
POLL = 0.02  # seconds between rounds while there is work
IDLE = 0.25  # seconds without work after which a wake-up ends before its interval


class DeliveryScheduler:
    """Call `dispatcher.run_due(clock())` every `interval` seconds in a background thread,
    and every `poll` seconds while there is work, until `idle` seconds pass without any.

    One run at a time (`max_instances=1`) and missed runs collapse into one (`coalesce`): a
    run that overran its second is simply followed by the next, never by a pile of them.
    Nothing starts until `start()`.
    """

    def __init__(self, dispatcher: Dispatcher, clock: Callable[[], datetime], *,
                 interval: float = 1.0, poll: float = POLL, idle: float = IDLE) -> None:
        self._dispatcher = dispatcher
        self._clock = clock
        self._interval = interval
        self._poll = poll
        self._idle = idle
        self._scheduler: BackgroundScheduler | None = None

    @property
    def running(self) -> bool:
        """Whether the job is scheduled."""
        return self._scheduler is not None

    def start(self) -> None:
        """Schedule the job; the first run is immediate."""
        if self._scheduler is not None:
            return
        scheduler = BackgroundScheduler(timezone=UTC)
        scheduler.add_job(self._tick, "interval", seconds=self._interval, id=JOB_ID,
                          max_instances=1, coalesce=True, next_run_time=datetime.now(UTC),
                          misfire_grace_time=None)
        scheduler.start()
        self._scheduler = scheduler

    def stop(self, wait: bool = True) -> None:
        """Unschedule the job; with `wait`, let a run in progress finish first."""
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.shutdown(wait=wait)

    def _tick(self) -> None:
        # Rounds until `idle` passes without work, within most of the interval, so that the
        # wake-up ends before the next is due and apscheduler never has to skip one; lanes
        # still sending carry on and report in a later round.
        end = time.monotonic() + self._interval * 0.8
        wait, idle_since = self._interval / 2, None
        while True:
            began = time.monotonic()
            try:
                report = self._dispatcher.run_due(self._clock(), wait=wait)
            except DatabaseUnavailable as exc:  # an outage: the dispatcher's two lines, no traceback
                self._dispatcher.database.failed(unreachable_reason(exc))
                return
            except Exception:  # noqa: BLE001 - the next tick must still come
                log.exception("outbound: dispatch round failed")
                return
            now = time.monotonic()
            if report.outcomes or report.busy:
                log.debug("outbound round: %s, busy %s", report.summary(), report.busy)
                idle_since = now
            if idle_since is None or now - idle_since >= self._idle or now + self._poll >= end:
                return  # an idle first round ends the wake-up at once
            wait = self._poll
            time.sleep(max(0.0, self._poll - (now - began)))

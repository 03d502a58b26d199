"""Wake the dispatcher every second: an apscheduler job, started and stopped explicitly."""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler

from hub.outbound.dispatcher import Dispatcher

log = logging.getLogger(__name__)
JOB_ID = "outbound-run-due"


class DeliveryScheduler:
    """Call `dispatcher.run_due(clock())` every `interval` seconds in a background thread.

    One run at a time (`max_instances=1`) and missed runs collapse into one (`coalesce`): a
    run that overran its second is simply followed by the next, never by a pile of them.
    Nothing starts until `start()`.
    """

    def __init__(self, dispatcher: Dispatcher, clock: Callable[[], datetime], *,
                 interval: float = 1.0) -> None:
        self._dispatcher = dispatcher
        self._clock = clock
        self._interval = interval
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
        try:
            # Half the interval: the round ends before the next is due, so apscheduler never
            # has to skip one; lanes still sending carry on and report in a later round.
            report = self._dispatcher.run_due(self._clock(), wait=self._interval / 2)
        except Exception:  # noqa: BLE001 - the next tick must still come
            log.exception("outbound: dispatch round failed")
            return
        if report.outcomes or report.busy:
            log.debug("outbound round: %s, busy %s", report.summary(), report.busy)

"""Run registered jobs every so many seconds in a background thread (apscheduler).

The interface is deliberately small: a job is an id, an interval and a function that takes
nothing (bind its arguments with functools.partial). Each job runs one at a time and missed runs
collapse into one, so a run that overran its interval is followed by the next, never by a pile.
A job that raises is logged (its type only: jobs read patient data) and runs again next time.
With a `lock` (hub.jobs.lease.LeaseLock.run), each run first takes the job's lease, so that
hubs sharing a database never run one job twice at once.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """One periodic job: `func()` every `interval` seconds, the first run `interval` after start
    unless `run_at_start`."""

    id: str
    interval: float
    func: Callable[[], object]
    run_at_start: bool = False


class JobScheduler:
    """Jobs registered with `add_job`, run from `start()` until `stop()`."""

    def __init__(self, lock: Callable[[str, Callable[[], object]], object] | None = None) -> None:
        """`lock(job_id, func)`, when given, runs `func` only if it gets the job's lock."""
        self._jobs: dict[str, Job] = {}
        self._lock = lock
        self._scheduler: BackgroundScheduler | None = None

    @property
    def jobs(self) -> list[Job]:
        """The registered jobs, in registration order."""
        return list(self._jobs.values())

    @property
    def running(self) -> bool:
        """Whether the jobs are scheduled."""
        return self._scheduler is not None

    def add_job(self, job_id: str, interval: float, func: Callable[[], object], *,
                run_at_start: bool = False) -> Job:
        """Register `func` to run every `interval` seconds (before or after `start`)."""
        if job_id in self._jobs:
            raise ValueError(f"a job {job_id!r} is already registered")
        if interval <= 0:
            raise ValueError(f"job {job_id!r}: the interval must be positive")
        job = Job(job_id, interval, func, run_at_start)
        self._jobs[job_id] = job
        if self._scheduler is not None:
            self._schedule(self._scheduler, job)
        return job

    def start(self) -> None:
        """Start running the registered jobs."""
        if self._scheduler is not None:
            return
        scheduler = BackgroundScheduler(timezone=UTC)
        for job in self._jobs.values():
            self._schedule(scheduler, job)
        scheduler.start()
        self._scheduler = scheduler

    def stop(self, wait: bool = True) -> None:
        """Stop scheduling; with `wait`, let the runs in progress finish first."""
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.shutdown(wait=wait)

    def _schedule(self, scheduler: BackgroundScheduler, job: Job) -> None:
        first = datetime.now(UTC) if job.run_at_start else None
        kwargs = {"next_run_time": first} if first is not None else {}
        scheduler.add_job(_guarded(job, self._lock), "interval", seconds=job.interval, id=job.id,
                          max_instances=1, coalesce=True, misfire_grace_time=None, **kwargs)


def _guarded(job: Job, lock) -> Callable[[], None]:
    def run() -> None:
        try:
            if lock is None:
                job.func()
            else:
                lock(job.id, job.func)
        except Exception as exc:  # the next run may succeed; the scheduler must keep going
            log.error("job %s failed: %s", job.id, type(exc).__name__)
    return run

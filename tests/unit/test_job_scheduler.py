"""hub.jobs.scheduler.JobScheduler: jobs registered by id run every interval in the background,
one run at a time, a failing run does not stop the next, and stop() ends it."""
from __future__ import annotations

import threading
import time

import pytest

from hub.jobs.scheduler import JobScheduler


def test_a_registered_job_runs_at_start_and_again_each_interval_until_stopped():
    runs: list[float] = []
    jobs = JobScheduler()
    jobs.add_job("tick", 0.1, lambda: runs.append(time.monotonic()), run_at_start=True)
    jobs.start()
    try:
        deadline = time.monotonic() + 5
        while len(runs) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        jobs.stop()
    assert len(runs) >= 3 and not jobs.running
    counted = len(runs)
    time.sleep(0.3)
    assert len(runs) == counted  # nothing runs after stop()


def test_a_failing_job_runs_again_next_interval():
    calls = threading.Semaphore(0)

    def boom() -> None:
        calls.release()
        raise RuntimeError("patient data must not reach the log")

    jobs = JobScheduler()
    jobs.add_job("boom", 0.05, boom, run_at_start=True)
    jobs.start()
    try:
        assert calls.acquire(timeout=5) and calls.acquire(timeout=5)
    finally:
        jobs.stop()


def test_a_job_waits_its_interval_unless_asked_to_run_at_start():
    runs = []
    jobs = JobScheduler()
    jobs.add_job("slow", 30, lambda: runs.append(1))
    jobs.start()
    time.sleep(0.2)
    jobs.stop()
    assert runs == [] and [job.id for job in jobs.jobs] == ["slow"]


def test_ids_are_unique_and_intervals_positive():
    jobs = JobScheduler()
    jobs.add_job("a", 1, lambda: None)
    with pytest.raises(ValueError):
        jobs.add_job("a", 1, lambda: None)
    with pytest.raises(ValueError):
        jobs.add_job("b", 0, lambda: None)

"""Job leases (hub/jobs/lease.py, table job_locks) on SQLite and PostgreSQL: one hub at a time
runs a job, a crashed owner's lease runs out, and two schedulers on one database never run a
job concurrently."""
import threading
import time
from datetime import UTC, datetime, timedelta

from hub.jobs.lease import LeaseLock
from hub.jobs.scheduler import JobScheduler
from hub.store.engine import make_engine
from hub.store.job_store import JobStore

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_a_lease_is_held_by_one_owner_until_released_or_run_out(engine, keyring):
    store = JobStore(engine, keyring)
    assert store.acquire("job", "a", T0, 60)
    assert not store.acquire("job", "b", T0 + timedelta(seconds=59), 60)
    assert store.acquire("job", "a", T0 + timedelta(seconds=30), 60)  # the owner extends it
    assert not store.acquire("job", "b", T0 + timedelta(seconds=89), 60)
    # a's lease ends at T0+90: once past it, b takes it over and a no longer holds it
    assert store.acquire("job", "b", T0 + timedelta(seconds=91), 60)
    assert store.holder("job")[0] == "b"
    assert not store.release("job", "a")          # a cannot release b's lease
    assert store.release("job", "b")
    assert store.holder("job") is None
    assert store.acquire("job", "a", T0 + timedelta(seconds=92), 60)
    assert store.acquire("other-job", "b", T0 + timedelta(seconds=92), 60)  # one lock per job


def test_a_crashed_hubs_job_runs_elsewhere_once_its_lease_ran_out(engine, keyring):
    now = [T0]
    store = JobStore(engine, keyring)
    crashed = LeaseLock(store, lambda: now[0], lease=120, owner="crashed")
    survivor = LeaseLock(store, lambda: now[0], lease=120, owner="survivor")
    runs = []
    # The crashed hub took the lease and died mid-run: nothing gave it back.
    assert store.acquire("job", crashed.owner, now[0], crashed.lease)
    assert survivor.run("job", lambda: runs.append("survivor")) is False
    now[0] = T0 + timedelta(seconds=119)
    assert survivor.run("job", lambda: runs.append("survivor")) is False
    now[0] = T0 + timedelta(seconds=121)
    assert survivor.run("job", lambda: runs.append("survivor")) is True
    assert runs == ["survivor"]
    assert store.holder("job") is None  # released after the run
    assert crashed.run("job", lambda: runs.append("crashed")) is True  # the lock is free again


def test_two_schedulers_on_one_database_never_run_a_job_at_once(database_url, engine, keyring):
    running, overlaps, runs = [0], [], []
    guard = threading.Lock()

    def job(name):
        with guard:
            running[0] += 1
            if running[0] > 1:
                overlaps.append(name)
        time.sleep(0.05)
        with guard:
            running[0] -= 1
            runs.append(name)

    engines = [make_engine(database_url) for _ in range(2)]
    schedulers = []
    for name, eng in zip(("hub-a", "hub-b"), engines):
        lock = LeaseLock(JobStore(eng, keyring), lambda: datetime.now(UTC), lease=30, owner=name)
        scheduler = JobScheduler(lock=lock.run)
        scheduler.add_job("shared", 0.02, lambda name=name: job(name), run_at_start=True)
        schedulers.append(scheduler)
    try:
        for scheduler in schedulers:
            scheduler.start()
        deadline = time.monotonic() + 20
        while len(runs) < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        schedulers[0].stop()                       # hub-a goes away: hub-b carries on alone
        after = len(runs)
        deadline = time.monotonic() + 20
        while len(runs) < after + 5 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        for scheduler in schedulers:
            scheduler.stop()
        for eng in engines:
            eng.dispose()
    assert overlaps == []
    assert len(runs) >= 20
    assert runs[after:] and set(runs[after + 1:]) == {"hub-b"}

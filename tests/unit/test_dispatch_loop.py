"""The outbound dispatch loop without a database: a round at start, when woken and when the
interval passes; a wake-up during a round gets a round of its own; a failed round is logged and
the loop goes on; it stops within a deadline; and a lane a round skipped as busy wakes it once
it is free. Every wait polls against a deadline."""
from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

import pytest

from hub.errors import DatabaseUnavailable
from hub.logs import OutageLog
from hub.outbound.dispatch_loop import DispatchLoop
from hub.outbound.dispatcher import Dispatcher
from hub.outbound.report import DispatchReport

LONG = 60.0  # an interval no test waits for: a round that comes is a wake-up's
DEADLINE = 5.0


def utc_now() -> datetime:
    return datetime.now(UTC)


def eventually(condition, deadline: float = DEADLINE) -> bool:
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            return False
        time.sleep(0.005)
    return True


class FakeDispatcher:
    """Counts rounds; `gate`, when set up, holds a round until it is opened; `failures` are
    raised by the next rounds, one each."""

    def __init__(self, *failures: BaseException) -> None:
        self.rounds = 0
        self.on_free = []
        self.failures = list(failures)
        self.gate: threading.Event | None = None
        self.in_round = threading.Event()
        self.database = OutageLog(logging.getLogger("test.dispatch"), "database", "waiting")
        self.working = 0  # how many of the next rounds start a lane (found work)

    def run_due(self, now, wait=None, on_free=None):
        assert now.tzinfo is not None and wait == 0.0  # a round never waits for its lanes
        self.rounds += 1
        self.on_free.append(on_free)
        self.in_round.set()
        if self.gate is not None:
            assert self.gate.wait(DEADLINE)
        if self.failures:
            raise self.failures.pop(0)
        report = DispatchReport()
        if self.working:
            self.working -= 1
            report.started.append("127.0.0.1:1")
        return report


@pytest.fixture
def loops():
    made = []

    def make(dispatcher, interval=LONG):
        loop = DispatchLoop(dispatcher, utc_now, interval=interval)
        made.append(loop)
        return loop

    yield make
    for loop in made:
        loop.stop(timeout=DEADLINE)


def test_nothing_runs_before_start_and_the_first_round_is_at_once(loops):
    dispatcher = FakeDispatcher()
    loop = loops(dispatcher)
    loop.wake()  # a worker may file before the loop starts
    assert not loop.running and dispatcher.rounds == 0
    loop.start()
    assert loop.running
    assert eventually(lambda: dispatcher.rounds == 1)


def test_a_wake_up_runs_a_round_without_waiting_for_the_interval(loops):
    dispatcher = FakeDispatcher()
    loop = loops(dispatcher)
    loop.start()
    assert eventually(lambda: dispatcher.rounds == 1)
    for n in range(2, 5):
        loop.wake()
        assert eventually(lambda: dispatcher.rounds == n)
    assert dispatcher.on_free[-1] == loop.wake  # a busy lane wakes the loop once it is free


def test_the_interval_brings_rounds_unasked(loops):
    dispatcher = FakeDispatcher()
    loops(dispatcher, interval=0.05).start()
    assert eventually(lambda: dispatcher.rounds >= 3)  # deliveries of other processes, retries


def test_a_wake_up_during_a_round_gets_a_round_of_its_own(loops):
    dispatcher = FakeDispatcher()
    dispatcher.gate = threading.Event()
    loop = loops(dispatcher)
    loop.start()
    assert dispatcher.in_round.wait(DEADLINE) and dispatcher.rounds == 1
    loop.wake()  # work filed while the round reads the due destinations
    dispatcher.gate.set()
    assert eventually(lambda: dispatcher.rounds == 2)


def test_it_stops_within_a_deadline_while_waiting_and_for_good(loops):
    dispatcher = FakeDispatcher()
    loop = loops(dispatcher)
    loop.start()
    assert eventually(lambda: dispatcher.rounds == 1)
    started = time.monotonic()
    assert loop.stop(timeout=DEADLINE)
    assert time.monotonic() - started < 1.0 and not loop.running
    loop.wake()  # the thread has ended: no round can come of it
    assert dispatcher.rounds == 1
    assert loop.stop(timeout=DEADLINE)  # stopping twice is harmless


def test_stop_lets_the_round_in_progress_end(loops):
    dispatcher = FakeDispatcher()
    dispatcher.gate = threading.Event()
    loop = loops(dispatcher)
    loop.start()
    assert dispatcher.in_round.wait(DEADLINE)
    assert not loop.stop(timeout=0.05)  # still in its round
    dispatcher.gate.set()
    assert eventually(lambda: not loop.running)
    assert dispatcher.rounds == 1


def test_a_failed_round_is_logged_and_the_loop_goes_on(loops, caplog):
    caplog.set_level(logging.DEBUG)
    dispatcher = FakeDispatcher(RuntimeError("bug"), DatabaseUnavailable("database unreachable (x)"))
    loop = loops(dispatcher)
    loop.start()
    assert eventually(lambda: dispatcher.rounds == 1)
    loop.wake()
    assert eventually(lambda: dispatcher.rounds == 2)
    loop.wake()
    assert eventually(lambda: dispatcher.rounds == 3)
    failed = [r for r in caplog.records if r.name == "hub.outbound.dispatch_loop"]
    assert [(r.levelno, r.exc_info[0]) for r in failed] == [(logging.ERROR, RuntimeError)]
    outage = [r for r in caplog.records if r.name == "test.dispatch"]  # the outage's own line
    assert len(outage) == 1 and not outage[0].exc_info and "(x)" in outage[0].getMessage()


class _Deliveries:
    """One destination always due; a claim waits at `gate` and finds nothing."""

    def __init__(self, gate: threading.Event, claiming: threading.Event) -> None:
        self._gate, self._claiming = gate, claiming

    def due_destinations(self, now):
        return ["127.0.0.1:1"]

    def claim_batch(self, destination, now, lease_end, batch, skip=(), lane=None):
        self._claiming.set()
        assert self._gate.wait(DEADLINE)
        return []


class _Sender:
    def close(self) -> None:
        pass


class _UnitOfWork:
    def __init__(self, deliveries) -> None:
        self.deliveries = deliveries

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def commit(self) -> None:
        pass


def test_a_lane_skipped_as_busy_calls_on_free_once_when_its_drain_ends():
    gate, claiming, freed = threading.Event(), threading.Event(), []
    deliveries = _Deliveries(gate, claiming)
    dispatcher = Dispatcher(lambda: _UnitOfWork(deliveries), lambda key: _Sender(), utc_now, 5)
    try:
        assert dispatcher.run_due(utc_now(), wait=0.0, on_free=lambda: freed.append(1)).busy == []
        assert claiming.wait(DEADLINE)  # the lane is in its drain
        for _ in range(3):  # rounds while it drains: each skips it, one call in all
            report = dispatcher.run_due(utc_now(), wait=0.0, on_free=lambda: freed.append(1))
            assert report.busy == ["127.0.0.1:1"]
        assert freed == []
        gate.set()
        assert eventually(lambda: freed == [1])
    finally:
        gate.set()
        dispatcher.close()


def test_while_rounds_find_work_the_loop_asks_again_without_a_wake_up_then_rests():
    # Work another process queues must not wait a whole interval while the hub is busy: after
    # a round that started a lane the loop asks every `poll` seconds until `idle` passes.
    dispatcher = FakeDispatcher()
    dispatcher.working = 3
    loop = DispatchLoop(dispatcher, utc_now, interval=LONG, poll=0.01, idle=0.2)
    loop.start()
    try:
        # the 3 working rounds, then rounds every 10 ms with no wake-up, while work is recent
        assert eventually(lambda: dispatcher.rounds >= 8)

        def resting() -> bool:  # no round for longer than the idle time: the interval rules
            before = dispatcher.rounds
            time.sleep(0.3)
            return dispatcher.rounds == before

        assert eventually(resting)
    finally:
        assert loop.stop(timeout=DEADLINE)

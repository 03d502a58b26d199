"""The outbound dispatcher and the dashboard through a database outage: however many rounds,
samples or pages find the database away, the outage is one WARNING when it starts and one INFO
with the count of attempts when it ends, and no traceback; an unexpected error keeps its own.
The database is away for real: nothing listens on the port the engine connects to."""
from __future__ import annotations

import base64
import logging
import threading
import time
from wsgiref.util import setup_testing_defaults

import pytest

from hub.dashboard.app import Dashboard
from hub.dashboard.auth import BasicAuth, hash_password
from hub.dashboard.samples import Sampler, StatusRing
from hub.outbound.dispatcher import Dispatcher
from hub.store.engine import make_engine
from hub.store.unit_of_work import UnitOfWork
from tests.fixtures.dispatching import utc_now
from tests.fixtures.hub_process import free_port

ROUNDS = 7


@pytest.fixture
def away():
    engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none")
    yield engine
    engine.dispose()


def _lines(caplog, logger: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith(logger) and r.levelno >= logging.INFO]


def _assert_one_outage(records: list[logging.LogRecord], attempts: int) -> None:
    assert [r.levelno for r in records] == [logging.WARNING, logging.INFO], \
        [(r.levelname, r.getMessage()) for r in records]
    assert records[0].getMessage().startswith("database unreachable (")
    assert records[1].getMessage().startswith(f"database reachable again after {attempts} failed")
    assert not any(r.exc_info for r in records)


def test_dispatch_rounds_without_the_database_log_one_warning_and_one_info(
        engine, away, keyring, caplog):
    caplog.set_level(logging.DEBUG, logger="hub.outbound")
    back = threading.Event()
    dispatcher = Dispatcher(lambda: UnitOfWork(engine if back.is_set() else away, keyring),
                            senders=None, clock=utc_now, max_attempts=3)
    try:
        for _ in range(ROUNDS):
            report = dispatcher.run_due(utc_now(), wait=0)
            assert report.outcomes == [] and dispatcher.database.down
        back.set()
        dispatcher.run_due(utc_now(), wait=0)
        dispatcher.run_due(utc_now(), wait=0)
    finally:
        dispatcher.close()
    assert not dispatcher.database.down
    records = [r for r in caplog.records if r.name.startswith("hub.outbound")
               and r.levelno >= logging.INFO]
    _assert_one_outage(records, ROUNDS)


def test_dashboard_samples_without_the_database_log_one_warning_and_one_info(
        engine, away, keyring, caplog):
    caplog.set_level(logging.DEBUG, logger="hub.dashboard")
    back, calls = threading.Event(), []

    def collect():  # the status's first read
        calls.append(back.is_set())
        with UnitOfWork(engine if back.is_set() else away, keyring) as uow:
            return {"messages": uow.messages.count_by_state()}

    ring, stop = StatusRing(interval=0.02, history=10), threading.Event()
    sampler = Sampler(ring, collect, stop)
    sampler.start()
    try:
        deadline = time.monotonic() + 30
        while calls.count(False) < ROUNDS and time.monotonic() < deadline:
            time.sleep(0.01)
        assert ring.latest() is None
        back.set()
        while ring.latest() is None and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
    assert ring.latest() is not None
    _assert_one_outage(_lines(caplog, "hub.dashboard"), calls.count(False))


def _get(app, path: str) -> str:
    environ = {"PATH_INFO": path, "REQUEST_METHOD": "GET", "QUERY_STRING": "",
               "HTTP_AUTHORIZATION": "Basic " + base64.b64encode(b"ops:pw").decode()}
    setup_testing_defaults(environ)
    seen = {}
    b"".join(app(environ, lambda status, headers: seen.setdefault("status", status)))
    return seen["status"]


def test_dashboard_pages_without_the_database_are_503_and_one_outage(engine, away, keyring, caplog):
    caplog.set_level(logging.DEBUG, logger="hub.dashboard")
    back = threading.Event()
    unit_of_work = lambda: UnitOfWork(engine if back.is_set() else away, keyring)  # noqa: E731
    app = Dashboard(unit_of_work, None, BasicAuth("ops", hash_password("pw", n=2**10)),
                    StatusRing(5, 60))
    assert [_get(app, "/dashboard/parked")[:3] for _ in range(ROUNDS)] == ["503"] * ROUNDS
    back.set()
    assert _get(app, "/dashboard/parked").startswith("200")
    _assert_one_outage(_lines(caplog, "hub.dashboard"), ROUNDS)


def test_an_unexpected_sampling_error_keeps_its_traceback(caplog):
    caplog.set_level(logging.DEBUG, logger="hub.dashboard")
    ring, stop, calls = StatusRing(interval=0.02, history=10), threading.Event(), []

    def collect():
        calls.append(1)
        raise KeyError("bug")

    sampler = Sampler(ring, collect, stop)
    sampler.start()
    deadline = time.monotonic() + 30
    while len(calls) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    # A call is counted before its warning is logged: the thread's end orders them.
    assert sampler.join(30)
    warnings = [r for r in _lines(caplog, "hub.dashboard.samples") if r.levelno == logging.WARNING]
    assert len(warnings) >= 3 and all(r.exc_info and r.exc_info[0] is KeyError for r in warnings)

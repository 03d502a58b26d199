"""A sender on PostgreSQL hears of deliveries that another process files (NOTIFY at the filing
commit, hub/store/due_signals.py): it sends them at once, not at its next interval round, and
without polling while it waits."""
import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hub.bootstrap import Hub
from hub.domain.professional import Destination, Professional
from hub.logs import OutageLog
from hub.outbound.dispatch_loop import DispatchLoop
from hub.settings import load_settings
from hub.store.due_signals import DueListener
from hub.store.engine import make_engine
from tests.fixtures.databases import fresh_database
from tests.fixtures.fake_recipient import recipients_started
from tests.fixtures.hub_process import free_port
from tests.fixtures.polling import wait_for

DOCTOR = "123456-78"
INTERVAL = 60.0  # the loop's own round would come this late
REPO = Path(__file__).resolve().parents[2]

# Run by another Python process: a stored message of patient n, granted to DOCTOR, queued.
FILE_ONE = """
import sys
from datetime import UTC, datetime, timedelta
from hub.domain.delivery import destination_key
from hub.store.engine import make_engine
from hub.store.keyring import Keyring
from hub.store.unit_of_work import UnitOfWork
from tests.fixtures.deliveries import queue, store_message

url, key_file, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
engine = make_engine(url)
at = datetime.now(UTC) - timedelta(seconds=5)
with UnitOfWork(engine, Keyring.load(key_file)) as uow:
    message_id, patient_id, raw = store_message(uow, n, at=at)
    uow.consents.grant(patient_id, "123456-78", "normal", None, at)
    queue(uow, message_id, patient_id, raw, destination_key("127.0.0.1", port),
          recipient="123456-78", at=at)
    uow.commit()
engine.dispose()
"""


@pytest.fixture
def pg_hub(tmp_path):
    with fresh_database("postgres", tmp_path) as url:
        hub = Hub(load_settings(database_url=url, key_file=str(tmp_path / "keys.json"),
                                broker_url="memory://", outbound={"timeout": 2.0}))
        hub.upgrade_database()
        hub.keyring  # the key file, made before the other process reads it
        try:
            yield hub
        finally:
            hub.close()


def file_elsewhere(hub: Hub, port: int, n: int) -> None:
    subprocess.run([sys.executable, "-c", FILE_ONE, hub.settings.database_url,
                    str(hub.settings.key_file), str(port), str(n)], cwd=REPO, check=True,
                   timeout=60)


@pytest.mark.postgres
def test_a_delivery_filed_by_another_process_is_sent_long_before_the_interval(pg_hub):
    with recipients_started() as start:
        recipient = start()
        with pg_hub.unit_of_work() as uow:
            uow.professionals.upsert(Professional(
                DOCTOR, "Muller", "Jean", "general practice",
                destination=Destination("127.0.0.1", recipient.port, "CAB", "DOC")))
            uow.commit()
        signals = pg_hub.due_signals()
        assert signals is not None
        dispatcher = pg_hub.dispatcher()
        loop = DispatchLoop(dispatcher, pg_hub.clock, interval=INTERVAL, signals=signals)
        loop.start()
        try:
            assert wait_for(lambda: signals.listening, 10.0)
            time.sleep(0.5)  # the loop's first round is over: the next would be INTERVAL away
            for n in (1, 2):  # the second after the lane drained the first
                filed = time.monotonic()
                file_elsewhere(pg_hub, recipient.port, n)
                assert recipient.wait_for(n, timeout=10.0), f"delivery {n} not sent"
                assert time.monotonic() - filed < INTERVAL / 4
                time.sleep(0.5)
        finally:
            loop.stop()
            dispatcher.close()


@pytest.mark.postgres
def test_sqlite_has_no_signals_and_postgres_announces_only_after_commit(pg_hub, tmp_path):
    sqlite = Hub(load_settings(database_url=f"sqlite:///{tmp_path / 'hub.db'}",
                               key_file=str(tmp_path / "lite-keys.json"),
                               broker_url="memory://"))
    try:
        assert sqlite.due_signals() is None
    finally:
        sqlite.close()
    heard: list[str] = []
    signals = pg_hub.due_signals()
    signals.start(heard.append, lambda: None)
    try:
        assert wait_for(lambda: signals.listening, 10.0)
        with pg_hub.unit_of_work() as uow:
            uow.deliveries.announce(["127.0.0.1:2575", "127.0.0.1:2575"])
            time.sleep(0.3)
            assert heard == []  # not before the commit
            uow.commit()
        assert wait_for(lambda: heard, 5.0)
        time.sleep(0.2)
        assert heard == ["127.0.0.1:2575"]
        with pg_hub.unit_of_work() as uow:
            uow.deliveries.announce(["127.0.0.1:2576"])
            uow.rollback()
        time.sleep(0.3)
        assert heard == ["127.0.0.1:2575"]  # a rollback announces nothing
    finally:
        signals.stop()
    assert not signals.listening


def test_a_listener_that_cannot_reach_the_database_adds_to_the_sender_s_one_outage(caplog):
    """The listener, the rounds and the lane renewer all meet an outage: one WARNING and one
    INFO in the sender's log between them, not a pair each."""
    caplog.set_level(logging.INFO, logger="hub")
    away = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none")
    outage = OutageLog(logging.getLogger("hub.outbound.dispatcher"), "database")
    listener = DueListener(away)
    listener.outage = outage
    listened = threading.Event()
    listener.start(lambda destination: None, listened.set)
    try:
        deadline = time.monotonic() + 30
        while outage.attempts < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert outage.attempts >= 2 and not listened.is_set()
    finally:
        listener.stop()
        away.dispose()
    lines = [(r.levelname, r.getMessage()) for r in caplog.records
             if r.name.startswith("hub") and r.levelno >= logging.INFO]
    assert lines == [("WARNING", "database unreachable (while listening for filed deliveries: "
                                 "OperationalError); retrying")], lines

"""Simultaneous resends with more than one consumer: the same messages sent at the same moment on
three MLLP connections, filed by two worker processes (or one process with two worker threads)
beside a listener and a sender, on SQLite and on PostgreSQL. Each message is stored once, its
entries made once and its delivery sent once; the other copies are discarded as resends.

This is issue 12's first defect: the resend check and the insert had nothing between them, so
two consumers could both store a copy (hundreds of doubles per thousand messages before the
store's unique index on sender and MSH-10).
"""
from __future__ import annotations

import collections
import os
import threading
from datetime import UTC, datetime, timedelta

import pytest
from hl7.client import MLLPClient
from sqlalchemy import text

from hub.broker.rabbitmq import RabbitBroker
from hub.broker.topology import Topology
from hub.domain.professional import Destination, Professional
from hub.store.engine import make_engine
from hub.store.keyring import Keyring
from hub.store.schema import upgrade
from hub.store.unit_of_work import UnitOfWork
from tests.fixtures.acks import read_ack
from tests.fixtures.fake_recipient import FakeRecipient
from tests.fixtures.hub_process import DEFAULT_AMQP_URL, HubEnv
from tests.fixtures.messages import patient
from tests.fixtures.registry import FAST_OUTBOUND, oru, placer

COUNT = 300        # messages, each sent once on every connection
CONNECTIONS = 3
N_OBX = 2
DOCTOR = "123456-78"
WORKERS = {"two worker processes": [{}, {}], "two worker threads": [{"HUB_WORKER__THREADS": "2"}]}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request, tmp_path):
    """A SQLite file, or a database on a private PostgreSQL cluster."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hub.db'}"
    return request.getfixturevalue("private_postgres").create_database("hub")


@pytest.fixture
def doctor():
    recipient = FakeRecipient()
    recipient.start()
    yield recipient
    recipient.stop()


def prepare(env: HubEnv, url: str, doctor: FakeRecipient) -> None:
    """The registered doctor (the ordering provider of every message) and each patient's grant
    to them, written before the hub starts."""
    upgrade(url)
    engine = make_engine(url)
    try:
        with UnitOfWork(engine, Keyring.create(env.env["HUB_KEY_FILE"])) as uow:
            uow.professionals.upsert(Professional(
                DOCTOR, "Doc", "Test", "GP",
                destination=Destination("127.0.0.1", doctor.port, "EMR", "CAB")))
            granted = datetime.now(UTC) - timedelta(minutes=5)
            for n in range(COUNT):
                uow.consents.grant(uow.patients.id_for(patient(n).matricule), DOCTOR, "normal",
                                   None, granted)
            uow.commit()
    finally:
        engine.dispose()


def send_at_once(port: int, frames: list[bytes]) -> list[str]:
    """`frames` on each of CONNECTIONS connections, all starting together; every ACK code."""
    start = threading.Barrier(CONNECTIONS)
    codes: list[str] = []
    lock = threading.Lock()

    def connection() -> None:
        with MLLPClient("127.0.0.1", port) as client:
            start.wait(timeout=30)
            got = [read_ack(client.send_message(frame)).code for frame in frames]
        with lock:
            codes.extend(got)

    threads = [threading.Thread(target=connection) for _ in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    return codes


def store_counts(engine) -> dict:
    """Per control id: (stored, discarded, parked, entries, deliveries, delivered)."""
    query = text("""
        SELECT m.control_id, m.state,
               (SELECT count(*) FROM entries e WHERE e.message_id = m.id) AS entries,
               (SELECT count(*) FROM deliveries d WHERE d.message_id = m.id) AS deliveries,
               (SELECT count(*) FROM deliveries d WHERE d.message_id = m.id
                                                  AND d.state = 'delivered') AS delivered
        FROM messages m""")
    rows: dict[str, list[int]] = collections.defaultdict(lambda: [0] * 6)
    with engine.connect() as connection:
        for control_id, state, entries, deliveries, delivered in connection.execute(query):
            row = rows[control_id]
            row[("stored", "discarded", "parked").index(state)] += 1
            row[3] += entries
            row[4] += deliveries
            row[5] += delivered
    return {control_id: tuple(row) for control_id, row in rows.items()}


@pytest.mark.parametrize("workers", list(WORKERS))
def test_simultaneous_resends_with_two_consumers_are_stored_and_delivered_once(
        tmp_path, store_url, doctor, workers, fault_report):
    env = HubEnv(tmp_path, store_url)
    env.env.update(FAST_OUTBOUND)
    prepare(env, store_url, doctor)
    engine = make_engine(store_url)
    try:
        env.start("listener")
        for extra in WORKERS[workers]:
            env.start("worker", **extra)
        env.start("sender")
        frames = [oru(patient(n), f"RACE-{n}", DOCTOR, n_obx=N_OBX) for n in range(COUNT)]

        codes = send_at_once(env.mllp_port, frames)

        def settled():
            counts = store_counts(engine)
            filed = sum(sum(row[:3]) for row in counts.values())
            waiting = sum(row[4] - row[5] for row in counts.values())
            return filed == CONNECTIONS * COUNT and waiting == 0 and counts
        counts = env.wait_until(settled, timeout=240, every=1.0) or store_counts(engine)
    finally:
        env.stop_all()
        engine.dispose()
        _purge(env)

    received = collections.Counter(placer(payload) for payload in list(doctor.received))
    ledger = {
        "sent": len(frames) * CONNECTIONS, "aa": codes.count("AA"),
        "stored": sum(row[0] for row in counts.values()),
        "discarded": sum(row[1] for row in counts.values()),
        "parked": sum(row[2] for row in counts.values()),
        "doubled": sum(1 for row in counts.values() if row[0] > 1),
        "entries_doubled": sum(1 for row in counts.values() if row[3] > N_OBX),
        "delivered": sum(received.values()),
        "delivered_twice": sum(1 for n in received.values() if n > 1),
    }
    fault_report(workers, ledger)
    assert ledger["aa"] == ledger["sent"], env.logs()[-3000:]
    assert ledger["doubled"] == ledger["entries_doubled"] == ledger["delivered_twice"] == 0
    assert counts == {f"RACE-{n}": (1, CONNECTIONS - 1, 0, N_OBX, 1, 1) for n in range(COUNT)}
    assert received == {f"PLRACE-{n}": 1 for n in range(COUNT)}


def _purge(env: HubEnv) -> None:
    """Delete the test's queues on the shared RabbitMQ."""
    broker = RabbitBroker(os.environ.get("HUB_TEST_AMQP_URL", DEFAULT_AMQP_URL),
                          Topology(env.namespace))
    try:
        broker.purge_topology()
    finally:
        broker.close()

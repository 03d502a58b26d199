"""THE acceptance test of per-patient order with several workers (issue 16): 4 `hub serve
--role worker` processes and a listener on RabbitMQ and PostgreSQL; 50 patients, each with an
ordered series (A01, two A08s with newer data, an ORU preliminary then final), sent over MLLP
from several threads that interleave patients but keep each patient's order; one worker
SIGKILLed mid-run. Every message is stored once, each patient's messages were filed in the
order they were sent, the workers shared the partitions, and no process logged a deadlock.

Filing order is read from `messages.processed_at`: the worker stamps each message as it
decides it, in the order it was handed the messages (tests/fixtures/ledger.py reads the
table directly). Two `--role sender` processes deliver the results to a fake recipient (the
ordering doctor, registered, with each patient's grant): it must receive each patient's
preliminary then final result, once each.
"""
from __future__ import annotations

import collections
import dataclasses
import os
import threading
import time
import uuid

import pytest
from sqlalchemy import create_engine, text

from hub.broker.rabbitmq import RabbitBroker
from hub.broker.topology import Topology
from tests.fixtures.databases import fresh_database
from tests.fixtures.fake_recipient import FakeRecipient
from tests.fixtures.hub_process import DEFAULT_AMQP_URL, HubEnv
from tests.fixtures.kills import join_all, kill9
from tests.fixtures.ledger import Ledger, StoreCount, poll, send_numbered
from tests.fixtures.messages import adt_a01, encoded, oru_r01, patient
from tests.fixtures.registry import FAST_OUTBOUND, placer

PATIENTS = 50
SENDER_THREADS = 5
WORKERS = 4
SERIES = ("A01", "A08-1", "A08-2", "ORU-P", "ORU-F")
RESULTS = (3, 4)    # the steps delivered to the ordering doctor
DOCTOR = "123456-78"  # the ORC-12 / OBR-16 of oru_r01
SENDERS = 2


def series(prefix: str, n: int) -> list[tuple[str, bytes]]:
    """Patient n's messages, in the order they must be filed: (MSH-10, frame)."""
    person = patient(n)
    newer = [dataclasses.replace(person, family_name=f"{person.family_name}-v{k}") for k in (1, 2)]
    ids = [f"{prefix}{n}-{step}" for step in range(len(SERIES))]
    preliminary = oru_r01(person, ids[3], n_obx=2).replace("|||F|||", "|||P|||")
    return [(ids[0], encoded(adt_a01(person, ids[0]))),
            (ids[1], encoded(adt_a01(newer[0], ids[1], event="A08"))),
            (ids[2], encoded(adt_a01(newer[1], ids[2], event="A08"))),
            (ids[3], encoded(preliminary)),
            (ids[4], encoded(oru_r01(person, ids[4], n_obx=2)))]


def interleaved(prefix: str, thread: int) -> list[tuple[str, bytes]]:
    """One sender thread's frames: its patients round-robin, step by step."""
    mine = [series(prefix, n) for n in range(thread, PATIENTS, SENDER_THREADS)]
    return [each[step] for step in range(len(SERIES)) for each in mine]


@pytest.fixture
def env(tmp_path):
    with fresh_database("postgres", tmp_path) as url:
        hub = HubEnv(tmp_path, url)
        try:
            yield hub
        finally:
            hub.stop_all()
            broker = RabbitBroker(os.environ.get("HUB_TEST_AMQP_URL", DEFAULT_AMQP_URL),
                                  Topology(hub.namespace))
            try:
                broker.purge_topology()
            finally:
                broker.close()


@pytest.fixture
def doctor():
    recipient = FakeRecipient()
    recipient.start()
    yield recipient
    recipient.stop()


def prepare(env: HubEnv, doctor: FakeRecipient) -> None:
    """The ordering doctor, registered with the fake recipient as destination, and each
    patient's grant to them, written before the hub starts."""
    from datetime import UTC, datetime, timedelta

    from hub.domain.professional import Destination, Professional
    from hub.store.engine import make_engine
    from hub.store.keyring import Keyring
    from hub.store.schema import upgrade
    from hub.store.unit_of_work import UnitOfWork

    url = env.env["HUB_DATABASE_URL"]
    upgrade(url)
    engine = make_engine(url)
    try:
        with UnitOfWork(engine, Keyring.create(env.env["HUB_KEY_FILE"])) as uow:
            uow.professionals.upsert(Professional(
                DOCTOR, "Doc", "Test", "GP",
                destination=Destination("127.0.0.1", doctor.port, "EMR", "CAB")))
            granted = datetime.now(UTC) - timedelta(minutes=5)
            for n in range(PATIENTS):
                uow.consents.grant(uow.patients.id_for(patient(n).matricule), DOCTOR, "normal",
                                   None, granted)
            uow.commit()
    finally:
        engine.dispose()


def delivered_out_of_order(doctor: FakeRecipient, prefix: str) -> dict[int, list[int]]:
    """patient n -> the steps the doctor received, for each patient not received exactly once
    each in send order."""
    got = collections.defaultdict(list)
    for payload in list(doctor.received):
        control_id = placer(payload).removeprefix("PL")
        if control_id.startswith(prefix):
            n, step = control_id.removeprefix(prefix).split("-")
            got[int(n)].append(int(step))
    return {n: got.get(n, []) for n in range(PATIENTS) if got.get(n, []) != list(RESULTS)}


def test_each_patients_messages_are_filed_in_send_order_with_four_workers_and_one_killed(
        env, doctor):
    prefix = f"PORD-{uuid.uuid4().hex[:6]}-"
    env.env.update(FAST_OUTBOUND)
    prepare(env, doctor)
    env.start("listener")
    workers = [env.start("worker") for _ in range(WORKERS)]
    for _ in range(SENDERS):
        env.start("sender")
    engine = create_engine(env.env["HUB_DATABASE_URL"])
    store = StoreCount(env.env["HUB_DATABASE_URL"], prefix)
    ledger = Ledger()
    try:
        # The workers share the partitions: each leases some before anything is sent.
        shared = poll(lambda: _lease_owners(engine) == WORKERS, timeout=60, every=0.5)
        assert shared, f"{_lease_owners(engine)} workers hold partitions\n{env.logs()[-3000:]}"

        threads = [threading.Thread(target=send_numbered, args=(env.mllp_port,
                                    interleaved(prefix, k), ledger),
                                    kwargs={"pace": 0.01, "timeout": 10.0}, daemon=True)
                   for k in range(SENDER_THREADS)]
        for thread in threads:
            thread.start()
        third = PATIENTS * len(SERIES) // 3
        assert poll(lambda: len(ledger.acked()) >= third, timeout=120, every=0.1)
        kill9(workers[1])  # mid-run, holding whatever it was handed

        assert join_all(threads, timeout=300), f"senders still running: {ledger.counts()}"
        acked = ledger.acked()
        assert len(acked) == PATIENTS * len(SERIES)
        assert poll(lambda: store.tally(acked)["lost"] == 0, timeout=120), store.tally(acked)
        tally = store.tally(acked)
        assert (tally["doubled"], tally["healthy_parked"]) == (0, 0), tally

        out_of_order = filed_out_of_order(engine, prefix)
        assert len(_filed(engine, prefix)) == PATIENTS and not out_of_order, out_of_order
        # The doctor received each patient's preliminary then final result, once each.
        assert poll(lambda: not delivered_out_of_order(doctor, prefix), timeout=120), \
            delivered_out_of_order(doctor, prefix)
        time.sleep(2)  # a late double or a straggler shows by now
        assert delivered_out_of_order(doctor, prefix) == {}
        # The survivors took the killed worker's partitions over: every lease is held again.
        assert poll(lambda: _lease_owners(engine) == WORKERS - 1, timeout=60), \
            _lease_owners(engine)
        assert "deadlock" not in env.logs().lower()
    finally:
        store.close()
        engine.dispose()


def _filed(engine, prefix: str) -> dict[int, list[tuple[object, int]]]:
    """patient n -> (processed_at, step) of each of its stored messages."""
    filed = collections.defaultdict(list)
    with engine.connect() as connection:
        for control_id, processed_at in connection.execute(text(
                "SELECT control_id, processed_at FROM messages WHERE control_id LIKE :p "
                "AND state = 'stored'"), {"p": prefix + "%"}):
            n, step = control_id.removeprefix(prefix).split("-")
            filed[int(n)].append((processed_at, int(step)))
    return filed


def filed_out_of_order(engine, prefix: str) -> dict[int, list[int]]:
    """patient n -> its steps in filing order, for each patient not filed in send order."""
    orders = {n: [step for _at, step in sorted(rows)] for n, rows in _filed(engine, prefix).items()}
    return {n: steps for n, steps in orders.items() if steps != list(range(len(SERIES)))}


def _lease_owners(engine) -> int:
    try:
        with engine.connect() as connection:
            return connection.execute(text(
                "SELECT count(DISTINCT owner) FROM partition_leases WHERE expires_at > now()"
            )).scalar_one()
    except Exception:  # noqa: BLE001 - the table appears with the first worker's upgrade
        return 0

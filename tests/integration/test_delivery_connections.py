"""Several connections per destination (`[outbound] connections`), on real SQLite and PostgreSQL
to a fake MLLP recipient over loopback: the lanes send side by side, each patient stays on one
connection, and every patient's deliveries arrive once each, in their queue's order."""
import threading
import time
from collections import defaultdict
from datetime import timedelta

import pytest

from hub.domain.delivery import Lane, destination_key, lanes_of, parse_destination_key
from hub.hl7.message import Message
from hub.outbound.dispatcher import Dispatcher
from hub.outbound.sender import DestinationSender
from tests.fixtures.deliveries import queue, recheck_with, store_message
from tests.fixtures.dispatching import allow, utc_now
from tests.fixtures.fake_recipient import Reply, recipients_started

DEADLINE = 60.0


@pytest.fixture
def recipients():
    with recipients_started() as start:
        yield start


def enqueue_patients(uow_factory, destination, patients, each):
    """`each` deliveries for each of `patients` patients to `destination`, queued a second
    ago; {patient id: [its deliveries in queue order]}."""
    at = utc_now() - timedelta(seconds=1)
    queues = defaultdict(list)
    with uow_factory() as uow:
        for p in range(1, patients + 1):
            for i in range(each):
                message_id, patient_id, raw = store_message(uow, p * 100 + i, patient_n=p)
                queues[patient_id].append(queue(uow, message_id, patient_id, raw, destination,
                                                at=at))
        uow.commit()
    return queues


@pytest.mark.parametrize("count", [2, 3, 4, 16])
def test_every_patient_is_due_in_exactly_one_lane(uow_factory, count):
    queues = enqueue_patients(uow_factory, "10.0.0.1:2575", patients=64, each=1)
    now = utc_now()
    with uow_factory() as uow:
        everyone = {d.patient_id for d in uow.deliveries.due(now, 1000)}
        by_lane = [{d.patient_id for d in uow.deliveries.due(now, 1000, lane=lane,
                                                              destination="10.0.0.1:2575")}
                   for lane in lanes_of(count)]
    assert everyone == set(queues)
    assert sum(len(share) for share in by_lane) == len(everyone)  # disjoint ...
    assert set().union(*by_lane) == everyone                         # ... and whole
    for lane, share in zip(lanes_of(count), by_lane):
        assert all(lane.holds(patient_id) for patient_id in share)
    if count <= 4:  # 64 random ids leave one of 4 lanes empty once in 10^7 runs
        assert all(by_lane)


def test_a_claim_takes_only_its_lanes_patients(uow_factory):
    destination = "10.0.0.1:2575"
    queues = enqueue_patients(uow_factory, destination, patients=32, each=3)
    lane = Lane(1, 4)
    now = utc_now()
    with uow_factory() as uow:
        batch = uow.deliveries.claim_batch(destination, now, now + timedelta(minutes=2), 100,
                                           lane=lane)
        uow.commit()
    mine = {p for p in queues if lane.holds(p)}
    assert {d.patient_id for d in batch} == mine
    assert [d.id for d in batch] == [d.id for p in dict.fromkeys(d.patient_id for d in batch)
                                     for d in queues[p]]  # queue by queue, in order


@pytest.mark.parametrize("connections", [1, 4])
def test_lanes_send_side_by_side_each_patient_on_one_connection_in_order(
        uow_factory, recipients, monkeypatch, connections):
    in_flight, peak, lock = [0], [0], threading.Lock()

    def respond(n, payload):
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.02)  # a recipient that takes a while to answer
        with lock:
            in_flight[0] -= 1
        return Reply("AA")

    recipient = recipients(respond)
    recheck_with(monkeypatch, allow)
    queues = enqueue_patients(uow_factory, destination_key("127.0.0.1", recipient.port),
                              patients=24, each=4)
    total = sum(len(q) for q in queues.values())

    def senders(key):
        return DestinationSender(*parse_destination_key(key), timeout=5.0)

    dispatcher = Dispatcher(uow_factory, senders, utc_now, 5, connections=connections)
    try:
        deadline = time.monotonic() + DEADLINE
        while len(recipient.received) < total and time.monotonic() < deadline:
            dispatcher.run_due(utc_now(), wait=1.0)
    finally:
        dispatcher.close()

    owner = {d.control_id: (patient_id, d.sequence)
             for patient_id, run in queues.items() for d in run}
    arrived = defaultdict(list)  # patient id -> [(connection, sequence)] in arrival order
    for number, payload in list(recipient.arrivals):
        patient_id, sequence = owner[Message.parse(payload.decode("latin-1")).control_id]
        arrived[patient_id].append((number, sequence))
    assert sorted(len(a) for a in arrived.values()) == [4] * len(queues)  # once each
    for patient_id, seen in arrived.items():
        assert [s for _, s in seen] == [d.sequence for d in queues[patient_id]]  # in order
        assert len({number for number, _ in seen}) == 1  # on one connection
    if connections == 1:
        assert (recipient.connections, peak[0]) == (1, 1)
    else:
        assert 2 <= recipient.connections <= connections and peak[0] >= 2

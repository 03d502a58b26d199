"""The routing worker against the in-memory broker and real databases: what each message ends
as, poison that does not block, redeliveries that do not double, dead letters that get parked."""
from __future__ import annotations

import pytest

from hub.broker.topology import DELIVERY_LIMIT
from hub.errors import BrokerError
from hub.metrics import Metrics
from hub.mapping.loader import load_mappings
from hub.routing.outcome import RoutingPolicy
from hub.routing.worker import RoutingWorker
from hub.settings import REPO_ROOT
from tests.fixtures.messages import adt_a01, encoded, oru_r01, patient
from tests.fixtures.routing import TOPOLOGY, LosesTheFirstAck, memory_broker, receive, states


def plain_worker(broker, uow_factory) -> RoutingWorker:
    """A worker with the default routing policy (no routes)."""
    return RoutingWorker(broker, TOPOLOGY, uow_factory, load_mappings(REPO_ROOT / "mappings"),
                         RoutingPolicy(), Metrics(), batch_size=10, batch_wait=0.01)


@pytest.fixture
def broker():
    return memory_broker()


@pytest.fixture
def worker(broker, uow_factory):
    return plain_worker(broker, uow_factory)


def test_each_message_ends_in_exactly_one_counted_state(broker, worker, uow_factory):
    person = patient(1)
    bad_date = oru_r01(person, "POISON-1").replace("|20261125093000", "|not-a-time")
    unmapped = adt_a01(person, "SIU-1").replace("ADT^A01^ADT_A01", "SIU^S12^SIU_S12")
    receive(broker, encoded(oru_r01(person, "OK-1", n_obx=4)), encoded(adt_a01(person, "OK-2")),
            b"garbage", encoded(bad_date), encoded(unmapped), encoded(oru_r01(person, "OK-3", n_obx=2)))

    worker.drain()

    assert states(uow_factory) == {"stored": 3, "rejected": 1, "parked": 2}
    with uow_factory() as uow:
        parked = {m.control_id: m.reason for m in uow.messages.search(state="parked")}
        entries = uow.entries.for_patient(uow.patients.find(person.matricule))
    assert parked["SIU-1"].startswith("unmapped")
    assert "OBX-14" in parked["POISON-1"] and "not-a-time" not in parked["POISON-1"]
    assert sorted(e.kind for e in entries) == ["encounter"] + ["lab_result"] * 6


def test_a_redelivered_message_is_not_filed_twice(uow_factory):
    broker = memory_broker(LosesTheFirstAck)
    worker = plain_worker(broker, uow_factory)
    receive(broker, encoded(oru_r01(patient(2), "TWICE-1", n_obx=3)))
    with pytest.raises(BrokerError):
        worker.drain()  # committed, then the connection drops before the ack
    assert broker.acks_lost == 1  # and the broker hands the message out again

    worker.drain()

    assert states(uow_factory) == {"stored": 1}
    with uow_factory() as uow:
        assert uow.entries.count() == 3


def test_a_message_that_keeps_failing_is_dead_lettered_then_parked(broker, worker, uow_factory):
    receive(broker, encoded(oru_r01(patient(3), "CRASH-1")))
    for _ in range(DELIVERY_LIMIT + 1):  # as if a worker crashed on it every time
        consumer = broker.open_consumer(TOPOLOGY.inbound, prefetch=10)
        if not consumer.fetch(10, 0.1):
            break
        consumer.close()

    worker.drain()

    with uow_factory() as uow:
        [parked] = uow.messages.search(state="parked")
    assert (parked.control_id, parked.reason.startswith("dead-lettered")) == ("CRASH-1", True)


def test_a_store_that_refuses_one_row_does_not_take_the_batch_with_it(broker, worker, uow_factory,
                                                                         monkeypatch):
    from hub.routing import filing

    receive(broker, *[encoded(oru_r01(patient(n), f"ROW-{n}", n_obx=1)) for n in range(5)])
    original = filing.file_batch

    def refuse_row_3(uow, outcomes, *args):  # its entries, say; parking it (no entries) works
        if any(o.record.control_id == "ROW-3" and o.record.state == "stored" for o in outcomes):
            raise RuntimeError("the database refused this row")
        return original(uow, outcomes, *args)

    monkeypatch.setattr("hub.routing.worker.file_batch", refuse_row_3)
    monkeypatch.setattr("hub.routing.worker.RETRY_PAUSE", 0.0)
    worker.drain()

    assert states(uow_factory) == {"stored": 4, "parked": 1}
    with uow_factory() as uow:
        [parked] = uow.messages.search(state="parked")
    assert parked.control_id == "ROW-3" and parked.reason.startswith("dead-lettered")


def test_resends_within_one_batch_and_across_batches_are_settled_alike(broker, worker, uow_factory):
    person = patient(9)
    first = encoded(oru_r01(person, "SAME-1", n_obx=2))
    other = encoded(oru_r01(person, "SAME-1", n_obx=3))  # the MSH-10 reused for other content
    receive(broker, first, first, other)
    worker.drain()  # one batch
    receive(broker, first, other)
    worker.drain()  # a later batch

    with uow_factory() as uow:
        found = sorted(uow.messages.search(control_id="SAME-1"), key=lambda m: m.received_at)
        entries = uow.entries.for_patient(uow.patients.find(person.matricule))
    original = found[0]
    assert [m.state.value for m in found] == ["stored", "discarded", "parked", "discarded",
                                              "parked"]
    assert all(original.id in m.reason for m in found[1:])
    assert len(entries) == 2

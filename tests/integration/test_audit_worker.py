"""The routing worker writes the audit events it has a reason for, in the transaction that files
the message: a message for a closed dossier is discarded, and the patient's journal says so."""
from __future__ import annotations

import pytest

from hub.errors import BrokerError
from hub.metrics import Metrics
from hub.mapping.loader import load_mappings
from hub.routing.outcome import RoutingPolicy
from hub.routing.worker import RoutingWorker
from hub.settings import REPO_ROOT
from hub.store.unit_of_work import UnitOfWork
from tests.fixtures.messages import encoded, oru_r01, patient
from tests.fixtures.routing import TOPOLOGY, LosesTheFirstAck, memory_broker, receive


def plain_worker(broker, uow_factory) -> RoutingWorker:
    return RoutingWorker(broker, TOPOLOGY, uow_factory, load_mappings(REPO_ROOT / "mappings"),
                         RoutingPolicy(), Metrics(), batch_size=10, batch_wait=0.01)


@pytest.fixture
def broker():
    return memory_broker()


@pytest.fixture
def worker(broker, uow_factory):
    return plain_worker(broker, uow_factory)


def close_dossier(uow_factory, matricule: str) -> str:
    with uow_factory() as uow:
        patient_id = uow.patients.id_for(matricule)
        uow.patients.set_closed(patient_id, True)
        uow.commit()
    return patient_id


def test_a_message_for_a_closed_dossier_is_discarded_and_journaled(broker, worker, uow_factory):
    closed, open_ = patient(11), patient(12)
    patient_id = close_dossier(uow_factory, closed.matricule)
    receive(broker, encoded(oru_r01(closed, "CLOSED-1", n_obx=2)),
            encoded(oru_r01(open_, "OPEN-1", n_obx=2)),
            encoded(oru_r01(closed, "CLOSED-2", n_obx=1)))

    worker.drain()

    with uow_factory() as uow:
        discarded = {m.control_id: m for m in uow.messages.search(state="discarded")}
        journal = uow.audit.journal(patient_id)
        other_journal = uow.audit.journal(uow.patients.find(open_.matricule))
        entries = uow.entries.for_patient(patient_id)
        result = uow.audit.verify()
    assert set(discarded) == {"CLOSED-1", "CLOSED-2"} and entries == []
    assert [(e.actor, e.action, e.outcome, e.reason, e.entry_id) for e in journal] == [
        ("hub", "message.discarded", "ok", "dossier closed by the patient", None)] * 2
    assert [e.message_id for e in journal] == [discarded["CLOSED-1"].id, discarded["CLOSED-2"].id]
    # The open dossier's message was filed: that is its journal's one event.
    assert [(e.action, e.entry_id) for e in other_journal] == [("entries.filed", None)]
    assert (result.ok, result.checked) == (True, 3)


def test_a_redelivered_discarded_message_is_journaled_once(uow_factory):
    broker = memory_broker(LosesTheFirstAck)
    worker = plain_worker(broker, uow_factory)
    patient_id = close_dossier(uow_factory, patient(13).matricule)
    receive(broker, encoded(oru_r01(patient(13), "AGAIN-1")))
    with pytest.raises(BrokerError):
        worker.drain()  # committed, then the connection drops before the ack
    assert broker.acks_lost == 1  # and the broker hands the message out again

    worker.drain()

    with uow_factory() as uow:
        assert len(uow.audit.journal(patient_id)) == 1
        assert uow.messages.count_by_state()["discarded"] == 1


def test_the_event_is_rolled_back_with_the_message_it_is_about(broker, worker, uow_factory,
                                                               monkeypatch):
    patient_id = close_dossier(uow_factory, patient(14).matricule)
    receive(broker, encoded(oru_r01(patient(14), "ROLLED-1")))
    real_commit = UnitOfWork.commit
    calls = []

    def first_commit_fails(uow):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the database went away")
        return real_commit(uow)

    monkeypatch.setattr(UnitOfWork, "commit", first_commit_fails)
    monkeypatch.setattr("hub.routing.worker.RETRY_PAUSE", 0.0)
    worker.drain()

    with uow_factory() as uow:
        assert [e.action for e in uow.audit.journal(patient_id)] == ["message.discarded"]
        assert uow.audit.verify().ok

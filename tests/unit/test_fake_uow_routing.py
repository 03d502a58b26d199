"""Filing and delivering on the fake unit of work (tests/fixtures/fake_uow.py): a stored ORU
files its entries and routes them, a resend is not filed twice, and each recipient is allowed,
denied with its reason, or has no destination; no database involved."""
from __future__ import annotations

from datetime import timedelta

from hub.domain.audit import AuditAction, FilingDetail
from hub.domain.models import MessageState
from hub.routing.delivering import RoutedBatch, queue_routed, route_message
from hub.routing.filing import file_batch
from hub.routing.routes import Candidate
from tests.fixtures.fake_uow import (
    DOCTOR, NOW, OTHER, POLICY, SUSPENDED, UNKNOWN, FakeStore, grant, oru, store_with_registry,
)
from tests.fixtures.messages import patient

def test_a_stored_oru_files_its_entries_and_queues_a_delivery_to_the_allowed_recipient():
    store = store_with_registry()
    patient_id = grant(store, 1)
    with store.uow() as uow:
        assert file_batch(uow, [oru(1)], POLICY) == [MessageState.STORED]
        uow.commit()
    assert [(e.patient_id, e.message_id, e.seq) for e in store.entries] == [
        (patient_id, "message-1", 0), (patient_id, "message-1", 1)]
    [delivery] = store.deliveries.values()
    assert (delivery.message_id, delivery.patient_id, delivery.recipient, delivery.destination,
            delivery.sequence) == ("message-1", patient_id, DOCTOR, "127.0.0.1:2575", 1)
    assert b"CAB" in store.payloads[delivery.id]  # re-addressed to the recipient
    # The filing itself is in the patient's journal: ids and codes only.
    [filed] = store.audit
    assert (filed.actor, filed.action, filed.patient_id, filed.message_id, filed.entry_id) == (
        "hub", AuditAction.ENTRIES_FILED, patient_id, "message-1", None)
    assert FilingDetail.from_json(filed.detail) == FilingDetail(
        tuple(e.id for e in store.entries), "LABSYS^CHL", None, None)


def test_a_filing_names_the_professional_the_entries_name_by_cns_code_only():
    store = store_with_registry()
    grant(store, 1)
    outcome = oru(1)
    outcome.entries[1].payload["ordering_provider"] = {"cns_code": DOCTOR, "family_name": "X"}
    with store.uow() as uow:
        file_batch(uow, [outcome], POLICY)
        uow.commit()
    [filed] = [e for e in store.audit if e.action == AuditAction.ENTRIES_FILED]
    detail = FilingDetail.from_json(filed.detail)
    assert (detail.professional, detail.role) == (DOCTOR, "ordering")
    assert "X" not in filed.detail  # a name is the message's, never the log's


def test_a_resend_is_discarded_and_files_nothing_twice():
    store = store_with_registry()
    grant(store, 1)
    with store.uow() as uow:
        file_batch(uow, [oru(1)], POLICY)
        uow.commit()
    with store.uow() as uow:
        assert file_batch(uow, [oru(1, message_id="resend")], POLICY) == [
            MessageState.DISCARDED]
        uow.commit()
    assert store.messages["resend"][0].reason == "duplicate of message message-1"
    assert len(store.entries) == 2 and len(store.deliveries) == 1


def test_a_batch_reads_consent_of_all_its_patients_at_once_and_each_professional_once():
    store = store_with_registry()
    for n in (1, 2, 3):
        grant(store, n)
    store.reads.clear()
    with store.uow() as uow:
        file_batch(uow, [oru(n) for n in (1, 2, 3)], POLICY)
        uow.commit()
    assert store.reads == {"states": 1, "professional": 1}
    assert len(store.deliveries) == 3


def test_a_closed_dossier_discards_the_message_with_its_audit_event():
    store = store_with_registry()
    patient_id = grant(store, 1)
    store.closed.add(patient_id)
    with store.uow() as uow:
        assert file_batch(uow, [oru(1)], POLICY) == [MessageState.DISCARDED]
        uow.commit()
    assert store.entries == [] and store.deliveries == {}
    assert [(e.action, e.patient_id, e.reason) for e in store.audit] == [
        (AuditAction.MESSAGE_DISCARDED, patient_id, "dossier closed by the patient")]


def route(store: FakeStore, codes: list[str], *, granted: tuple[str, ...] = ()):
    """Route patient 1's message to `codes` in one batch; (counts, batch, patient id)."""
    with store.uow() as uow:
        patient_id = uow.patients.id_for(patient(1).matricule)
        for code in granted:
            uow.consents.grant(patient_id, code, "normal", None, NOW - timedelta(days=1))
        batch = RoutedBatch(uow, NOW, referent_by_default=True)
        outcome = oru(1)
        counts = route_message(batch, patient_id=patient_id, message_id="message-1",
                               raw=outcome.raw,
                               candidates=[Candidate("orderer", c, "ORC-12") for c in codes],
                               views=[], entry_ids=["entry-1"], policy=POLICY)
        queue_routed(batch)
        uow.commit()
    return counts, batch, patient_id


def test_an_allowed_recipient_with_a_destination_gets_a_delivery():
    store = store_with_registry()
    counts, batch, patient_id = route(store, [DOCTOR], granted=(DOCTOR,))
    assert counts == {"queued": 1}
    [delivery] = store.deliveries.values()
    assert [(r.recipient, r.outcome, r.delivery_id, r.destination) for r in batch.routed] == [
        (DOCTOR, "queued", delivery.id, "127.0.0.1:2575")]
    assert (delivery.entry_id, delivery.patient_id) == ("entry-1", patient_id)
    assert store.audit == []


def test_each_denied_recipient_is_audited_with_its_reason_and_gets_nothing():
    store = store_with_registry()
    counts, batch, patient_id = route(store, [DOCTOR, SUSPENDED, UNKNOWN, "not-a-code"],
                                      granted=(SUSPENDED,))
    assert counts == {"no grant in force": 1, "recipient not active": 1,
                      "recipient not registered": 1, "recipient id is not a CNS code": 1}
    assert store.deliveries == {}
    assert [(e.actor, e.action, e.reason, e.patient_id, e.entry_id) for e in store.audit] == [
        (DOCTOR, AuditAction.DENY, "no grant in force", patient_id, "entry-1"),
        (SUSPENDED, AuditAction.DENY, "recipient not active", patient_id, "entry-1"),
        (UNKNOWN, AuditAction.DENY, "recipient not registered", patient_id, "entry-1"),
        ("hub", AuditAction.DENY, "recipient id is not a CNS code (ORC-12)", patient_id,
         "entry-1"),
    ]
    assert [(r.recipient, r.outcome, r.reason) for r in batch.routed] == [
        (DOCTOR, "denied", "no grant in force"),
        (SUSPENDED, "denied", "recipient not active"),
        (UNKNOWN, "denied", "recipient not registered"),
        (None, "denied", "recipient id is not a CNS code"),
    ]


def test_an_allowed_recipient_without_a_destination_is_noted_and_gets_nothing():
    store = store_with_registry()
    counts, batch, _ = route(store, [OTHER], granted=(OTHER,))
    assert counts == {"no destination": 1}
    assert [(r.recipient, r.outcome) for r in batch.routed] == [(OTHER, "no_destination")]
    assert store.deliveries == {} and store.audit == []

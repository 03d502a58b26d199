"""The outbound batch runner on the fake unit of work (tests/fixtures/fake_uow.py): the allowed
deliveries of a batch go out in queue order, one whose consent was revoked is denied with its
journal event, and the batch's consent and entries are each read once; no database, no socket."""
from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

from hub.domain.audit import AuditAction, AuditOutcome
from hub.domain.delivery import DeliveryState
from hub.logs import OutageLog
from hub.outbound.ack_reader import AckResult
from hub.outbound.batch import BatchRunner, LanePolicy
from hub.outbound.journal import journal_outcome
from hub.routing.filing import file_batch
from tests.fixtures.fake_uow import DOCTOR, POLICY, FakeStore, grant, oru, store_with_registry

DESTINATION = "127.0.0.1:2575"


class Sender:
    """Answers AA to every send and keeps the control ids, in order."""

    def __init__(self):
        self.sent = []

    def send(self, payload, control_id, on_late=None):
        self.sent.append(control_id)
        return AckResult("AA", accepted=True, retryable=False)


def runner(store: FakeStore) -> BatchRunner:
    return BatchRunner(LanePolicy(max_attempts=3, recheck_window=60.0), store.uow,
                       lambda: datetime.now(UTC), journal=journal_outcome,
                       stopping=threading.Event(),
                       database=OutageLog(logging.getLogger(__name__), "database", "waits"))


def queued(store: FakeStore, patients=(1, 2, 3)) -> list:
    """Patients' messages filed and routed to DOCTOR (granted), each queued."""
    for n in patients:
        grant(store, n)
    with store.uow() as uow:
        file_batch(uow, [oru(n) for n in patients], POLICY)
        uow.commit()
    return sorted(store.deliveries.values(), key=lambda d: (d.patient_id, d.sequence))


def sent(store) -> list:
    """The sender's events: those after filing (each filing is journaled too)."""
    return [e for e in store.audit if e.action != AuditAction.ENTRIES_FILED]


def test_the_allowed_deliveries_of_a_batch_are_sent_in_order_and_journaled():
    store = store_with_registry()
    deliveries = queued(store)
    sender = Sender()
    store.reads.clear()
    outcomes, go_on = runner(store).run(sender, DESTINATION, datetime.now(UTC) + timedelta(1),
                                        set())
    assert sender.sent == [d.control_id for d in deliveries]
    assert [(o.delivery.id, o.state) for o in outcomes] == [
        (d.id, DeliveryState.DELIVERED) for d in deliveries]
    assert all(store.deliveries[d.id].state is DeliveryState.DELIVERED for d in deliveries)
    assert [(e.action, e.outcome, e.patient_id) for e in sent(store)] == [
        (AuditAction.DELIVER, AuditOutcome.OK, d.patient_id) for d in deliveries]
    # One read of the consent of the batch's patients, of its entries, of the professional.
    assert store.reads == {"states": 1, "entry_views": 1, "professional": 1}


def test_a_consent_revoked_since_routing_makes_a_denial_with_its_journal_event():
    store = store_with_registry()
    first, revoked, third = queued(store)
    with store.uow() as uow:
        uow.consents.revoke(revoked.patient_id, DOCTOR, datetime.now(UTC))
        uow.commit()
    sender = Sender()
    outcomes, _ = runner(store).run(sender, DESTINATION, datetime.now(UTC) + timedelta(1),
                                    set())
    assert sender.sent == [first.control_id, third.control_id]
    assert [(o.delivery.id, o.state, o.reason) for o in outcomes] == [
        (first.id, DeliveryState.DELIVERED, "AA"),
        (revoked.id, DeliveryState.DENIED, "grant revoked"),
        (third.id, DeliveryState.DELIVERED, "AA")]
    denied = store.deliveries[revoked.id]
    assert (denied.state, denied.last_error, denied.attempts) == (
        DeliveryState.DENIED, "grant revoked", 0)
    assert [(e.action, e.outcome, e.patient_id, e.reason) for e in sent(store)] == [
        (AuditAction.DELIVER, AuditOutcome.OK, first.patient_id, "AA"),
        (AuditAction.DENY, AuditOutcome.DENIED, revoked.patient_id, "grant revoked"),
        (AuditAction.DELIVER, AuditOutcome.OK, third.patient_id, "AA")]
    assert [a.delivery_id for a in store.attempts] == [first.id, third.id]  # a denial sent nothing

"""The deliveries repository on real SQLite and PostgreSQL: queues, heads, leases, states."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from hub.domain.delivery import DeliveryState
from hub.errors import StoreError
from hub.store import tables
from hub.store.tables import new_id
from tests.fixtures.deliveries import T0, queue, store_message
from tests.fixtures.messages import patient

A, B = "10.0.0.1:2575", "10.0.0.2:2575"


def test_add_then_read_back_with_the_payload_encrypted_at_rest(uow_factory, engine):
    with uow_factory() as uow:
        message_id, patient_id, raw = store_message(uow, 1)
        added = queue(uow, message_id, patient_id, raw, A)
        uow.commit()
    with uow_factory() as uow:
        assert uow.deliveries.get(added.id) == added
        assert added.state is DeliveryState.PENDING and added.attempts == 0
        assert added.next_attempt_at == T0 and added.sequence == 1
        payload = uow.deliveries.payload(added.id)
        assert added.control_id in payload.decode() and payload.endswith(raw[raw.index(b"\r"):])
        assert uow.deliveries.for_message(message_id) == [added]
        assert uow.deliveries.get(new_id()) is None
        with pytest.raises(StoreError):
            uow.deliveries.payload(new_id())
    with engine.connect() as connection:
        row = connection.execute(select(tables.deliveries)).one()
    name = patient(1).family_name.encode()
    assert name not in row.payload_ct and patient(1).matricule.encode() not in row.payload_ct
    assert row.payload_key_id


def test_sequences_number_each_patient_and_destination_queue_apart(uow_factory):
    with uow_factory() as uow:
        m1, p1, raw1 = store_message(uow, 1)
        m2, p2, raw2 = store_message(uow, 2)
        sequences = [queue(uow, m1, p1, raw1, A).sequence, queue(uow, m1, p1, raw1, A).sequence,
                     queue(uow, m1, p1, raw1, B).sequence, queue(uow, m2, p2, raw2, A).sequence]
        uow.commit()
    assert sequences == [1, 2, 1, 1]


def test_a_batch_is_numbered_behind_each_queue_in_the_order_given(uow_factory):
    with uow_factory() as uow:
        m1, p1, raw1 = store_message(uow, 1)
        m2, p2, raw2 = store_message(uow, 2)
        queue(uow, m1, p1, raw1, A)
        uow.commit()
    with uow_factory() as uow:
        wanted = [(m1, p1, A), (m2, p2, A), (m1, p1, B), (m1, p1, A), (m2, p2, A)]
        added = uow.deliveries.add_many(
            [dict(message_id=m, patient_id=p, recipient=f"{n}23456-78", destination=d,
                  control_id=f"C{n}", payload=b"MSH|x") for n, (m, p, d) in enumerate(wanted)],
            T0)
        uow.commit()
    assert [(d.patient_id, d.destination, d.sequence) for d in added] == [
        (p1, A, 2), (p2, A, 1), (p1, B, 1), (p1, A, 3), (p2, A, 2)]
    with uow_factory() as uow:
        assert [uow.deliveries.get(d.id) for d in added] == added
        assert [uow.deliveries.payload(d.id) for d in added] == [b"MSH|x"] * 5
        assert uow.deliveries.add_many([], T0) == []


def test_only_the_head_of_each_queue_is_due(uow_factory):
    with uow_factory() as uow:
        m1, p1, raw1 = store_message(uow, 1)
        m2, p2, raw2 = store_message(uow, 2)
        first = queue(uow, m1, p1, raw1, A)
        second = queue(uow, m1, p1, raw1, A, at=T0 - timedelta(minutes=1))
        other_destination = queue(uow, m1, p1, raw1, B, at=T0 + timedelta(seconds=1))
        other_patient = queue(uow, m2, p2, raw2, A, at=T0 + timedelta(seconds=2))
        uow.commit()
    with uow_factory() as uow:
        due = uow.deliveries.due(T0 + timedelta(minutes=1), 10)
        # `second` was due earlier but waits behind `first`: order is per queue, not per time.
        assert [d.id for d in due] == [first.id, other_destination.id, other_patient.id]
        assert [d.id for d in uow.deliveries.due(T0, 10)] == [first.id]
        assert [d.id for d in uow.deliveries.due(T0 + timedelta(minutes=1), 10,
                                                 destination=B)] == [other_destination.id]
        assert len(uow.deliveries.due(T0 + timedelta(minutes=1), 2)) == 2
        assert uow.deliveries.due_destinations(T0 + timedelta(minutes=1)) == [A, B]
        assert uow.deliveries.due_destinations(T0) == [A]
        uow.deliveries.mark_delivered(first.id, "AA")
        uow.commit()
    with uow_factory() as uow:
        assert second.id in [d.id for d in uow.deliveries.due(T0 + timedelta(minutes=1), 10)]


def test_a_denied_head_leaves_its_queue(uow_factory):
    with uow_factory() as uow:
        m1, p1, raw1 = store_message(uow, 1)
        head, nxt = queue(uow, m1, p1, raw1, A), queue(uow, m1, p1, raw1, A)
        uow.deliveries.mark_denied(head.id, "grant revoked")
        uow.commit()
    with uow_factory() as uow:
        assert [d.id for d in uow.deliveries.due(T0, 10)] == [nxt.id]
        left = uow.deliveries.get(head.id)
    assert left.state == "denied" and left.next_attempt_at is None and left.attempts == 0


def test_a_parked_delivery_holds_its_queue_until_it_is_replayed(uow_factory):
    with uow_factory() as uow:
        head, middle, last = (queue(uow, *store_message(uow, n, patient_n=1), A)
                              for n in (11, 12, 13))
        other = queue(uow, *store_message(uow, 2), A)
        uow.deliveries.mark_parked(middle.id, "AR", ack_code="AR")
        uow.commit()
    with uow_factory() as uow:
        # The head is due alone: the run behind it stops at the parked one.
        assert {d.id for d in uow.deliveries.due(T0, 10)} == {head.id, other.id}
        claimed = uow.deliveries.claim_batch(A, T0, T0 + timedelta(seconds=60), 10)
        assert sorted(d.id for d in claimed) == sorted([head.id, other.id])
        uow.deliveries.mark_delivered_many([head.id, other.id], "AA")
        uow.commit()
    with uow_factory() as uow:
        assert uow.deliveries.due(T0, 10) == []  # `last` waits behind the parked one
        assert uow.deliveries.due_destinations(T0) == []
        parked = uow.deliveries.get(middle.id)
        assert (parked.state, parked.attempts, parked.next_attempt_at) == ("parked", 1, None)
        assert uow.deliveries.replay_many([last.id, middle.id, "nope"], T0) == ["nope", last.id]
        uow.commit()
    with uow_factory() as uow:
        claimed = uow.deliveries.claim_batch(A, T0, T0 + timedelta(seconds=60), 10)
    assert [d.id for d in claimed] == [middle.id, last.id]
    assert (claimed[0].attempts, claimed[0].message_failures) == (0, 0)


def test_a_retry_waits_for_its_time_and_keeps_the_queue_behind_it(uow_factory):
    with uow_factory() as uow:
        m1, p1, raw1 = store_message(uow, 1)
        head, nxt = queue(uow, m1, p1, raw1, A), queue(uow, m1, p1, raw1, A)
        uow.deliveries.mark_retry(head.id, T0 + timedelta(seconds=30), "no answer: timed out")
        uow.commit()
    with uow_factory() as uow:
        assert uow.deliveries.due(T0 + timedelta(seconds=29), 10) == []
        assert [d.id for d in uow.deliveries.due(T0 + timedelta(seconds=30), 10)] == [head.id]
        retried = uow.deliveries.get(head.id)
    assert retried.attempts == 1 and retried.last_error == "no answer: timed out"
    assert retried.state is DeliveryState.PENDING and nxt.sequence == 2


def test_claim_is_a_lease_only_one_taker_gets(uow_factory):
    with uow_factory() as uow:
        m1, p1, raw1 = store_message(uow, 1)
        head = queue(uow, m1, p1, raw1, A)
        uow.commit()
    lease_end = T0 + timedelta(seconds=60)
    with uow_factory() as uow:
        assert uow.deliveries.claim(head.id, T0, lease_end)
        assert not uow.deliveries.claim(head.id, T0, lease_end)
        uow.commit()
    with uow_factory() as uow:
        assert uow.deliveries.due(T0 + timedelta(seconds=59), 10) == []
        # A process that died mid-send: the delivery is due again when the lease ends.
        assert [d.id for d in uow.deliveries.due(lease_end, 10)] == [head.id]
        assert uow.deliveries.get(head.id).attempts == 0


def test_marks_count_attempts_and_keep_codes(uow_factory):
    with uow_factory() as uow:
        m1, p1, raw1 = store_message(uow, 1)
        d = queue(uow, m1, p1, raw1, A)
        uow.deliveries.mark_retry(d.id, T0, "AE (ERR-3 207)", ack_code="AE")
        uow.deliveries.mark_retry(d.id, T0, "x" * 2000)
        uow.deliveries.mark_delivered(d.id, "CA")
        uow.commit()
        done = uow.deliveries.get(d.id)
        assert (done.state, done.attempts, done.ack_code, done.last_error) == (
            DeliveryState.DELIVERED, 3, "CA", None)
        for mark in (lambda: uow.deliveries.mark_delivered(d.id, "AA"),
                     lambda: uow.deliveries.mark_denied(new_id(), "no grant in force")):
            with pytest.raises(StoreError, match="no pending delivery"):
                mark()
        uow.rollback()
    with uow_factory() as uow:
        other = queue(uow, m1, p1, raw1, A)
        uow.deliveries.mark_retry(other.id, T0, "x" * 2000)
        uow.commit()
        assert len(uow.deliveries.get(other.id).last_error) == 500


def test_replay_puts_a_parked_delivery_back_at_its_place(uow_factory):
    with uow_factory() as uow:
        m1, p1, raw1 = store_message(uow, 1)
        head, nxt = queue(uow, m1, p1, raw1, A), queue(uow, m1, p1, raw1, A)
        uow.deliveries.mark_parked(head.id, "too many attempts")
        assert not uow.deliveries.replay(nxt.id)
        assert uow.deliveries.replay(head.id, T0)
        uow.commit()
        assert [d.id for d in uow.deliveries.due(T0, 10)] == [head.id]
        assert uow.deliveries.get(head.id).attempts == 0


def test_counts_and_search_by_state(uow_factory):
    with uow_factory() as uow:
        assert uow.deliveries.counts_by_state() == {
            "pending": 0, "delivered": 0, "denied": 0, "parked": 0}
        m1, p1, raw1 = store_message(uow, 1)
        made = [queue(uow, m1, p1, raw1, f"h:{i}") for i in range(4)]
        uow.deliveries.mark_delivered(made[0].id, "AA")
        uow.deliveries.mark_denied(made[1].id, "no grant in force")
        uow.deliveries.mark_parked(made[2].id, "AR", ack_code="AR")
        uow.commit()
        assert uow.deliveries.counts_by_state() == {
            "pending": 1, "delivered": 1, "denied": 1, "parked": 1}
        assert [d.id for d in uow.deliveries.search(DeliveryState.PARKED)] == [made[2].id]
        assert len(uow.deliveries.search()) == 4

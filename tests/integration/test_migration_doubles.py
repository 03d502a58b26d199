"""Migration 0015 on a store the previous schema let doubles into: the doubles are reported (ids
and counts, no patient data) and settled as filing would have settled them, and the unique
indexes are then in place and refuse a second stored copy or a second delivery."""
from __future__ import annotations

import logging
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import inspect, insert, select

from hub.domain.models import Confidentiality, Entry, MessageRecord, MessageState
from hub.errors import StoreConflict
from hub.store.engine import make_engine
from hub.store.schema import current_revision, upgrade
from hub.store.tables import new_id
from hub.store.unit_of_work import UnitOfWork
from tests.fixtures.deliveries import T0
from tests.fixtures.messages import encoded, oru_r01, patient

PERSON = patient(61)
DOCTOR = "123456-78"
# The two tables as revision 0015 has them (later revisions may add columns).
DELIVERIES = sa.table("deliveries", *(sa.column(name) for name in (
    "id", "message_id", "entry_id", "patient_id", "recipient", "destination", "control_id",
    "state", "attempts", "next_attempt_at", "sequence", "created_at", "updated_at",
    "payload_key_id", "payload_ct")))
ATTEMPTS = sa.table("delivery_attempts", *(sa.column(name) for name in (
    "id", "delivery_id", "number", "at", "outcome", "error")))


@pytest.fixture
def old_store(database_url, keyring):
    """A store at revision 0014 and an engine on it; disposed afterwards."""
    upgrade(database_url, "0014")
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def message(uow, pid, control_id, raw, minutes, *, id=None, state=MessageState.STORED,
            entries=2) -> str:
    """A message row as the previous schema took it, with `entries` entries."""
    record = MessageRecord(id or new_id(), "LAB^ACME", control_id, "ORU^R01", "2.5", state,
                           T0 + timedelta(minutes=minutes), patient_id=pid)
    uow.messages.add(record, raw)
    for seq in range(entries):
        uow.entries.add(pid, record.id, seq, Entry("lab_result", {"value": f"{seq}.5"},
                                                   Confidentiality.NORMAL, None))
    return record.id


def delivery(connection, message_id, pid, state, *, entry_id=None, minutes=0, sequence=1,
             attempts=0) -> str:
    """A delivery row written as the previous schema took it (no uniqueness per recipient)."""
    at = T0 + timedelta(minutes=minutes)
    row_id = new_id()
    connection.execute(insert(DELIVERIES).values(
        id=row_id, message_id=message_id, entry_id=entry_id, patient_id=pid, recipient=DOCTOR,
        destination="127.0.0.1:7001", control_id=new_id()[:20], state=state, attempts=attempts,
        next_attempt_at=at if state == "pending" else None, sequence=sequence, created_at=at,
        updated_at=at, payload_key_id="k", payload_ct=b"x"))
    for number in range(1, attempts + 1):
        connection.execute(insert(ATTEMPTS).values(
            id=new_id(), delivery_id=row_id, number=number, at=at, outcome="retry",
            error="cannot connect"))
    return row_id


def test_doubles_already_stored_are_reported_and_settled_before_the_indexes(
        database_url, old_store, keyring, caplog):
    same = encoded(oru_r01(PERSON, "C1", n_obx=2))
    with UnitOfWork(old_store, keyring) as uow:
        pid = uow.patients.id_for(PERSON.matricule)
        a1 = message(uow, pid, "C1", same, 0)
        a2 = message(uow, pid, "C1", same, 1)
        a3 = message(uow, pid, "C1", same, 1)               # same instant as a2: by id after it
        b1 = message(uow, pid, "C2", encoded(oru_r01(PERSON, "C2", n_obx=1)), 0)
        b2 = message(uow, pid, "C2", encoded(oru_r01(PERSON, "C2", n_obx=3)), 5)  # other bytes
        c1 = message(uow, pid, "C3", same, 0)
        resend = message(uow, pid, "C3", same, 1, state=MessageState.DISCARDED, entries=0)
        blank = [message(uow, pid, "", same, n) for n in (0, 1)]  # no MSH-10: not a resend
        uow.commit()
    with old_store.begin() as connection:
        # Read in SQL: today's repository reads tables this old schema does not have yet.
        a3_entry = connection.execute(sa.text(
            "SELECT id FROM entries WHERE message_id = :m ORDER BY seq LIMIT 1"), {"m": a3}).scalar()
    a2, a3 = sorted([a2, a3])
    with old_store.begin() as connection:
        delivery(connection, a1, pid, "delivered")
        sent_twice = delivery(connection, a2, pid, "delivered", sequence=2)
        waiting = delivery(connection, a3, pid, "pending", entry_id=a3_entry, sequence=3)
        kept = delivery(connection, c1, pid, "delivered", sequence=4)
        doubled = delivery(connection, c1, pid, "pending", sequence=5, minutes=1, attempts=2)

    with caplog.at_level(logging.WARNING, logger="hub.store.migrations"):
        upgrade(database_url, "0015")

    assert current_revision(database_url) == "0015"
    with UnitOfWork(old_store, keyring) as uow:
        state = {m.id: (m.state.value, m.reason) for m in uow.messages.search(limit=100)}
        entries = {id: uow.entries.count_for_message(id) for id in state}
    with old_store.connect() as connection:
        deliveries = {row.id: (row.state, row.entry_id, row.last_error) for row in
                      connection.execute(sa.text("SELECT id, state, entry_id, last_error "
                                                 "FROM deliveries"))}
    assert state[a1] == state[b1] == state[c1] == ("stored", None)
    assert state[a2] == state[a3] == ("discarded", f"duplicate of message {a1}")
    assert state[b2] == ("parked", f"conflict: MSH-10 reused with other content "
                                   f"(first: message {b1})")
    assert state[resend] == ("discarded", None) and [state[b] for b in blank] == [
        ("stored", None)] * 2
    assert (entries[a1], entries[a2], entries[a3], entries[b1], entries[b2]) == (2, 0, 0, 2, 0)
    assert deliveries[sent_twice][0] == "delivered"  # what went out is history
    assert deliveries[waiting] == ("denied", None, f"not sent: duplicate of message {a1}")
    assert doubled not in deliveries and kept in deliveries and len(deliveries) == 4
    with old_store.connect() as connection:
        assert connection.execute(select(ATTEMPTS.c.id)).all() == []

    report = [r.getMessage() for r in caplog.records if r.name == "hub.store.migrations"]
    assert report[0].startswith("migration 0015: 2 messages stored more than once, 3 later")
    assert sum(a2 in line or a3 in line or b2 in line for line in report) == 3
    assert any(doubled in line and kept in line for line in report)
    text = "\n".join(report)
    assert PERSON.matricule not in text and PERSON.family_name not in text

    names = {ix["name"]: ix for ix in inspect(old_store).get_indexes("messages")}
    assert names["uq_messages_stored_sender_control_id"]["unique"]
    with UnitOfWork(old_store, keyring) as uow, pytest.raises(StoreConflict):
        message(uow, pid, "C1", same, 9, entries=0)
    with UnitOfWork(old_store, keyring) as uow:  # a settled resend is no stored copy
        message(uow, pid, "C1", same, 9, state=MessageState.DISCARDED, entries=0)
        uow.commit()
    with old_store.connect() as connection, pytest.raises(Exception, match="(?i)unique"):
        delivery(connection, a1, pid, "pending", sequence=9)


def test_a_store_without_doubles_upgrades_silently(database_url, old_store, keyring, caplog):
    with UnitOfWork(old_store, keyring) as uow:
        pid = uow.patients.id_for(PERSON.matricule)
        message(uow, pid, "C1", encoded(oru_r01(PERSON, "C1", n_obx=1)), 0)
        uow.commit()
    with caplog.at_level(logging.WARNING, logger="hub.store.migrations"):
        upgrade(database_url, "0015")
    assert [r for r in caplog.records if r.name == "hub.store.migrations"] == []
    assert current_revision(database_url) == "0015"

"""Repositories and unit of work against real SQLite and PostgreSQL databases."""
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, update

from hub.domain.models import Confidentiality, Entry, MessageRecord, MessageState, Patient
from hub.errors import DecryptionError, StoreConflict, StoreError, UnknownMatricule
from hub.store import tables
from hub.store.tables import new_id

MATRICULE = "1893120105732"
T0 = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)


def record(control_id="C1", *, sender="LAB^ACME", state=MessageState.STORED, at=T0, **extra):
    return MessageRecord(id=new_id(), sender=sender, control_id=control_id, type="ORU^R01",
                         version="2.5", state=state, received_at=at, **extra)


def test_message_round_trip_with_non_utf8_bytes(uow_factory):
    raw = (b"MSH|^~\\&|LAB|ACME|||20240301||ORU^R01|C1|P|2.5|||||||8859/1\r"
           b"PID|||x||M\xfcller\xdf\xff\x00")
    original = record(peer="10.0.0.7:4411", reason=None, ack_code="AA",
                      at=datetime(2024, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=1))))
    with uow_factory() as uow:
        uow.messages.add(original, raw)
        uow.commit()
    with uow_factory() as uow:
        assert uow.messages.get(original.id) == original
        assert uow.messages.get(original.id).received_at.tzinfo == UTC
        assert uow.messages.raw(original.id) == raw
        assert uow.messages.exists(original.id)
        assert not uow.messages.exists(new_id())
        assert uow.messages.get(new_id()) is None
        with pytest.raises(StoreError):
            uow.messages.raw(new_id())


def test_add_many_and_existing_ids(uow_factory):
    batch = [(record(f"C{i}", at=T0 + timedelta(seconds=i)), f"raw {i}".encode())
             for i in range(120)]
    with uow_factory() as uow:
        uow.messages.add_many(batch)
        uow.messages.add_many([])
        uow.commit()
    ids = [r.id for r, _ in batch]
    with uow_factory() as uow:
        unknown = new_id()
        assert uow.messages.existing_ids(ids + [unknown]) == set(ids)
        assert uow.messages.existing_ids([]) == set()
        assert uow.messages.raw(ids[77]) == b"raw 77"


def test_search_newest_first_with_filters_and_limit(uow_factory):
    old = record("A", at=T0)
    new = record("B", at=T0 + timedelta(minutes=5), state=MessageState.PARKED, reason="no map")
    other = record("A", sender="HOSP^CHL", at=T0 + timedelta(minutes=1))
    with uow_factory() as uow:
        uow.messages.add_many([(old, b"1"), (new, b"2"), (other, b"3")])
        uow.commit()
        assert [r.id for r in uow.messages.search()] == [new.id, other.id, old.id]
        assert [r.id for r in uow.messages.search(state=MessageState.PARKED)] == [new.id]
        assert [r.id for r in uow.messages.search(sender="LAB^ACME")] == [new.id, old.id]
        assert [r.id for r in uow.messages.search(control_id="A", sender="HOSP^CHL")] == \
            [other.id]
        assert len(uow.messages.search(limit=2)) == 2


def test_set_state_and_count_by_state(uow_factory):
    with uow_factory() as uow:
        assert uow.messages.count_by_state() == {s.value: 0 for s in MessageState}
        first, second = record("1", state=MessageState.RECEIVED), record("2")
        uow.messages.add_many([(first, b"a"), (second, b"b"), (record("3"), b"c")])
        uow.messages.set_state(first.id, MessageState.PARKED, "mapping failed: OBX-5")
        uow.commit()
        parked = uow.messages.get(first.id)
        assert (parked.state, parked.reason) == (MessageState.PARKED, "mapping failed: OBX-5")
        assert parked.processed_at is not None and parked.processed_at.tzinfo == UTC
        assert uow.messages.count_by_state() == {"received": 0, "stored": 2, "rejected": 0,
                                                 "parked": 1, "discarded": 0}
        with pytest.raises(StoreError):
            uow.messages.set_state(new_id(), MessageState.STORED)


def test_resend_of(uow_factory):
    raw = b"MSH|^~\\&|LAB|ACME|||20240301||ORU^R01|C7|P|2.5\rOBX|1|NM|GLU||5.4"
    rejected = record("C7", state=MessageState.REJECTED, at=T0 - timedelta(hours=1))
    first = record("C7", at=T0)
    later = record("C7", state=MessageState.DISCARDED, at=T0 + timedelta(hours=1))
    with uow_factory() as uow:
        assert uow.messages.resend_of("LAB^ACME", "C7", raw) is None
        uow.messages.add_many([(rejected, raw), (later, raw), (first, raw)])
        assert uow.messages.resend_of("LAB^ACME", "C7", raw) == (first.id, True)
        assert uow.messages.resend_of("LAB^ACME", "C7", raw + b"0") == (first.id, False)
        assert uow.messages.resend_of("LAB^ACME", "C8", raw) is None
        assert uow.messages.resend_of("HOSP^CHL", "C7", raw) is None
        assert uow.messages.resend_of("LAB^ACME", "C7", raw, exclude_id=first.id) == \
            (later.id, True)


def test_id_for_creates_once_and_stores_no_matricule(uow_factory, engine):
    with uow_factory() as uow:
        assert uow.patients.find(MATRICULE) is None
        patient_id = uow.patients.id_for(MATRICULE)
        assert uow.patients.id_for(MATRICULE) == patient_id
        uow.commit()
    with uow_factory() as uow:
        assert uow.patients.id_for(MATRICULE) == patient_id
        assert uow.patients.find(MATRICULE) == patient_id
        assert uow.patients.get(patient_id) == Patient(matricule=MATRICULE)
        assert not uow.patients.is_closed(patient_id)
        many = uow.patients.ids_for([MATRICULE, "1234567890123", "1234567890123"])
        assert many[MATRICULE] == patient_id and len(set(many.values())) == 2
        uow.commit()
    with engine.connect() as connection:
        rows = connection.execute(select(tables.patients)).all()
    assert len(rows) == 2
    for row in rows:
        for value in row:
            data = bytes(value) if isinstance(value, (bytes, memoryview)) else str(value).encode()
            assert MATRICULE.encode() not in data


def test_demographics_with_accents_merge_and_close(uow_factory):
    with uow_factory() as uow:
        patient_id = uow.patients.id_for(MATRICULE)
        uow.patients.save_demographics(patient_id, Patient(
            MATRICULE, "Weydert-Ëmeline", "Zoé", "1989-12-31", "F"))
        uow.patients.save_demographics(patient_id, Patient(MATRICULE, "Müßner-Ëé", ""))
        uow.commit()
    with uow_factory() as uow:
        assert uow.patients.get(patient_id) == Patient(
            MATRICULE, "Müßner-Ëé", "Zoé", "1989-12-31", "F")
        with pytest.raises(StoreError):
            uow.patients.save_demographics(patient_id, Patient("1234567890123", "Other"))
        uow.patients.set_closed(patient_id, True)
        assert uow.patients.is_closed(patient_id)
        with pytest.raises(UnknownMatricule):
            uow.patients.get(new_id())
        with pytest.raises(UnknownMatricule):
            uow.patients.is_closed(new_id())


def test_entries_round_trip_in_order(uow_factory):
    message = record()
    entries = [
        Entry("lab_result", {"code": "GLU", "value": "5.4", "note": "Müller ß"},
              Confidentiality.RESTRICTED, "2024-03-01T07:45:00+01:00"),
        Entry("lab_result", {"code": "HB", "value": "13.1"}),
        Entry("encounter", {}, Confidentiality.SECRET),
    ]
    with uow_factory() as uow:
        patient_id = uow.patients.id_for(MATRICULE)
        uow.messages.add(message, b"raw")
        first = uow.entries.add(patient_id, message.id, 0, entries[0])
        rest = uow.entries.add_many([(patient_id, message.id, seq, entry)
                                     for seq, entry in enumerate(entries[1:], start=1)])
        uow.entries.set_hidden(rest[1], True)
        uow.commit()
    with uow_factory() as uow:
        stored = uow.entries.for_patient(patient_id)
        assert [s.id for s in stored] == [first, *rest]
        assert [(s.kind, s.payload, s.confidentiality, s.effective_at) for s in stored] == \
            [(e.kind, e.payload, e.confidentiality, e.effective_at) for e in entries]
        assert [s.hidden for s in stored] == [False, False, True]
        assert all(s.created_at.tzinfo == UTC and s.message_id == message.id for s in stored)
        assert [s.seq for s in stored] == [0, 1, 2]
        assert uow.entries.count_for_message(message.id) == 3
        assert uow.entries.count_for_message(new_id()) == 0
        assert uow.entries.count() == 3
        assert uow.entries.for_patient(new_id()) == []


def test_leaving_without_commit_rolls_back(uow_factory):
    kept, dropped = record("kept"), record("dropped")
    with uow_factory() as uow:
        uow.messages.add(kept, b"k")
        uow.commit()
        uow.messages.add(dropped, b"d")
        uow.patients.id_for(MATRICULE)
    with pytest.raises(RuntimeError):
        with uow_factory() as uow:
            uow.messages.add(record("boom"), b"b")
            raise RuntimeError("worker crashed")
    with uow_factory() as uow:
        assert uow.messages.existing_ids([kept.id, dropped.id]) == {kept.id}
        assert uow.patients.find(MATRICULE) is None
        assert sum(uow.messages.count_by_state().values()) == 1


def test_explicit_rollback_forgets_created_dossiers(uow_factory):
    with uow_factory() as uow:
        first = uow.patients.id_for(MATRICULE)
        uow.rollback()
        second = uow.patients.id_for(MATRICULE)
        uow.commit()
        assert first != second and uow.patients.get(second).matricule == MATRICULE


def test_integrity_errors_become_conflicts_and_block_the_commit(uow_factory):
    message = record()
    with uow_factory() as uow:
        uow.messages.add(message, b"x")
        uow.commit()
    with uow_factory() as uow:
        other = record("other")
        uow.messages.add(other, b"y")
        with pytest.raises(StoreConflict):
            uow.messages.add(message, b"again")
        with pytest.raises(StoreError, match="rolled back"):
            uow.commit()
        assert not uow.messages.exists(other.id)
    with uow_factory() as uow:
        with pytest.raises(StoreConflict):
            uow.entries.add(new_id(), message.id, 0, Entry("lab_result", {}))


def test_a_refused_batch_of_entries_is_a_conflict_naming_no_value_and_blocks_the_commit(
        uow_factory):
    message = record()
    with uow_factory() as uow:
        patient_id = uow.patients.id_for(MATRICULE)
        uow.messages.add(message, b"x")
        uow.commit()
    with uow_factory() as uow:
        kept = uow.entries.add(patient_id, message.id, 0, Entry("lab_result", {"v": "1"}))
        with pytest.raises(StoreConflict) as refused:
            uow.entries.add_many([(patient_id, message.id, 1, Entry("lab_result", {"v": "2"})),
                                  (new_id(), message.id, 2, Entry("lab_result", {"v": "3"}))])
        assert "adding entries" in str(refused.value) and "lab_result" not in str(refused.value)
        with pytest.raises(StoreError, match="rolled back"):
            uow.commit()
    with uow_factory() as uow:
        assert uow.entries.for_patient(patient_id) == [] and kept


def test_rotation_keeps_stored_data_readable(uow_factory, keyring, engine):
    old = record("old")
    with uow_factory() as uow:
        patient_id = uow.patients.id_for(MATRICULE)
        uow.messages.add(old, b"under k1")
        uow.entries.add(patient_id, old.id, 0, Entry("lab_result", {"v": "k1"}))
        uow.commit()
    assert keyring.add_key() == "k2"
    new = record("new")
    with uow_factory() as uow:
        uow.messages.add(new, b"under k2")
        uow.patients.save_demographics(patient_id, Patient(MATRICULE, "Weydert-Ëmeline"))
        uow.commit()
        assert uow.messages.raw(old.id) == b"under k1"
        assert uow.messages.raw(new.id) == b"under k2"
        assert uow.entries.for_patient(patient_id)[0].payload == {"v": "k1"}
        assert uow.patients.get(patient_id).family_name == "Weydert-Ëmeline"
    with engine.connect() as connection:
        key_ids = dict(connection.execute(select(tables.messages.c.id,
                                                 tables.messages.c.raw_key_id)).all())
    assert key_ids == {old.id: "k1", new.id: "k2"}


def test_ciphertext_moved_to_another_row_does_not_decrypt(uow_factory, engine):
    with uow_factory() as uow:
        first, second = uow.patients.id_for(MATRICULE), uow.patients.id_for("1234567890123")
        uow.commit()
    with engine.begin() as connection:
        stolen = connection.execute(select(tables.patients.c.data_ct).where(
            tables.patients.c.id == first)).scalar_one()
        connection.execute(update(tables.patients).where(tables.patients.c.id == second)
                           .values(data_ct=stolen))
    with uow_factory() as uow:
        assert uow.patients.get(first).matricule == MATRICULE
        with pytest.raises(DecryptionError):
            uow.patients.get(second)

"""The audit log on real SQLite and PostgreSQL: appending under the chain, the patient's journal,
and `verify` finding each kind of tampering done behind the hub's back with raw SQL."""
from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from hub.domain.audit import GENESIS_HASH, AuditEvent, AuditOutcome
from hub.domain.audit_chain import event_hash
from hub.store.engine import make_engine
from hub.store.schema import upgrade
from hub.store.tables import new_id
from hub.store.unit_of_work import UnitOfWork
from tests.fixtures.messages import patient

DOCTOR = "123456-78"


def deliver(patient_id: str | None, n: int = 0, **changes) -> AuditEvent:
    values = {"actor": DOCTOR, "action": "deliver", "patient_id": patient_id,
              "entry_id": new_id(), "message_id": new_id(), "reason": f"grant in force {n}"}
    return AuditEvent(**{**values, **changes})


def append(uow_factory, count: int, patient_id: str | None = None) -> list[AuditEvent]:
    with uow_factory() as uow:
        kept = [uow.audit.record(deliver(patient_id, n)) for n in range(count)]
        uow.commit()
    return as_recorded(uow_factory, kept)


def as_recorded(uow_factory, kept: list[AuditEvent]) -> list[AuditEvent]:
    """Events `record` kept, as the log holds them since the commit (seq and hashes given)."""
    with uow_factory() as uow:
        return [uow.audit.for_message(event.message_id)[0] for event in kept]


def sql(engine, statement: str, **params) -> None:
    with engine.begin() as connection:
        connection.execute(text(statement), params)


def verify(uow_factory, page_size: int | None = None):
    with uow_factory() as uow:
        return uow.audit.verify() if page_size is None else uow.audit.verify(page_size)


def test_events_are_appended_in_one_chain(uow_factory):
    first, second, third = append(uow_factory, 3)

    assert [e.seq for e in (first, second, third)] == [1, 2, 3]
    assert first.prev_hash == GENESIS_HASH
    assert (second.prev_hash, third.prev_hash) == (first.hash, second.hash)
    assert all(e.hash == event_hash(e) and e.at.tzinfo is not None for e in (first, second, third))
    result = verify(uow_factory)
    assert (result.ok, result.checked) == (True, 3)
    assert (result.head_seq, result.head_hash) == (3, third.hash)
    with uow_factory() as uow:
        assert uow.audit.count() == 3


def test_the_journal_is_one_patients_events_oldest_first_as_recorded(uow_factory):
    with uow_factory() as uow:
        mine, other = (uow.patients.id_for(patient(n).matricule) for n in (1, 2))
        uow.commit()
    at = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    with uow_factory() as uow:
        recorded = [
            uow.audit.record(deliver(mine, 1, at=at)),
            uow.audit.record(deliver(other, 2)),
            uow.audit.record(AuditEvent(actor="patient", action="consent.revoke",
                                        patient_id=mine, reason="revoked by the patient",
                                        message_id=new_id())),
            uow.audit.record(deliver(mine, 3, action="deny", outcome=AuditOutcome.DENIED,
                                     reason="no grant in force")),
        ]
        uow.commit()
    recorded = as_recorded(uow_factory, recorded)

    with uow_factory() as uow:
        journal = uow.audit.journal(mine)
        assert uow.audit.journal(new_id()) == []
        assert uow.audit.for_message(recorded[1].message_id) == [recorded[1]]
    assert journal == [recorded[0], recorded[2], recorded[3]]  # every column round-trips
    assert journal[0].at == at
    assert [e.action for e in journal] == ["deliver", "consent.revoke", "deny"]


def test_a_rolled_back_append_leaves_no_gap(uow_factory):
    append(uow_factory, 2)
    with uow_factory() as uow:
        uow.audit.record(deliver(None))
        uow.rollback()
        again = uow.audit.record(deliver(None))
        uow.commit()
    [again] = as_recorded(uow_factory, [again])
    assert again.seq == 3
    assert verify(uow_factory).ok


def test_a_unit_of_work_appends_after_what_others_committed_since_its_last_commit(uow_factory):
    with uow_factory() as first:
        first.audit.record(deliver(None))
        first.commit()
        append(uow_factory, 2)   # another process, meanwhile
        later = first.audit.record(deliver(None))
        first.commit()
    [later] = as_recorded(uow_factory, [later])
    assert later.seq == 4
    assert verify(uow_factory).ok


def test_events_unfit_for_the_log_are_refused_and_nothing_is_written(uow_factory):
    with uow_factory() as uow:
        with pytest.raises(ValueError, match="matricule"):
            uow.audit.record_many([deliver(None), deliver(None, reason=patient(1).matricule)])
        with pytest.raises(ValueError, match="actor"):
            uow.audit.record(deliver(None, actor="Dr Weydert"))
        uow.commit()
        assert uow.audit.count() == 0


def test_an_edited_reason_is_found(uow_factory, engine):
    append(uow_factory, 5)
    sql(engine, "UPDATE audit_events SET reason = 'nothing happened' WHERE seq = 3")
    result = verify(uow_factory)
    assert (result.ok, result.first_broken_seq, result.checked) == (False, 3, 2)
    assert "edited" in result.problem


def test_a_deleted_middle_event_is_found(uow_factory, engine):
    append(uow_factory, 5)
    sql(engine, "DELETE FROM audit_events WHERE seq = 3")
    result = verify(uow_factory)
    assert (result.ok, result.first_broken_seq) == (False, 3)
    assert result.problem == "event 3 is missing (after event 2 comes event 4)"


def test_a_forged_event_inserted_in_the_middle_is_found(uow_factory, engine):
    events = append(uow_factory, 5)
    # A forger who knows the encoding: renumber the tail, slip a well-hashed event in at 3.
    sql(engine, "UPDATE audit_events SET seq = seq + 100 WHERE seq >= 3")
    sql(engine, "UPDATE audit_events SET seq = seq - 99 WHERE seq >= 100")
    forged = AuditEvent(actor="hub", action="deliver", reason="forged", outcome="ok",
                        at=datetime.now(UTC), id=new_id(), seq=3, prev_hash=events[1].hash)
    columns = "seq, id, at, actor, action, outcome, reason, prev_hash, hash"
    sql(engine, f"INSERT INTO audit_events ({columns}) VALUES "
                "(:seq, :id, :at, :actor, :action, :outcome, :reason, :prev_hash, :hash)",
        seq=3, id=forged.id, at=forged.at, actor="hub", action="deliver", outcome="ok",
        reason="forged", prev_hash=forged.prev_hash, hash=event_hash(forged))
    result = verify(uow_factory)
    assert (result.ok, result.first_broken_seq, result.checked) == (False, 4, 3)


def test_a_forged_event_appended_with_a_guessed_hash_is_found(uow_factory, engine):
    events = append(uow_factory, 3)
    sql(engine, "INSERT INTO audit_events (seq, id, at, actor, action, outcome, reason, "
                "prev_hash, hash) VALUES (4, :id, :at, 'hub', 'deliver', 'ok', '', :prev, :h)",
        id=new_id(), at=datetime.now(UTC), prev=events[-1].hash, h="f" * 64)
    assert verify(uow_factory).first_broken_seq == 4


def test_two_swapped_events_are_found(uow_factory, engine):
    append(uow_factory, 5)
    sql(engine, "UPDATE audit_events SET seq = -1 WHERE seq = 2")
    sql(engine, "UPDATE audit_events SET seq = 2 WHERE seq = 4")
    sql(engine, "UPDATE audit_events SET seq = 4 WHERE seq = -1")
    result = verify(uow_factory)
    assert (result.ok, result.first_broken_seq, result.checked) == (False, 2, 1)


def test_a_long_chain_is_checked_page_by_page(uow_factory, engine):
    append(uow_factory, 30)
    assert (verify(uow_factory, 7).ok, verify(uow_factory, 7).checked) == (True, 30)
    sql(engine, "UPDATE audit_events SET actor = '999999-99' WHERE seq = 22")
    assert verify(uow_factory, 7).first_broken_seq == 22


def test_an_unreadable_time_is_reported_not_raised(tmp_path, keyring):
    # Only SQLite lets a forger store text the driver cannot read back as a time.
    url = f"sqlite:///{tmp_path / 'forged.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        factory = lambda: UnitOfWork(engine, keyring)  # noqa: E731
        append(factory, 4)
        sql(engine, "UPDATE audit_events SET at = 'yesterday' WHERE seq = 3")
        result = verify(factory)
    finally:
        engine.dispose()
    assert (result.ok, result.first_broken_seq) == (False, 3)
    assert "cannot be read" in result.problem


@pytest.mark.parametrize("per_transaction", [1, 3])
def test_concurrent_appends_keep_one_chain(uow_factory, monkeypatch, per_transaction):
    # Widen the window between reading the tail and appending after it (each event's hash
    # chains it to the tail read): without the chain's lock, writers would read the same tail
    # and fork the chain (or collide on seq).
    def slow_event_hash(event):
        time.sleep(0.005)
        return event_hash(event)

    monkeypatch.setattr("hub.store.audit_repository.event_hash", slow_event_hash)
    threads, rounds, failures = 6, 5, []

    def writer(n: int) -> None:
        try:
            with uow_factory() as uow:
                for r in range(rounds):
                    for i in range(per_transaction):
                        uow.audit.record(deliver(None, n * 1000 + r * 10 + i))
                    uow.commit()
        except Exception as exc:  # reported below; a thread cannot fail the test itself
            failures.append(exc)

    workers = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=120)

    assert failures == []
    result = verify(uow_factory)
    assert (result.ok, result.checked) == (True, threads * rounds * per_transaction)

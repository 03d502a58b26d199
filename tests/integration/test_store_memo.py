"""What a unit of work reads once per transaction (consent states, professionals) and appends
at its commit (audit events kept by `record`), on real SQLite and PostgreSQL: the answers stay
those of the transaction's own writes, and every statement saved is really saved."""
from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event

from hub.domain.audit import AuditEvent
from hub.domain.professional import Professional
from tests.fixtures.messages import patient

DOCTOR = "123456-78"
AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def statements(engine, monkeypatch):
    """Counts the statements sent, by the table they read or write; "audit inserts" are the
    INSERTs into audit_events and, on PostgreSQL, the COPYs into it (which psycopg runs beside
    SQLAlchemy's events)."""
    seen: Counter = Counter()

    def count(conn, cursor, statement, parameters, context, executemany):
        for table in ("consent_grants", "professionals"):
            if table in statement:
                seen[table] += 1
        if statement.lstrip().upper().startswith("INSERT INTO AUDIT_EVENTS"):
            seen["audit inserts"] += 1

    if engine.dialect.name == "postgresql":
        import psycopg
        real_copy = psycopg.Cursor.copy

        def copy(cursor, statement, *args, **kwargs):
            if str(statement).lstrip().upper().startswith("COPY AUDIT_EVENTS"):
                seen["audit inserts"] += 1
            return real_copy(cursor, statement, *args, **kwargs)

        monkeypatch.setattr(psycopg.Cursor, "copy", copy)
    event.listen(engine, "before_cursor_execute", count)
    yield seen
    event.remove(engine, "before_cursor_execute", count)


def dossier(uow_factory, n: int = 1) -> str:
    with uow_factory() as uow:
        patient_id = uow.patients.id_for(patient(n).matricule)
        uow.commit()
    return patient_id


def test_consent_is_read_once_per_transaction_and_again_after_its_own_writes(
        uow_factory, statements):
    patient_id, other = dossier(uow_factory, 1), dossier(uow_factory, 2)
    with uow_factory() as uow:
        uow.consents.prefetch([patient_id, other], AT, True)
        reads = statements["consent_grants"]
        for _ in range(3):
            assert uow.consents.state(patient_id, AT, True).grants == ()
            assert uow.consents.states([other, patient_id], AT, True)[other].grants == ()
        assert statements["consent_grants"] == reads
        uow.consents.grant(patient_id, DOCTOR, "normal", None, AT - timedelta(days=1))
        assert [g.cns_code for g in uow.consents.state(patient_id, AT, True).grants] == [DOCTOR]
        uow.patients.set_closed(other, True)
        assert uow.consents.state(other, AT, True).closed
        uow.consents.set_referent_blocked(patient_id, True)
        assert uow.consents.state(patient_id, AT, True).referent_blocked
        uow.consents.declare_referent(other, DOCTOR, AT - timedelta(days=2), "test")
        assert uow.consents.state(other, AT, True).referent.cns_code == DOCTOR
        uow.consents.revoke(patient_id, DOCTOR, AT - timedelta(hours=1))
        assert uow.consents.state(patient_id, AT, True).grants[0].revoked(AT)
        uow.consents.end_referent(other, AT - timedelta(days=1))
        assert uow.consents.state(other, AT, True).referent is None
        uow.commit()
        before = statements["consent_grants"]
        uow.consents.state(patient_id, AT, True)  # a new transaction reads anew
        assert statements["consent_grants"] == before + 1


def test_a_merge_forgets_both_dossiers_consent(uow_factory):
    merged, survivor = dossier(uow_factory, 1), dossier(uow_factory, 2)
    with uow_factory() as uow:
        uow.consents.states([merged, survivor], AT, True)
        uow.consents.grant(survivor, DOCTOR, "normal", None, AT - timedelta(days=1))
        uow.patients.merge_ids(merged, survivor)
        assert uow.consents.state(survivor, AT, True).grants[0].cns_code == DOCTOR


def test_a_rolled_back_write_is_not_remembered(uow_factory):
    patient_id = dossier(uow_factory)
    with uow_factory() as uow:
        uow.consents.grant(patient_id, DOCTOR, "normal", None, AT - timedelta(days=1))
        assert len(uow.consents.state(patient_id, AT, True).grants) == 1
        uow.rollback()
        assert uow.consents.state(patient_id, AT, True).grants == ()


def test_a_professional_is_read_once_per_transaction_and_again_after_a_registry_change(
        uow_factory, statements):
    with uow_factory() as uow:
        assert uow.professionals.get(DOCTOR) is None
        reads = statements["professionals"]
        assert uow.professionals.get(DOCTOR) is None
        assert statements["professionals"] == reads
        doctor = Professional(DOCTOR, "Reuter", "Marc", "GP")
        assert uow.professionals.upsert(doctor) == "added"
        assert uow.professionals.get(DOCTOR) == doctor
        suspended = Professional(DOCTOR, "Reuter", "Marc", "GP", status="suspended")
        assert uow.professionals.upsert(suspended) == "updated"
        assert not uow.professionals.get(DOCTOR).active
        uow.commit()
    with uow_factory() as uow:
        assert not uow.professionals.get(DOCTOR).active


def deny(patient_id: str, n: int) -> AuditEvent:
    return AuditEvent(actor=DOCTOR, action="deny", outcome="denied", patient_id=patient_id,
                      reason=f"no grant in force {n}")


def test_recorded_events_are_appended_at_the_commit_in_one_insert_in_order(
        uow_factory, statements):
    patient_id = dossier(uow_factory)
    with uow_factory() as uow:
        for n in range(3):
            uow.audit.record(deny(patient_id, n))
        assert statements["audit inserts"] == 0
        uow.audit.record_many([deny(patient_id, 3)])  # after what was kept, in one insert
        assert statements["audit inserts"] == 1
        uow.audit.record(deny(patient_id, 4))
        uow.commit()
    assert statements["audit inserts"] == 2
    with uow_factory() as uow:
        journal = uow.audit.journal(patient_id)
        assert uow.audit.verify().ok
    assert [(e.seq, e.reason) for e in journal] == [
        (n + 1, f"no grant in force {n}") for n in range(5)]


def test_the_transaction_reads_its_own_kept_events_and_a_rollback_drops_them(uow_factory):
    patient_id = dossier(uow_factory)
    with uow_factory() as uow:
        uow.audit.record(deny(patient_id, 1))
        assert [e.reason for e in uow.audit.journal(patient_id)] == ["no grant in force 1"]
        assert uow.audit.count() == 1
        uow.audit.record(deny(patient_id, 2))
        uow.rollback()
        uow.audit.record(deny(patient_id, 3))
    with uow_factory() as uow:  # left without a commit: nothing
        assert uow.audit.count() == 0

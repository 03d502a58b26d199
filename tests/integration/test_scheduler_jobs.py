"""The scheduler's jobs run directly with a controlled clock, on SQLite and PostgreSQL:
grant expiry noted once in the journal, retention of raw copies (the queue watchdog has
tests/integration/test_queue_watchdog.py)."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from hub.domain.models import MessageState
from hub.errors import StoreError
from hub.jobs.grant_expiry import note_expired_grants
from hub.jobs.retention import purge_raw_copies
from hub.store.job_store import JobStore
from hub.store.tables import audit_events
from tests.fixtures.dossier_rows import T0, write_dossiers


@pytest.fixture
def store(engine, keyring):
    return JobStore(engine, keyring)


def _events(uow_factory, patient_id, action):
    with uow_factory() as uow:
        return [e for e in uow.audit.journal(patient_id) if e.action == action]


def test_an_expired_grant_is_noted_once_in_the_patients_journal(store, uow_factory):
    [w] = write_dossiers(uow_factory, 1)
    pid = w["patient_id"]
    with uow_factory() as uow:
        uow.consents.grant(pid, "111111-11", "normal", T0 + timedelta(days=1), T0)
        uow.consents.grant(pid, "222222-22", "extended", None, T0)              # never ends
        uow.consents.grant(pid, "333333-33", "normal", T0 + timedelta(days=1), T0)
        uow.consents.revoke(pid, "333333-33", T0 + timedelta(hours=1))          # revoked first
        uow.consents.grant(pid, "444444-44", "normal", T0 + timedelta(days=9), T0)
        uow.commit()

    clock = lambda: T0 + timedelta(days=2)  # noqa: E731
    assert note_expired_grants(store, clock) == 1
    assert note_expired_grants(store, clock) == 0                 # once, however often it runs
    [event] = _events(uow_factory, pid, "consent.expired")
    assert event.actor == "hub" and "111111-11" in event.reason
    assert note_expired_grants(store, lambda: T0 + timedelta(days=10)) == 1  # 444444-44 now
    assert [e.reason.split()[2] for e in _events(uow_factory, pid, "consent.expired")] \
        == ["111111-11", "444444-44"]
    with uow_factory() as uow:
        assert uow.audit.verify().ok


def test_retention_purges_old_settled_raw_copies_only_and_audits_the_count(store, engine,
                                                                          uow_factory):
    old = write_dossiers(uow_factory, 2, received_at=T0)
    old_parked = write_dossiers(uow_factory, 1, received_at=T0, state=MessageState.PARKED,
                                first=10)
    recent = write_dossiers(uow_factory, 1, received_at=T0 + timedelta(days=29), first=20)
    clock = lambda: T0 + timedelta(days=31)  # noqa: E731

    assert purge_raw_copies(store, clock, raw_days=0) == 0        # 0: keep forever
    assert purge_raw_copies(store, clock, raw_days=30) == 2
    assert purge_raw_copies(store, clock, raw_days=30) == 0
    with uow_factory() as uow:
        for w in old:
            with pytest.raises(StoreError, match="purged"):
                uow.messages.raw(w["message_id"])
            assert uow.messages.get(w["message_id"]).state == MessageState.STORED
            assert [e.payload["value"] for e in uow.entries.for_patient(w["patient_id"])] \
                == [w["entry_value"]]                              # entries are kept
        for w in old_parked + recent:
            assert uow.messages.raw(w["message_id"]) == w["raw"]  # parked: kept for replay
        purges = [e for e in _all_events(engine) if e.action == "retention.purge"]
        assert len(purges) == 1 and purges[0].reason.startswith("2 raw message copies")
        assert purges[0].patient_id is None and purges[0].message_id is None
        assert uow.audit.verify().ok


def _all_events(engine):
    c = audit_events.c
    with engine.connect() as connection:
        return list(connection.execute(select(c.action, c.reason, c.patient_id, c.message_id)))

"""The dossier-erasure job run directly with a moved clock, on SQLite and PostgreSQL: a dossier
closed longer than `[retention] closed_dossier_years` loses its entries, raw copies, delivery
payloads and demographics; its message rows, consent history and journal stay, with one
`dossier.erased` event; open dossiers, recent closures and reopened ones are left alone."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from hub.errors import StoreError
from hub.jobs.dossier_erasure import erase_closed_dossiers
from hub.store.job_store import JobStore
from hub.store.tables import PURGED_KEY_ID, deliveries, entries, messages
from tests.fixtures.dossier_rows import T0, assert_all_decrypt, write_dossiers
from tests.fixtures.messages import patient

YEARS = 10


@pytest.fixture
def store(engine, keyring):
    return JobStore(engine, keyring)


def _close(uow_factory, patient_id, closed, at=None):
    with uow_factory() as uow:
        uow.patients.set_closed(patient_id, closed, at)
        uow.commit()


def test_a_dossier_closed_past_its_retention_is_erased_once_and_only_it(store, engine,
                                                                        uow_factory):
    gone, recent, reopened, still_open = write_dossiers(uow_factory, 4)
    with uow_factory() as uow:
        uow.consents.grant(gone["patient_id"], "222222-22", "normal", None, T0)
        uow.commit()
    _close(uow_factory, gone["patient_id"], True, T0)
    _close(uow_factory, recent["patient_id"], True, T0 + timedelta(days=400))
    _close(uow_factory, reopened["patient_id"], True, T0)
    _close(uow_factory, reopened["patient_id"], False)
    ten_years_on = T0.replace(year=T0.year + YEARS) + timedelta(days=1)

    assert erase_closed_dossiers(store, lambda: ten_years_on - timedelta(days=2), YEARS) == 0
    assert erase_closed_dossiers(store, lambda: ten_years_on, 0) == 0  # 0 years: kept forever
    assert erase_closed_dossiers(store, lambda: ten_years_on, YEARS) == 1
    assert erase_closed_dossiers(store, lambda: ten_years_on, YEARS) == 0  # once

    pid = gone["patient_id"]
    with uow_factory() as uow:
        assert uow.entries.for_patient(pid) == []
        with pytest.raises(StoreError, match="no raw copy"):
            uow.messages.raw(gone["message_id"])
        record = uow.messages.get(gone["message_id"])  # the row the journal names stays
        assert (record.sender, record.control_id, record.raw_kept) == ("LAB^ACME", "C1", False)
        kept = uow.patients.get(pid)
        assert (kept.matricule, kept.family_name, kept.birth_date) == (
            patient(1).matricule, "", "")
        assert uow.patients.find(patient(1).matricule) == pid  # the journal is still found
        assert [g.cns_code for g in uow.consents.grants(pid)] == ["222222-22"]
        closure = uow.patients.closure(pid)
        assert closure.erased and closure.erased_at == ten_years_on
        [event] = [e for e in uow.audit.journal(pid) if e.action == "dossier.erased"]
        assert event.actor == "hub" and event.reason == (
            f"closed on {T0.date().isoformat()}, kept {YEARS} years ([retention] "
            "closed_dossier_years): 1 entries, 1 raw message copies and the demographics erased")
        assert uow.audit.verify().ok
    with engine.connect() as connection:
        delivery = connection.execute(select(deliveries).where(
            deliveries.c.id == gone["delivery_id"])).one()
        assert (delivery.state, delivery.payload_key_id, delivery.payload_ct, delivery.entry_id
                ) == ("denied", PURGED_KEY_ID, b"", None)
        assert connection.execute(select(messages.c.raw_ct).where(
            messages.c.id == gone["message_id"])).scalar_one() == b""
        assert connection.execute(select(entries.c.id).where(
            entries.c.patient_id == pid)).first() is None
    assert_all_decrypt(uow_factory, [recent, reopened, still_open])


def test_a_dossier_closed_again_after_an_erasure_waits_for_its_new_retention(store,
                                                                             uow_factory):
    [w] = write_dossiers(uow_factory, 1)
    pid = w["patient_id"]
    _close(uow_factory, pid, True, T0)
    later = T0.replace(year=T0.year + YEARS) + timedelta(days=1)
    assert erase_closed_dossiers(store, lambda: later, YEARS) == 1
    _close(uow_factory, pid, False)
    _close(uow_factory, pid, True, later + timedelta(days=1))
    with uow_factory() as uow:
        assert not uow.patients.closure(pid).erased  # this closure's content is not erased yet
    assert erase_closed_dossiers(store, lambda: later + timedelta(days=30), YEARS) == 0
    twice = later.replace(year=later.year + YEARS) + timedelta(days=2)
    assert erase_closed_dossiers(store, lambda: twice, YEARS) == 1

"""A grant "--until D" in the store, on SQLite and PostgreSQL: consent and the grant-expiry job
agree that it ends at the end of D in Luxembourg (23:00 UTC in winter, 22:00 UTC in summer),
and a re-grant changing only the level keeps that end."""
from datetime import UTC, date, datetime, timedelta

import pytest

from hub.domain.operator import Operator
from hub.domain.professional import Professional
from hub.jobs.grant_expiry import note_expired_grants
from hub.ops import choices
from hub.store.job_store import JobStore

MATRICULE = "1893120105732"
DOCTOR = "123456-78"
DESK = Operator("desk-anne")


@pytest.mark.parametrize("last_day, midnight", [
    (date(2027, 1, 31), datetime(2027, 1, 31, 23, tzinfo=UTC)),
    (date(2027, 7, 31), datetime(2027, 7, 31, 22, tzinfo=UTC))])
def test_expiry_is_noted_at_luxembourg_midnight_after_the_last_day(uow_factory, engine, keyring,
                                                                   last_day, midnight):
    with uow_factory() as uow:
        uow.professionals.upsert(Professional(DOCTOR, "Weber", "Anne", "GP"))
        uow.commit()
    at = datetime(2026, 12, 1, tzinfo=UTC)
    choices.grant(uow_factory, MATRICULE, DOCTOR, "normal", last_day, at=at, by=DESK)
    choices.grant(uow_factory, MATRICULE, DOCTOR, "extended", at=at.replace(day=2), by=DESK)
    with uow_factory() as uow:
        pid = uow.patients.find(MATRICULE)
        [*_, current] = uow.consents.grants(pid)
        assert (current.level.value, current.until) == ("extended", midnight)
        assert current.in_force(midnight - timedelta(seconds=1))
        assert not current.in_force(midnight)
    store = JobStore(engine, keyring)
    assert note_expired_grants(store, lambda: midnight - timedelta(seconds=1)) == 0
    assert note_expired_grants(store, lambda: midnight) == 1
    with uow_factory() as uow:
        [event] = [e for e in uow.audit.journal(pid) if e.action == "consent.expired"]
        assert DOCTOR in event.reason

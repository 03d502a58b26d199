"""Grants as hub.ops.choices gives them: a re-grant changes only what is given and says what it
changed, `--until never` (last_day None) makes a dated grant open-ended, a CNS code the registry
does not know is refused unless pending, a pending grant is in force only once the professional
is registered, and the last day ends at Luxembourg's midnight."""
from datetime import UTC, date, datetime

import pytest

from hub.domain.access import NOT_REGISTERED, may_receive
from hub.domain.consent import EntryView, Reason
from hub.domain.models import Confidentiality
from hub.domain.operator import Operator
from hub.domain.professional import Professional
from hub.ops import choices
from tests.fixtures.fake_uow import FakeStore

MATRICULE = "1893120105732"
DOCTOR, TYPO = "123456-78", "123465-78"
DESK = Operator("desk-anne")
AT = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
NORMAL = [EntryView(Confidentiality.NORMAL)]


@pytest.fixture
def store():
    store = FakeStore()
    store.professionals[DOCTOR] = Professional(DOCTOR, "Weber", "Anne", "GP")
    return store


def grants(store):
    return [(g.level.value, g.until, g.revoked_at) for g in
            store.grants[store.patient_id(MATRICULE)]]


def test_a_regrant_changing_only_the_level_keeps_the_last_day(store):
    choices.grant(store.uow, MATRICULE, DOCTOR, "normal", date(2026, 12, 31), at=AT, by=DESK)
    later = datetime(2026, 4, 1, tzinfo=UTC)
    granted = choices.grant(store.uow, MATRICULE, DOCTOR, "extended", at=later, by=DESK)
    assert granted.changed == ("level normal → extended",)
    assert granted.summary == f"extended access to {DOCTOR} through 2026-12-31"
    assert granted.change.reason == (f"extended access to {DOCTOR} through 2026-12-31; "
                                     "changed: level normal → extended")
    end = datetime(2026, 12, 31, 23, tzinfo=UTC)
    assert grants(store) == [("normal", end, later), ("extended", end, None)]


def test_a_regrant_without_a_level_keeps_the_level(store):
    choices.grant(store.uow, MATRICULE, DOCTOR, "extended", at=AT, by=DESK)
    granted = choices.grant(store.uow, MATRICULE, DOCTOR, None, date(2026, 6, 30), at=AT,
                            by=DESK)
    assert granted.changed == ("open-ended → through 2026-06-30",)
    assert grants(store)[-1] == ("extended", datetime(2026, 6, 30, 22, tzinfo=UTC), None)


def test_until_never_makes_a_dated_grant_open_ended(store):
    choices.grant(store.uow, MATRICULE, DOCTOR, "normal", date(2026, 12, 31), at=AT, by=DESK)
    granted = choices.grant(store.uow, MATRICULE, DOCTOR, last_day=None, at=AT, by=DESK)
    assert granted.changed == ("through 2026-12-31 → open-ended",)
    assert grants(store)[-1] == ("normal", None, None)


def test_a_regrant_that_changes_nothing_stores_and_journals_nothing(store):
    choices.grant(store.uow, MATRICULE, DOCTOR, "normal", date(2026, 12, 31), at=AT, by=DESK)
    commits, events = store.commits, len(store.audit)
    for level in (None, "normal"):
        granted = choices.grant(store.uow, MATRICULE, DOCTOR, level, at=AT, by=DESK)
        assert granted.change is None and granted.changed == ()
    assert (store.commits, len(store.audit), len(grants(store))) == (commits, events, 1)


def test_a_grant_to_a_code_the_registry_does_not_know_is_refused(store):
    with pytest.raises(choices.UnknownProfessional, match=f"{TYPO} is not in the professionals"):
        choices.grant(store.uow, MATRICULE, TYPO, "normal", at=AT, by=DESK)
    assert store.patients == {} and store.audit == [] and store.commits == 0


def test_a_pending_grant_is_in_force_only_once_the_professional_is_registered(store):
    granted = choices.grant(store.uow, MATRICULE, TYPO, "normal", at=AT, by=DESK, pending=True)
    assert granted.pending and granted.change.reason.endswith("; pending registration")
    pid = store.patient_id(MATRICULE)
    with store.uow() as uow:
        decision = may_receive(uow, pid, NORMAL, TYPO, AT, True)
    assert (decision.allowed, decision.reason) == (False, NOT_REGISTERED)
    [listed] = choices.consent_overview(store.uow, MATRICULE, True, at=AT)["grants"]
    assert listed["status"] == "pending registration"

    store.professionals[TYPO] = Professional(TYPO, "Hoffmann", "Luc", "cardiology")
    with store.uow() as uow:
        decision = may_receive(uow, pid, NORMAL, TYPO, AT, True)
    assert (decision.allowed, decision.reason) == (True, Reason.GRANT_IN_FORCE)
    [listed] = choices.consent_overview(store.uow, MATRICULE, True, at=AT)["grants"]
    assert listed["status"] == "in force"


def test_a_pending_grant_can_be_changed_without_pending_again(store):
    choices.grant(store.uow, MATRICULE, TYPO, "normal", at=AT, by=DESK, pending=True)
    granted = choices.grant(store.uow, MATRICULE, TYPO, "extended", at=AT, by=DESK)
    assert granted.pending and granted.changed == ("level normal → extended",)


def test_the_last_day_ends_at_luxembourg_midnight_in_winter_and_summer(store):
    choices.grant(store.uow, MATRICULE, DOCTOR, "normal", date(2026, 3, 28), at=AT, by=DESK)
    assert grants(store)[-1][1] == datetime(2026, 3, 28, 23, tzinfo=UTC)      # CET
    choices.grant(store.uow, MATRICULE, DOCTOR, "normal", date(2026, 3, 29), at=AT, by=DESK)
    assert grants(store)[-1][1] == datetime(2026, 3, 29, 22, tzinfo=UTC)      # CEST from 02:00
    [*_, last] = store.grants[store.patient_id(MATRICULE)]
    assert last.in_force(datetime(2026, 3, 29, 21, 59, tzinfo=UTC))
    assert not last.in_force(datetime(2026, 3, 29, 22, tzinfo=UTC))


def test_a_last_day_over_in_luxembourg_is_refused_though_not_over_in_utc(store):
    # 23:30 UTC on 31 March is 1 April in Luxembourg: 31 March is over.
    at = datetime(2026, 3, 31, 23, 30, tzinfo=UTC)
    with pytest.raises(choices.LastDayPassed):
        choices.grant(store.uow, MATRICULE, DOCTOR, "normal", date(2026, 3, 31), at=at, by=DESK)

"""hub.ops.choices on a unit of work over dicts: each choice changes the dossier and journals
it in one committed transaction, a refusal commits nothing, and what comes back is what the
`hub` command prints."""
from datetime import UTC, date, datetime

import pytest

from hub.domain.audit import Actor, AuditAction
from hub.domain.models import Confidentiality, Patient, StoredEntry
from hub.domain.operator import Operator
from hub.domain.professional import Professional
from hub.errors import HubError, UnknownMatricule
from hub.ops import choices
from tests.fixtures.fake_uow import FakeStore

MATRICULE = "1893120105732"
DOCTOR = "123456-78"
DESK = Operator("desk-anne")
AT = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def store():
    """A store whose registry knows DOCTOR and 222222-22 (grants to unknown codes are refused)."""
    store = FakeStore()
    for code in (DOCTOR, "222222-22"):
        store.professionals[code] = Professional(code, "Reuter", "Marc", "GP")
    return store


def journal(store):
    return [(e.actor, e.action, e.reason, e.entry_id, e.at) for e in store.audit]


def test_a_grant_creates_the_dossier_and_is_journaled_with_its_reach(store):
    change = choices.grant(store.uow, MATRICULE, DOCTOR, "extended",
                           date(2026, 12, 31), at=AT, by=DESK).change
    assert change.reason == f"extended access to {DOCTOR} through 2026-12-31"
    [grant] = store.grants[store.patient_id(MATRICULE)]
    # Through the end of 31 December in Luxembourg (CET, UTC+1): 23:00 UTC.
    assert grant.until == datetime(2026, 12, 31, 23, tzinfo=UTC) and grant.level == "extended"
    assert journal(store) == [(Actor.PATIENT, AuditAction.CONSENT_GRANT, change.reason, None,
                               AT)]
    assert store.commits == 1


def test_a_grant_whose_last_day_is_over_stores_and_journals_nothing(store):
    with pytest.raises(choices.LastDayPassed):
        choices.grant(store.uow, MATRICULE, DOCTOR, "normal", date(2026, 2, 28),
                      at=AT, by=DESK)
    assert store.patients == {} and store.audit == [] and store.commits == 0


def test_a_grant_through_today_still_holds(store):
    choices.grant(store.uow, MATRICULE, DOCTOR, "normal", date(2026, 3, 1), at=AT, by=DESK)
    assert store.commits == 1


def test_revoking_without_a_grant_in_force_commits_nothing(store):
    with pytest.raises(HubError, match=f"no grant in force for {DOCTOR}"):
        choices.revoke(store.uow, MATRICULE, DOCTOR, at=AT, by=DESK)
    assert store.patients == {} and store.audit == []

    choices.grant(store.uow, MATRICULE, DOCTOR, "normal", at=AT, by=DESK)
    change = choices.revoke(store.uow, MATRICULE, DOCTOR, at=AT, by=DESK)
    assert change == choices.Change(AuditAction.CONSENT_REVOKE, Actor.PATIENT,
                                    f"access of {DOCTOR}", recorded_by="desk-anne")
    assert [e.action for e in store.audit] == ["consent.grant", "consent.revoke"]


def test_the_overview_gives_each_grant_its_status_and_journals_nothing(store):
    later = datetime(2026, 6, 1, tzinfo=UTC)
    choices.grant(store.uow, MATRICULE, DOCTOR, "normal", date(2026, 4, 30), at=AT, by=DESK)
    choices.grant(store.uow, MATRICULE, "222222-22", "normal", at=AT, by=DESK)
    choices.revoke(store.uow, MATRICULE, "222222-22", at=AT, by=DESK)
    choices.declare_referent(store.uow, MATRICULE, "111111-11", at=AT, by=DESK)
    events = len(store.audit)
    overview = choices.consent_overview(store.uow, MATRICULE, False, at=later)
    assert [(g["cns_code"], g["status"]) for g in overview["grants"]] == [
        (DOCTOR, "expired"), ("222222-22", "revoked")]
    assert overview["grants"][0]["last_day"] == date(2026, 4, 30)
    assert overview["referent"] == {"cns_code": "111111-11", "since": AT, "until": None}
    assert (overview["closed"], overview["referent_blocked"],
            overview["referent_access_by_default"]) == (False, False, False)
    assert len(store.audit) == events


def test_the_overview_of_an_unknown_matricule_is_refused(store):
    with pytest.raises(UnknownMatricule):
        choices.consent_overview(store.uow, MATRICULE, True)


def test_the_referent_is_declared_and_ended_as_the_cns_feed_blocked_by_the_patient(store):
    declared = choices.declare_referent(store.uow, MATRICULE, "111111-11", at=AT, by=DESK)
    assert (declared.declaration.cns_code, declared.declaration.since) == ("111111-11", AT)
    choices.set_referent_blocked(store.uow, MATRICULE, True, at=AT, by=DESK)
    choices.set_referent_blocked(store.uow, MATRICULE, False, at=AT, by=DESK)
    choices.end_referent(store.uow, MATRICULE, at=AT, by=DESK)
    with pytest.raises(HubError, match="no référent declaration in force"):
        choices.end_referent(store.uow, MATRICULE, at=AT, by=DESK)
    assert [(e.actor, e.action, e.reason) for e in store.audit] == [
        (Actor.CNS_FEED, "referent.declare", "référent 111111-11"),
        (Actor.PATIENT, "referent.block", ""), (Actor.PATIENT, "referent.unblock", ""),
        (Actor.CNS_FEED, "referent.end", "")]
    assert store.commits == 4


def test_closing_and_reopening(store):
    choices.set_closed(store.uow, MATRICULE, True, at=AT, by=DESK)
    assert store.patient_id(MATRICULE) in store.closed
    choices.set_closed(store.uow, MATRICULE, False, at=AT, by=DESK)
    assert store.closed == set()
    assert [e.action for e in store.audit] == ["dossier.close", "dossier.reopen"]


def test_entry_choices_need_the_dossier_and_its_entry(store):
    with pytest.raises(UnknownMatricule):
        choices.set_hidden(store.uow, MATRICULE, "e1", True, at=AT, by=DESK)
    assert store.patients == {}
    store.patients["p1"] = Patient(MATRICULE)
    store.entries.append(StoredEntry("e1", "p1", "m1", 0, "lab_result", Confidentiality.NORMAL,
                                     False, AT))

    choices.set_hidden(store.uow, MATRICULE, "e1", True, at=AT, by=DESK)
    choices.set_confidentiality(store.uow, MATRICULE, "e1", "secret", at=AT, by=DESK)
    with pytest.raises(HubError):
        choices.set_hidden(store.uow, MATRICULE, "e2", False, at=AT, by=DESK)
    [entry] = store.entries
    assert (entry.hidden, entry.confidentiality) == (True, Confidentiality.SECRET)
    assert journal(store) == [
        (Actor.PATIENT, AuditAction.ENTRY_HIDE, "", "e1", AT),
        (Actor.PATIENT, AuditAction.ENTRY_CONFIDENTIALITY, "secret", "e1", AT)]


def test_every_choice_stays_the_patients_or_the_feeds_recorded_by_the_operator(store):
    store.patients["p1"] = Patient(MATRICULE)
    store.entries.append(StoredEntry("e1", "p1", "m1", 0, "lab_result", Confidentiality.NORMAL,
                                     False, AT))
    other = Operator("  clerk.bob  ")
    choices.grant(store.uow, MATRICULE, DOCTOR, "normal", at=AT, by=DESK)
    choices.revoke(store.uow, MATRICULE, DOCTOR, at=AT, by=other)
    choices.declare_referent(store.uow, MATRICULE, "111111-11", at=AT, by=DESK)
    choices.set_referent_blocked(store.uow, MATRICULE, True, at=AT, by=DESK)
    choices.end_referent(store.uow, MATRICULE, at=AT, by=DESK)
    choices.set_closed(store.uow, MATRICULE, True, at=AT, by=DESK)
    choices.set_closed(store.uow, MATRICULE, False, at=AT, by=DESK)
    choices.set_hidden(store.uow, MATRICULE, "e1", True, at=AT, by=DESK)
    choices.set_confidentiality(store.uow, MATRICULE, "e1", "secret", at=AT, by=DESK)
    assert [(e.actor, e.action, e.operator) for e in store.audit] == [
        (Actor.PATIENT, "consent.grant", "desk-anne"),
        (Actor.PATIENT, "consent.revoke", "clerk.bob"),
        (Actor.CNS_FEED, "referent.declare", "desk-anne"),
        (Actor.PATIENT, "referent.block", "desk-anne"),
        (Actor.CNS_FEED, "referent.end", "desk-anne"),
        (Actor.PATIENT, "dossier.close", "desk-anne"),
        (Actor.PATIENT, "dossier.reopen", "desk-anne"),
        (Actor.PATIENT, "entry.hide", "desk-anne"),
        (Actor.PATIENT, "entry.confidentiality", "desk-anne")]

"""Representatives in the store and the majority job with a controlled clock, on SQLite and
PostgreSQL: names kept only encrypted (and re-encrypted by key rotation), a parent ended once at
the patient's majority and journaled, guardians and assistants left, and a parent refused as
soon as the patient is of age even before the job ran."""
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, update

from hub.domain.audit import Actor
from hub.domain.models import Patient
from hub.domain.operator import Operator
from hub.domain.representative import EndReason, RepresentativeKind, Scope, representative_in
from hub.jobs.representative_majority import end_parents_at_majority
from hub.ops import choices, representatives
from hub.errors import HubError
from hub.ops.representatives import RepresentativeRefused
from hub.store.rotation import KeyRotation
from hub.store.tables import audit_events, patients
from hub.store.tables import representatives as representatives_table
from tests.fixtures.matricules import reference_matricule

DESK = Operator("desk")
BOTH = frozenset({Scope.CONSENT, Scope.READ})
# Born 12 May 2008 (PID-7): of age at local midnight, 22:00 UTC on 11 May 2026 (CEST).
BIRTH, MAJORITY = "2008-05-12", datetime(2026, 5, 11, 22, 0, tzinfo=UTC)
TEEN = reference_matricule("20080512001")
CHILD = reference_matricule("20150301002")   # no PID-7: the matricule says 1 March 2015
T0 = datetime(2025, 1, 6, 10, 0, tzinfo=UTC)
PARENT_NAME, GUARDIAN_NAME = "Marie Schmëtz-Parent", "Jos Kreß-Tuteur"


def _with_birth(uow_factory, matricule: str, birth_date: str) -> str:
    with uow_factory() as uow:
        pid = uow.patients.id_for(matricule)
        uow.patients.save_demographics(pid, Patient(matricule, "Schmëtz", "Léonie", birth_date))
        uow.commit()
    return pid


def _events(uow_factory, pid, action):
    with uow_factory() as uow:
        return [e for e in uow.audit.journal(pid) if e.action == action]


@pytest.fixture
def family(uow_factory):
    """A teenager with a parent, a guardian and an assistant, and a child with a parent."""
    teen = _with_birth(uow_factory, TEEN, BIRTH)
    add = lambda m, kind, name: representatives.add(  # noqa: E731
        uow_factory, m, kind, name, BOTH, since=T0, at=T0, by=DESK)
    return {"teen": teen,
            "parent": add(TEEN, RepresentativeKind.PARENT, PARENT_NAME),
            "guardian": add(TEEN, RepresentativeKind.GUARDIAN, GUARDIAN_NAME),
            "assistant": add(TEEN, RepresentativeKind.ASSISTANT, "Ann Faber"),
            "child_parent": add(CHILD, RepresentativeKind.PARENT, "Paul Thill")}


def test_the_job_ends_a_parent_once_at_majority_and_journals_it(family, uow_factory):
    assert end_parents_at_majority(uow_factory, lambda: MAJORITY - timedelta(seconds=1)) == 0
    assert end_parents_at_majority(uow_factory, lambda: MAJORITY + timedelta(days=3)) == 1
    assert end_parents_at_majority(uow_factory, lambda: MAJORITY + timedelta(days=4)) == 0
    with uow_factory() as uow:
        parent = uow.representatives.get(family["parent"].id)
        assert (parent.until, parent.end_reason) == (MAJORITY, EndReason.MAJORITY)
        for other in ("guardian", "assistant", "child_parent"):
            again = uow.representatives.get(family[other].id)
            assert (again.until, again.end_reason) == (None, None)
        assert uow.audit.verify().ok
    [event] = _events(uow_factory, family["teen"], "representative.majority")
    assert event.actor == Actor.HUB and family["parent"].id in event.reason
    assert event.at == MAJORITY + timedelta(days=3)
    assert PARENT_NAME not in event.reason and BIRTH not in event.reason


def test_a_parent_is_refused_once_the_patient_is_of_age_even_before_the_job(family,
                                                                            uow_factory):
    before, after = MAJORITY - timedelta(minutes=1), MAJORITY + timedelta(minutes=1)
    change = choices.grant(uow_factory, TEEN, "123456-78", "normal", at=before, by=DESK,
                           representative=family["parent"].id, pending=True).change
    assert change is not None
    assert change.actor == Actor.REPRESENTATIVE
    assert representative_in(change.reason) == family["parent"].id
    with pytest.raises(RepresentativeRefused, match="of age"):
        choices.revoke(uow_factory, TEEN, "123456-78", at=after, by=DESK,
                       representative=family["parent"].id)
    # The guardian still may; the refusal changed nothing.
    choices.revoke(uow_factory, TEEN, "123456-78", at=after, by=DESK,
                   representative=family["guardian"].id)
    [grant, revoke] = [e for e in _events(uow_factory, family["teen"], "consent.grant")
                       + _events(uow_factory, family["teen"], "consent.revoke")]
    assert representative_in(grant.reason) == family["parent"].id
    assert representative_in(revoke.reason) == family["guardian"].id


def test_a_representative_of_another_dossier_cannot_act(family, uow_factory):
    with pytest.raises(RepresentativeRefused, match="for this dossier"):
        choices.grant(uow_factory, CHILD, "123456-78", "normal", at=T0, by=DESK,
                      representative=family["parent"].id, pending=True)


def test_a_parent_is_refused_for_a_patient_already_of_age(uow_factory):
    _with_birth(uow_factory, TEEN, BIRTH)
    with pytest.raises(Exception, match="of age"):
        representatives.add(uow_factory, TEEN, "parent", "X Y", BOTH, at=MAJORITY, by=DESK)


def test_names_are_kept_only_encrypted_and_rotate_with_the_keys(family, engine, keyring,
                                                                uow_factory):
    with engine.connect() as connection:
        rows = connection.execute(select(representatives_table)).all()
        audit = connection.execute(select(audit_events.c.reason)).all()
    assert len(rows) == 4
    dump = repr(rows) + repr(audit)
    for name in (PARENT_NAME, GUARDIAN_NAME, "Ann Faber", "Paul Thill"):
        assert name not in dump and name.encode() not in b"".join(bytes(r.name_ct) for r in rows)
    keyring.add_key()
    rotation = KeyRotation(engine, keyring)
    rotation.run()
    assert rotation.counts()["representatives"] == {keyring.current_key_id: 4}
    with uow_factory() as uow:
        assert uow.representatives.get(family["parent"].id).name == PARENT_NAME


def test_the_overview_journals_the_read_and_tells_a_minor(family, uow_factory):
    document = representatives.overview(uow_factory, CHILD, at=T0, by=DESK)
    assert document["minor"] is True and document["majority_on"] == date(2033, 3, 1).isoformat()
    [row] = document["representatives"]
    assert (row["name"], row["status"]) == ("Paul Thill", "in force")
    with uow_factory() as uow:
        pid = uow.patients.find(CHILD)
    [listed] = _events(uow_factory, pid, "representative.list")
    assert listed.operator == "desk" and "Paul Thill" not in listed.reason


def test_a_dossier_whose_demographics_cannot_be_read_does_not_stop_the_job(family, engine,
                                                                           uow_factory, caplog):
    with uow_factory() as uow:
        child = uow.patients.find(CHILD)
    with engine.begin() as connection:    # the child's demographics under a key nobody has
        connection.execute(update(patients).where(patients.c.id == child).values(key_id="lost"))
    assert end_parents_at_majority(uow_factory, lambda: MAJORITY + timedelta(days=1)) == 1
    assert "1 dossier(s) with a parent representative: demographics unreadable" in caplog.text


def test_end_refuses_one_no_longer_acting_and_ends_one_not_yet_acting(family, uow_factory):
    after = MAJORITY + timedelta(hours=1)
    with pytest.raises(HubError, match="no longer acts"):   # of age: the job need not have run
        representatives.end(uow_factory, TEEN, family["parent"].id, at=after, by=DESK)
    later = representatives.add(uow_factory, TEEN, "assistant", "Lu Faber", BOTH,
                                since=after + timedelta(days=30), at=after, by=DESK)
    representatives.end(uow_factory, TEEN, later.id, at=after, by=DESK)
    with uow_factory() as uow:
        ended = uow.representatives.get(later.id)
    assert ended.end_reason is EndReason.ENDED
    assert not ended.in_force(after + timedelta(days=31), MAJORITY)
    assert [e.reason for e in _events(uow_factory, family["teen"], "representative.end")] == [
        f"assistant representative {later.id}"]


def test_the_patients_other_choices_too_are_made_by_a_representative_or_refused(family,
                                                                               uow_factory):
    reader = representatives.add(uow_factory, TEEN, "assistant", "Lu Faber",
                                 frozenset({Scope.READ}), since=T0, at=T0, by=DESK)
    at = T0 + timedelta(days=1)
    closed = choices.set_closed(uow_factory, TEEN, True, at=at, by=DESK,
                                representative=family["guardian"].id)
    blocked = choices.set_referent_blocked(uow_factory, TEEN, True, at=at, by=DESK,
                                           representative=family["parent"].id)
    for change, who in ((closed, "guardian"), (blocked, "parent")):
        assert change.actor == Actor.REPRESENTATIVE
        assert representative_in(change.reason) == family[who].id
    with pytest.raises(RepresentativeRefused, match="may not act for consent"):
        choices.set_closed(uow_factory, TEEN, False, at=at, by=DESK, representative=reader.id)
    with uow_factory() as uow:
        assert uow.patients.is_closed(family["teen"])           # the refusal changed nothing
    assert [e.actor for e in _events(uow_factory, family["teen"], "dossier.close")] \
        == ["representative"]
    assert not _events(uow_factory, family["teen"], "dossier.reopen")

"""Consent rows on real SQLite and PostgreSQL: grants, revocations, référent declarations, the
référent block, and the state `decide` reads."""
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from hub.domain.consent import (
    ConsentState, EntryView, Grant, GrantLevel, Recipient, ReferentDeclaration, decide,
)
from hub.domain.models import Confidentiality, Entry, MessageRecord, MessageState
from hub.errors import StoreConflict, StoreError, UnknownMatricule
from hub.store import tables
from hub.store.tables import new_id
from tests.fixtures.messages import patient

MATRICULE = "1893120105732"
DOCTOR = "123456-78"
OTHER = "876543-21"
T0 = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
def patient_id(uow_factory):
    with uow_factory() as uow:
        patient_id = uow.patients.id_for(MATRICULE)
        uow.commit()
    return patient_id


def test_a_new_dossier_has_no_consent(uow_factory, patient_id):
    with uow_factory() as uow:
        assert uow.consents.grants(patient_id) == []
        assert uow.consents.referent(patient_id, T0) is None
        assert uow.consents.state(patient_id, T0, True) == ConsentState(
            closed=False, grants=(), referent=None, referent_blocked=False,
            referent_access_by_default=True)


def test_grant_round_trip_keeps_times_in_utc(uow_factory, patient_id):
    with uow_factory() as uow:
        given = uow.consents.grant(patient_id, DOCTOR, "extended", T0 + 30 * DAY, T0)
        uow.commit()
    with uow_factory() as uow:
        [stored] = uow.consents.grants(patient_id)
    assert stored == given == Grant(DOCTOR, GrantLevel.EXTENDED, T0, T0 + 30 * DAY, None)
    assert stored.granted_at.tzinfo == UTC


def test_revoke_ends_the_grant_in_force_and_says_whether_there_was_one(uow_factory, patient_id):
    with uow_factory() as uow:
        uow.consents.grant(patient_id, DOCTOR, "normal", None, T0)
        uow.consents.grant(patient_id, OTHER, "normal", None, T0)
        uow.commit()
    with uow_factory() as uow:
        assert uow.consents.revoke(patient_id, DOCTOR, T0 + DAY) is True
        assert uow.consents.revoke(patient_id, DOCTOR, T0 + 2 * DAY) is False
        assert uow.consents.revoke(patient_id, "555555-55", T0 + DAY) is False
        uow.commit()
    with uow_factory() as uow:
        by_code = {g.cns_code: g for g in uow.consents.grants(patient_id)}
        state = uow.consents.state(patient_id, T0 + DAY, True)
    assert by_code[DOCTOR].revoked_at == T0 + DAY
    assert by_code[OTHER].revoked_at is None
    entry = EntryView(Confidentiality.NORMAL)
    assert decide(entry, Recipient(DOCTOR, True), state, T0 + DAY).reason == "grant revoked"
    assert decide(entry, Recipient(DOCTOR, True), state, T0 + DAY - DAY / 2).allowed
    assert decide(entry, Recipient(OTHER, True), state, T0 + DAY).allowed


def test_an_expired_grant_is_not_revoked_again(uow_factory, patient_id):
    with uow_factory() as uow:
        uow.consents.grant(patient_id, DOCTOR, "normal", T0 + DAY, T0)
        assert uow.consents.revoke(patient_id, DOCTOR, T0 + 2 * DAY) is False
        [grant] = uow.consents.grants(patient_id)
    assert grant.revoked_at is None and grant.until == T0 + DAY


def test_a_new_grant_replaces_the_open_one_and_history_is_kept(uow_factory, patient_id):
    with uow_factory() as uow:
        uow.consents.grant(patient_id, DOCTOR, "extended", None, T0)
        uow.consents.grant(patient_id, DOCTOR, "normal", T0 + 10 * DAY, T0 + DAY)
        uow.commit()
    with uow_factory() as uow:
        first, second = uow.consents.grants(patient_id)
        state = uow.consents.state(patient_id, T0 + 2 * DAY, True)
    assert (first.level, first.revoked_at) == (GrantLevel.EXTENDED, T0 + DAY)
    assert (second.level, second.until, second.revoked_at) == (GrantLevel.NORMAL, T0 + 10 * DAY,
                                                               None)
    restricted = EntryView(Confidentiality.RESTRICTED)
    doctor = Recipient(DOCTOR, True)
    assert decide(restricted, doctor, state, T0 + DAY / 2).allowed          # before the change
    assert decide(restricted, doctor, state, T0 + 2 * DAY).reason == \
        "restricted needs extended grant"
    assert decide(EntryView(Confidentiality.NORMAL), doctor, state, T0 + 10 * DAY).reason == \
        "grant expired"


def test_referent_declarations_follow_one_another(uow_factory, engine, patient_id):
    with uow_factory() as uow:
        uow.consents.declare_referent(patient_id, DOCTOR, T0, source="cli")
        again = uow.consents.declare_referent(patient_id, DOCTOR, T0 + DAY, source="cns")
        assert again == ReferentDeclaration(DOCTOR, T0)  # a resend does not restart the clock
        uow.consents.declare_referent(patient_id, OTHER, T0 + 5 * DAY, source="cns")
        uow.commit()
    with uow_factory() as uow:
        assert uow.consents.referent(patient_id, T0 - DAY) is None
        assert uow.consents.referent(patient_id, T0 + DAY) == ReferentDeclaration(
            DOCTOR, T0, T0 + 5 * DAY)
        assert uow.consents.referent(patient_id, T0 + 5 * DAY) == ReferentDeclaration(
            OTHER, T0 + 5 * DAY)
        assert uow.consents.end_referent(patient_id, T0 + 9 * DAY) is True
        assert uow.consents.end_referent(patient_id, T0 + 10 * DAY) is False
        assert uow.consents.referent(patient_id, T0 + 9 * DAY) is None
        assert uow.consents.referent(patient_id, T0 + 8 * DAY).cns_code == OTHER
    with engine.connect() as connection:
        rows = connection.execute(
            select(tables.referent_declarations.c.source)
            .order_by(tables.referent_declarations.c.since)).scalars().all()
    assert rows == ["cli", "cns"]


def test_blocking_the_referent_is_read_into_the_state(uow_factory, patient_id):
    doctor, entry = Recipient(DOCTOR, True), EntryView(Confidentiality.NORMAL)
    with uow_factory() as uow:
        uow.consents.declare_referent(patient_id, DOCTOR, T0, source="cli")
        uow.consents.set_referent_blocked(patient_id, True)
        uow.commit()
    with uow_factory() as uow:
        state = uow.consents.state(patient_id, T0 + DAY, True)
        assert state.referent_blocked and state.referent == ReferentDeclaration(DOCTOR, T0)
        assert decide(entry, doctor, state, T0 + DAY).reason == "référent blocked by patient"
        uow.consents.set_referent_blocked(patient_id, False)
        state = uow.consents.state(patient_id, T0 + DAY, True)
        assert decide(entry, doctor, state, T0 + DAY).reason == "référent declaration in force"
        switched_off = uow.consents.state(patient_id, T0 + DAY, False)
        assert decide(entry, doctor, switched_off, T0 + DAY).reason == "no grant in force"


def test_a_closed_dossier_is_read_into_the_state(uow_factory, patient_id):
    with uow_factory() as uow:
        uow.consents.grant(patient_id, DOCTOR, "normal", None, T0)
        uow.patients.set_closed(patient_id, True)
        state = uow.consents.state(patient_id, T0, True)
    assert state.closed
    assert decide(EntryView(Confidentiality.NORMAL), Recipient(DOCTOR, True), state,
                  T0).reason == "dossier closed"


def test_unknown_dossiers_are_refused(uow_factory, patient_id):
    with uow_factory() as uow:
        with pytest.raises(UnknownMatricule):
            uow.consents.state(new_id(), T0, True)
        with pytest.raises(UnknownMatricule):
            uow.consents.set_referent_blocked(new_id(), True)
    with uow_factory() as uow:
        with pytest.raises(StoreConflict):
            uow.consents.grant(new_id(), DOCTOR, "normal", None, T0)


def test_consent_rows_hold_no_matricule(uow_factory, engine, patient_id):
    with uow_factory() as uow:
        uow.consents.grant(patient_id, DOCTOR, "normal", None, T0)
        uow.consents.declare_referent(patient_id, DOCTOR, T0, source="cli")
        uow.commit()
    with engine.connect() as connection:
        dumped = [tuple(row) for table in (tables.consent_grants, tables.referent_declarations)
                  for row in connection.execute(select(table))]
    assert dumped and all(row[1] == patient_id for row in dumped)
    assert MATRICULE not in repr(dumped)


def test_the_patient_hides_and_grades_only_entries_of_their_own_dossier(uow_factory, patient_id):
    message = MessageRecord(new_id(), "LAB^ACME", "C1", "ORU^R01", "2.5", MessageState.STORED, T0)
    with uow_factory() as uow:
        someone_else = uow.patients.id_for("1980010112302")
        uow.messages.add(message, b"raw")
        mine, theirs = uow.entries.add_many([(patient_id, message.id, 0, Entry("lab_result", {})),
                                             (someone_else, message.id, 1, Entry("note", {}))])
        uow.entries.set_hidden(mine, True, patient_id=patient_id)
        uow.entries.set_confidentiality(mine, "restricted", patient_id=patient_id)
        with pytest.raises(StoreError, match="in this dossier"):
            uow.entries.set_hidden(theirs, True, patient_id=patient_id)
        with pytest.raises(StoreError, match="in this dossier"):
            uow.entries.set_confidentiality(theirs, Confidentiality.SECRET, patient_id=patient_id)
        with pytest.raises(ValueError):
            uow.entries.set_confidentiality(mine, "public", patient_id=patient_id)
        uow.commit()
    with uow_factory() as uow:
        [stored] = uow.entries.for_patient(patient_id)
        [other] = uow.entries.for_patient(someone_else)
        uow.entries.set_confidentiality(mine, Confidentiality.SECRET)
        [graded] = uow.entries.for_patient(patient_id)
    assert (stored.hidden, stored.confidentiality) == (True, Confidentiality.RESTRICTED)
    assert (other.hidden, other.confidentiality) == (False, Confidentiality.NORMAL)
    assert graded.confidentiality == Confidentiality.SECRET


def test_many_states_read_at_once_equal_each_read_alone(uow_factory, patient_id):
    with uow_factory() as uow:
        ids = [patient_id, *(uow.patients.id_for(patient(n).matricule) for n in (41, 42))]
        uow.consents.grant(ids[0], DOCTOR, "extended", T0 + 9 * DAY, T0)
        uow.consents.grant(ids[0], OTHER, "normal", None, T0 + DAY)
        uow.consents.revoke(ids[0], OTHER, T0 + 2 * DAY)
        uow.consents.declare_referent(ids[-1], DOCTOR, T0, "test")
        uow.consents.declare_referent(ids[-1], OTHER, T0 + 3 * DAY, "test")
        uow.consents.set_referent_blocked(ids[-1], True)
        uow.patients.set_closed(ids[1], True)
        uow.commit()
    with uow_factory() as uow:
        for at in (T0, T0 + 2 * DAY, T0 + 5 * DAY):
            together = uow.consents.states(ids, at, False)
            assert together == {pid: uow.consents.state(pid, at, False) for pid in ids}
        assert together[ids[-1]].referent.cns_code == OTHER
        with pytest.raises(UnknownMatricule):
            uow.consents.states([ids[0], "no-such-dossier"], T0, True)


def test_a_backdated_declaration_ends_where_the_next_one_begins(uow_factory, patient_id):
    # The CNS's A31 may list a past référent's ROL after the current one's: declared second,
    # it must not stay open beside the later declaration (two référents in force at once).
    with uow_factory() as uow:
        uow.consents.declare_referent(patient_id, OTHER, T0 + 5 * DAY, source="cns")
        uow.consents.declare_referent(patient_id, DOCTOR, T0, source="cns")
        uow.commit()
    with uow_factory() as uow:
        assert uow.consents.referent_history(patient_id) == [
            ReferentDeclaration(DOCTOR, T0, T0 + 5 * DAY),
            ReferentDeclaration(OTHER, T0 + 5 * DAY, None)]
        assert uow.consents.referent(patient_id, T0 + 9 * DAY).cns_code == OTHER
        assert uow.resumes.counts(T0 + 9 * DAY) == {"overdue": 0, "due": 1}

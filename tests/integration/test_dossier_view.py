"""A professional's read of a dossier (hub.ops.dossier.read_as) and the delivery counts of
`hub status`, against real SQLite and PostgreSQL: what each professional is shown, and that each
read is in the audit chain of the same transaction."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.ops.dossier import read_as
from hub.domain.consent import Reason
from hub.domain.delivery import DeliveryState
from hub.domain.models import Confidentiality, Entry, MessageRecord, MessageState, Patient
from hub.domain.professional import Professional
from hub.domain.access import NOT_REGISTERED
from hub.store.tables import new_id
from tests.fixtures.deliveries import queue, store_message
from tests.fixtures.messages import patient

MATRICULE = "1893120105732"
DOCTOR, SPECIALIST, STRANGER, REFERENT, SUSPENDED = (
    "123456-78", "234567-89", "345678-90", "111111-11", "222222-22")
UNREGISTERED = "999999-99"
AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def dossier(uow_factory):
    """A dossier with a normal, a hidden, a restricted and a secret entry, five registered
    professionals (one suspended), a normal grant, an extended grant and a référent.
    Returns (patient id, {label: entry id})."""
    with uow_factory() as uow:
        for code in (DOCTOR, SPECIALIST, STRANGER, REFERENT):
            uow.professionals.upsert(Professional(code, "Doe", "Jo", "GP"))
        uow.professionals.upsert(Professional(SUSPENDED, "Roe", "Al", "GP", "suspended"))
        patient_id = uow.patients.id_for(MATRICULE)
        uow.patients.save_demographics(patient_id, Patient(MATRICULE, "Weydert", "Ëmeline",
                                                           "1989-12-01", "F"))
        message = MessageRecord(new_id(), "LAB^CHL", "C1", "ORU^R01", "2.5",
                                MessageState.STORED, AT - timedelta(days=2),
                                patient_id=patient_id)
        uow.messages.add(message, b"raw")
        labels = ("normal", "hidden", "restricted", "secret")
        ids = dict(zip(labels, uow.entries.add_many([
            (patient_id, message.id, seq, Entry("lab_result", {"code": label}))
            for seq, label in enumerate(labels)])))
        uow.entries.set_hidden(ids["hidden"], True)
        uow.entries.set_confidentiality(ids["restricted"], Confidentiality.RESTRICTED)
        uow.entries.set_confidentiality(ids["secret"], Confidentiality.SECRET)
        granted = AT - timedelta(days=1)
        uow.consents.grant(patient_id, DOCTOR, "normal", None, granted)
        uow.consents.grant(patient_id, SPECIALIST, "extended", None, granted)
        uow.consents.declare_referent(patient_id, REFERENT, granted, "test")
        uow.commit()
    return patient_id, ids


def _read(uow_factory, patient_id, cns_code, at=AT, commit=True):
    with uow_factory() as uow:
        read = read_as(uow, patient_id, cns_code, at, referent_by_default=True)
        if commit:
            uow.commit()
    return read


def _reads(uow_factory, patient_id):
    with uow_factory() as uow:
        return [(e.actor, e.outcome, e.entry_id, e.reason, e.at)
                for e in uow.audit.journal(patient_id) if e.action == "read"]


@pytest.mark.parametrize("viewer, shown, reason", [
    (DOCTOR, ["normal"], Reason.GRANT_IN_FORCE),
    (SPECIALIST, ["normal", "restricted"], Reason.GRANT_IN_FORCE),
    (REFERENT, ["normal"], Reason.REFERENT_IN_FORCE),
])
def test_a_professional_sees_what_consent_allows_and_each_read_is_journaled(
        uow_factory, dossier, viewer, shown, reason):
    patient_id, ids = dossier
    read = _read(uow_factory, patient_id, viewer)

    assert (read.refused, read.allowed, read.reason) == (False, True, reason)
    assert [e.id for e in read.entries] == [ids[label] for label in shown]
    assert read.patient.family_name == "Weydert" and read.patient.birth_date == "1989-12-01"
    assert _reads(uow_factory, patient_id) == [
        (viewer, "ok", ids[label], Reason.GRANT_IN_FORCE if label == "restricted" else reason,
         AT) for label in shown]
    with uow_factory() as uow:
        assert uow.audit.verify().ok


@pytest.mark.parametrize("prepare, reason", [
    (lambda uow, pid: None, Reason.NO_GRANT),
    (lambda uow, pid: uow.consents.grant(pid, STRANGER, "normal", AT, AT - timedelta(days=9)),
     Reason.GRANT_EXPIRED),
    (lambda uow, pid: uow.patients.set_closed(pid, True), Reason.DOSSIER_CLOSED),
])
def test_no_access_shows_no_demographics_and_journals_one_denial(
        uow_factory, dossier, prepare, reason):
    patient_id, _ = dossier
    with uow_factory() as uow:
        prepare(uow, patient_id)
        uow.commit()
    read = _read(uow_factory, patient_id, STRANGER)

    assert (read.refused, read.allowed, read.reason) == (False, False, reason)
    assert read.entries == [] and read.patient is None
    assert _reads(uow_factory, patient_id) == [(STRANGER, "denied", None, reason, AT)]


def test_a_closed_dossier_denies_even_the_granted(uow_factory, dossier):
    patient_id, _ = dossier
    with uow_factory() as uow:
        uow.patients.set_closed(patient_id, True)
        uow.commit()
    read = _read(uow_factory, patient_id, SPECIALIST)
    assert (read.allowed, read.entries, read.reason) == (False, [], Reason.DOSSIER_CLOSED)
    assert _reads(uow_factory, patient_id) == [
        (SPECIALIST, "denied", None, Reason.DOSSIER_CLOSED, AT)]


def test_a_blocked_referent_is_denied(uow_factory, dossier):
    patient_id, _ = dossier
    with uow_factory() as uow:
        uow.consents.set_referent_blocked(patient_id, True)
        uow.commit()
    read = _read(uow_factory, patient_id, REFERENT)
    assert (read.allowed, read.entries) == (False, [])
    assert _reads(uow_factory, patient_id) == [
        (REFERENT, "denied", None, Reason.REFERENT_BLOCKED, AT)]


@pytest.mark.parametrize("viewer, reason", [(SUSPENDED, Reason.RECIPIENT_NOT_ACTIVE),
                                            (UNREGISTERED, NOT_REGISTERED)])
def test_the_registry_refuses_suspended_and_unknown_professionals(
        uow_factory, dossier, viewer, reason):
    patient_id, _ = dossier
    with uow_factory() as uow:  # even a grant does not let them in
        uow.consents.grant(patient_id, viewer, "extended", None, AT - timedelta(days=1))
        uow.commit()
    read = _read(uow_factory, patient_id, viewer)
    assert (read.refused, read.allowed, read.reason, read.entries) == (True, False, reason, [])
    assert _reads(uow_factory, patient_id) == [(viewer, "denied", None, reason, AT)]


def test_entries_all_withheld_is_a_denied_read_and_an_empty_dossier_an_ok_one(
        uow_factory, dossier):
    patient_id, ids = dossier
    with uow_factory() as uow:
        uow.entries.set_hidden(ids["normal"], True)
        uow.commit()
    read = _read(uow_factory, patient_id, DOCTOR)
    assert (read.allowed, read.entries) == (True, [])
    assert _reads(uow_factory, patient_id) == [
        (DOCTOR, "denied", None, Reason.ENTRY_HIDDEN, AT)]

    with uow_factory() as uow:
        empty = uow.patients.id_for(patient(2).matricule)
        uow.consents.grant(empty, DOCTOR, "normal", None, AT - timedelta(days=1))
        uow.commit()
    assert _read(uow_factory, empty, DOCTOR).allowed
    assert _reads(uow_factory, empty) == [(DOCTOR, "ok", None, Reason.GRANT_IN_FORCE, AT)]


def test_consent_is_judged_at_the_instant_of_the_read(uow_factory, dossier):
    patient_id, ids = dossier
    before_grant = AT - timedelta(days=3)
    assert not _read(uow_factory, patient_id, DOCTOR, at=before_grant).allowed
    assert [e.id for e in _read(uow_factory, patient_id, DOCTOR).entries] == [ids["normal"]]


def test_the_read_and_its_journal_are_one_transaction(uow_factory, dossier):
    patient_id, _ = dossier
    _read(uow_factory, patient_id, DOCTOR, commit=False)
    assert _reads(uow_factory, patient_id) == []


def test_delivery_counts_by_state_and_by_destination(uow_factory):
    with uow_factory() as uow:
        assert uow.deliveries.counts_by_destination() == {}
        message_id, patient_id, raw = store_message(uow, 1)
        first = queue(uow, message_id, patient_id, raw, "127.0.0.1:7001")
        queue(uow, message_id, patient_id, raw, "127.0.0.1:7001")
        parked = queue(uow, message_id, patient_id, raw, "[::1]:7002")
        uow.deliveries.mark_delivered(first.id, "AA")
        uow.deliveries.mark_parked(parked.id, "AR")
        uow.commit()
    with uow_factory() as uow:
        assert uow.deliveries.counts_by_destination() == {
            "127.0.0.1:7001": {"pending": 1, "delivered": 1, "denied": 0, "parked": 0},
            "[::1]:7002": {"pending": 0, "delivered": 0, "denied": 0, "parked": 1},
        }
        assert uow.deliveries.counts_by_state() == {
            DeliveryState.PENDING: 1, DeliveryState.DELIVERED: 1, DeliveryState.DENIED: 0,
            DeliveryState.PARKED: 1}

"""hub.ops.dossier on a unit of work over dicts: an operator's full view is one journal event; a
professional's read is journaled (one "read" per entry shown) and committed before the caller
gets anything, a refused one too, then raised."""
from datetime import UTC, datetime

import pytest

from hub.domain.audit import AuditOutcome
from hub.domain.models import Confidentiality, Patient, StoredEntry
from hub.domain.operator import Operator
from hub.domain.professional import Professional
from hub.errors import HubError, UnknownMatricule
from hub.ops import choices, dossier
from tests.fixtures.fake_uow import FakeStore

MATRICULE = "1893120105732"
DOCTOR, STRANGER = "123456-78", "999999-99"
DESK = Operator("desk-anne")
AT = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def store():
    store = FakeStore()
    store.patients["p1"] = Patient(MATRICULE, "Muller", "Anne", "1989-12-01", "F")
    store.entries += [
        StoredEntry("e1", "p1", "m1", 0, "lab_result", Confidentiality.NORMAL, False, AT,
                    {"value": "7.9"}),
        StoredEntry("e2", "p1", "m1", 1, "lab_result", Confidentiality.SECRET, False, AT),
        StoredEntry("d1", "p1", "m2", 0, "document", Confidentiality.NORMAL, False, AT,
                    {"content": "Brief"})]
    store.professionals[DOCTOR] = Professional(DOCTOR, "Reuter", "Marc", "GP")
    return store


def reads(store):
    return [(e.actor, e.action, e.outcome, e.entry_id) for e in store.audit]


def test_an_operators_full_view_shows_everything_and_is_one_committed_journal_event(store):
    document = dossier.show(store.uow, MATRICULE, DESK, at=AT)
    assert [e["id"] for e in document["entries"]] == ["e1", "e2", "d1"]
    assert document["patient"]["family_name"] == "Muller" and "merged_into" not in document
    assert [(e.actor, e.operator, e.action, e.outcome, e.patient_id, e.entry_id, e.reason, e.at)
            for e in store.audit] == [
        ("operator", "desk-anne", "dossier.read", AuditOutcome.OK, "p1", None,
         "operator full view: demographics and 3 entries", AT)]
    assert store.commits == 1


def test_a_merged_dossier_names_its_survivor_to_the_patient_only(store):
    store.patients["p2"] = Patient("1893120105733")
    store.merged_into["p1"] = "p2"
    choices.grant(store.uow, MATRICULE, DOCTOR, "normal", at=AT, by=DESK)
    store.audit.clear()
    assert dossier.show(store.uow, MATRICULE, DESK, at=AT)["merged_into"] == "1893120105733"
    # The survivor's matricule was decrypted for the operator: in the survivor's journal.
    assert [(e.actor, e.action, e.patient_id) for e in store.audit] == [
        ("operator", "dossier.read", "p1"), ("operator", "identity.read", "p2")]
    seen = dossier.show(store.uow, MATRICULE, DOCTOR, at=AT)
    assert seen["merged"] is True and "merged_into" not in seen


def test_a_granted_professional_sees_what_consent_allows_and_each_read_is_committed(store):
    choices.grant(store.uow, MATRICULE, DOCTOR, "normal", at=AT, by=DESK)
    store.audit.clear()
    document = dossier.show(store.uow, MATRICULE, DOCTOR, at=AT)
    assert [e["id"] for e in document["entries"]] == ["e1", "d1"]
    assert document["access"]["allowed"] is True and document["viewer"] == DOCTOR
    assert reads(store) == [(DOCTOR, "read", AuditOutcome.OK, "e1"),
                            (DOCTOR, "read", AuditOutcome.OK, "d1")]
    assert store.commits == 2


def test_without_consent_the_read_is_journaled_denied_and_shows_only_the_matricule(store):
    document = dossier.show(store.uow, MATRICULE, DOCTOR, at=AT)
    assert document["entries"] == [] and document["patient"] == {"matricule": MATRICULE}
    assert reads(store) == [(DOCTOR, "read", AuditOutcome.DENIED, None)]
    assert store.commits == 1


def test_an_unregistered_professional_is_refused_after_the_denial_is_committed(store):
    with pytest.raises(dossier.ReadRefused, match=f"{STRANGER} may not read dossiers: "
                       "recipient not registered"):
        dossier.show(store.uow, MATRICULE, STRANGER, at=AT)
    assert reads(store) == [(STRANGER, "read", AuditOutcome.DENIED, None)]
    assert store.commits == 1


def test_no_dossier_no_read(store):
    with pytest.raises(UnknownMatricule):
        dossier.show(store.uow, "1893120105733", DOCTOR, at=AT)
    assert store.audit == []


def test_an_operators_document_read_is_one_committed_journal_event(store):
    assert dossier.read_document(store.uow, MATRICULE, "d1", DESK, at=AT).payload == {
        "content": "Brief"}
    assert [(e.actor, e.operator, e.action, e.outcome, e.patient_id, e.entry_id, e.reason)
            for e in store.audit] == [
        ("operator", "desk-anne", "read", AuditOutcome.OK, "p1", "d1",
         "operator full view: document")]
    assert store.commits == 1
    with pytest.raises(HubError, match="entry e1 is a lab_result, not a document"):
        dossier.read_document(store.uow, MATRICULE, "e1", DESK)
    with pytest.raises(HubError, match="no entry x in this dossier"):
        dossier.read_document(store.uow, MATRICULE, "x", DESK)
    assert len(store.audit) == 1


def test_a_professionals_document_read_is_committed_allowed_or_denied(store):
    with pytest.raises(dossier.ReadRefused, match=f"{DOCTOR} may not read this document"):
        dossier.read_document(store.uow, MATRICULE, "d1", DOCTOR, at=AT)
    assert reads(store) == [(DOCTOR, "read", AuditOutcome.DENIED, "d1")]
    choices.grant(store.uow, MATRICULE, DOCTOR, "normal", at=AT, by=DESK)
    store.audit.clear()
    assert dossier.read_document(store.uow, MATRICULE, "d1", DOCTOR, at=AT).id == "d1"
    assert reads(store) == [(DOCTOR, "read", AuditOutcome.OK, "d1")]

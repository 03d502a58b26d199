"""A closed dossier's rules (hub.domain.closure) on the fake unit of work: a message filed for
it keeps its row and no content, a référent declared or ended while it is closed still counts
(and grants nothing until it is reopened), a merge with a closed side is parked naming the rule,
a grant is refused, and its erasure falls `closed_dossier_years` after the closure."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from hub.domain.audit import AuditAction
from hub.domain.closure import (
    MERGE_RULE, Closure, DossierClosed, closed_before, erasure_due, merge_parked_reason,
)
from hub.domain.models import MessageRecord, MessageState, Patient
from hub.domain.operator import Operator
from hub.domain.matricule import successor
from hub.ops import choices, dossier, patients
from hub.routing.filing import DOSSIER_CLOSED, file_batch
from hub.routing.merging import MergeAction
from hub.routing.outcome import Outcome
from hub.routing.referents import ReferentChange
from tests.fixtures.fake_uow import DOCTOR, NOW, OTHER, POLICY, FakeStore, oru, store_with_registry
from tests.fixtures.matricules import legacy_matricule
from tests.fixtures.messages import adt_a31, encoded, patient

DESK = Operator("desk-anne")


def close(store: FakeStore, n: int, at: datetime = NOW - timedelta(hours=1)) -> str:
    """Patient n's dossier, closed at `at`; its id."""
    with store.uow() as uow:
        patient_id = uow.patients.id_for(patient(n).matricule)
        uow.patients.set_closed(patient_id, True, at)
        uow.commit()
    return patient_id


def a31(n: int, *actions, message_id: str = "a31-1") -> Outcome:
    """Patient n's CNS ADT^A31 as decided: its demographics and `actions`."""
    p = patient(n)
    record = MessageRecord(message_id, "CNS^CNS", message_id, "ADT^A31", "2.5",
                           MessageState.STORED, NOW - timedelta(seconds=1))
    return Outcome(record, encoded(adt_a31(p, message_id, pd1=DOCTOR)),
                   patient=Patient(p.matricule, p.family_name, p.given_name),
                   actions=list(actions))


def file(store: FakeStore, *outcomes: Outcome) -> list[MessageState]:
    with store.uow() as uow:
        states = file_batch(uow, list(outcomes), POLICY)
        uow.commit()
    return states


def access(store: FakeStore, n: int, cns_code: str) -> tuple[bool, str]:
    read = dossier.show(store.uow, patient(n).matricule, cns_code, at=NOW)
    return read["access"]["allowed"], read["access"]["reason"]


@dataclass
class Recorded:
    """A patient action that notes it was applied (a résumé's, say: not a care relationship)."""

    applied: list = field(default_factory=list)

    def apply(self, uow, record) -> None:
        self.applied.append(record.id)


def test_a_message_for_a_closed_dossier_keeps_its_header_facts_and_no_content():
    store = store_with_registry()
    patient_id = close(store, 1)
    assert file(store, oru(1), oru(2)) == [MessageState.DISCARDED, MessageState.STORED]
    record, raw = store.messages["message-1"]
    assert raw == b"" and record.raw_kept is False  # no copy of what the patient closed
    assert (record.sender, record.control_id, record.type, record.reason, record.patient_id) == (
        "LABSYS^CHL", "LAB1", "ORU^R01", DOSSIER_CLOSED, patient_id)
    assert store.messages["message-2"][1] != b""  # an open dossier's message keeps its copy
    assert all(e.patient_id != patient_id for e in store.entries)
    assert store.patients[patient_id] == Patient(patient(1).matricule)  # no demographics


def test_an_identical_resend_keeps_no_second_copy():
    store = store_with_registry()
    file(store, oru(1))
    assert file(store, oru(1, message_id="resend")) == [MessageState.DISCARDED]
    assert store.messages["resend"][1] == b"" and store.messages["message-1"][1] != b""


def test_a_referent_declared_while_closed_is_applied_and_grants_nothing_until_reopened():
    store = store_with_registry()
    patient_id = close(store, 1)
    resume = Recorded()
    assert file(store, a31(1, ReferentChange(DOCTOR), resume)) == [MessageState.DISCARDED]
    assert [d.cns_code for d in store.referents[patient_id]] == [DOCTOR]
    assert resume.applied == []  # not a care relationship: dropped with the content
    assert store.messages["a31-1"][1] == b""
    assert [e.action for e in store.audit] == [AuditAction.MESSAGE_DISCARDED,
                                               AuditAction.REFERENT_DECLARE]
    assert access(store, 1, DOCTOR) == (False, "dossier closed")
    choices.set_closed(store.uow, patient(1).matricule, False, by=DESK)
    assert access(store, 1, DOCTOR)[0] is True


def test_a_referent_ended_while_closed_has_no_access_after_reopening():
    store = store_with_registry()
    with store.uow() as uow:
        patient_id = uow.patients.id_for(patient(1).matricule)
        uow.consents.declare_referent(patient_id, DOCTOR, NOW - timedelta(days=30), "cns-feed")
        uow.commit()
    close(store, 1)
    file(store, a31(1, ReferentChange(OTHER)))  # the CNS names another référent
    choices.set_closed(store.uow, patient(1).matricule, False, by=DESK)
    assert access(store, 1, DOCTOR)[0] is False  # the former référent
    assert access(store, 1, OTHER)[0] is True


@pytest.mark.parametrize("closed, where", [(2, "MRG-1"), (1, "PID-3")])
def test_a_merge_with_a_closed_side_is_parked_naming_the_rule_and_moves_nothing(closed, where):
    store = store_with_registry()
    file(store, oru(1), oru(2))
    close(store, closed)
    entries = [(e.id, e.patient_id) for e in store.entries]
    merge = a31(1, MergeAction(patient(1).matricule, patient(2).matricule), message_id="a40-1")
    # The fake store has no merge at all: applying one would fail this test.
    assert file(store, merge) == [MessageState.PARKED]
    record, raw = store.messages["a40-1"]
    assert record.reason == merge_parked_reason([where])
    assert f"dossier of {where} is closed" in record.reason and MERGE_RULE in record.reason
    assert raw != b""  # kept for the operator's replay once the patient reopened
    assert [(e.id, e.patient_id) for e in store.entries] == entries
    assert store.merged_into == {}


def test_a_grant_on_a_closed_dossier_is_refused_until_it_is_reopened():
    store = store_with_registry()
    patient_id = close(store, 1)
    journal = list(store.audit)
    with pytest.raises(DossierClosed, match="closed.*reopen"):
        choices.grant(store.uow, patient(1).matricule, DOCTOR, "normal", by=DESK)
    assert store.grants.get(patient_id, []) == [] and store.audit == journal
    choices.set_closed(store.uow, patient(1).matricule, False, by=DESK)
    choices.grant(store.uow, patient(1).matricule, DOCTOR, "normal", by=DESK)
    assert [g.cns_code for g in store.grants[patient_id]] == [DOCTOR]


def test_the_full_view_of_a_closed_dossier_says_when_it_is_erased():
    store = store_with_registry()
    closed_at = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
    close(store, 1, closed_at)
    shown = dossier.show(store.uow, patient(1).matricule, DESK, closed_dossier_years=10)
    assert shown["closure"] == {"closed_at": closed_at,
                                "erase_after": datetime(2036, 12, 7, 9, 30, tzinfo=UTC),
                                "erased_at": None}
    choices.set_closed(store.uow, patient(1).matricule, False, by=DESK)
    assert "closure" not in dossier.show(store.uow, patient(1).matricule, DESK)


def test_erasure_falls_the_configured_years_after_closure_and_never_with_zero():
    closed_at = datetime(2024, 2, 29, 12, 0, tzinfo=UTC)
    assert erasure_due(closed_at, 10) == datetime(2034, 2, 28, 12, 0, tzinfo=UTC)
    assert erasure_due(closed_at, 8) == datetime(2032, 2, 29, 12, 0, tzinfo=UTC)
    assert erasure_due(closed_at, 0) is None and closed_before(NOW, 0) is None
    now = datetime(2036, 12, 7, 9, 30, tzinfo=UTC)
    assert closed_before(now, 10) == datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
    assert closed_before(datetime(2036, 2, 29, tzinfo=UTC), 10) == datetime(2026, 2, 28,
                                                                             tzinfo=UTC)


def test_a_closure_is_erased_only_by_an_erasure_after_it():
    closed_at = datetime(2026, 1, 1, tzinfo=UTC)
    assert Closure(closed_at, closed_at + timedelta(days=1)).erased
    assert not Closure(closed_at, closed_at - timedelta(days=1)).erased  # an earlier closure's
    assert not Closure(closed_at).erased


def test_an_operators_legacy_link_with_a_closed_dossier_is_refused():
    store = store_with_registry()
    legacy = legacy_matricule("1893120105")
    with store.uow() as uow:
        uow.patients.set_closed(uow.patients.id_for(legacy), True)
        uow.commit()
    with pytest.raises(DossierClosed, match=MERGE_RULE):
        patients.link_legacy(store.uow, legacy, successor(legacy))
    assert store.merged_into == {} and store.audit == []

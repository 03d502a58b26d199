"""The patient's two new choices on a unit of work over dicts: the default level of new entries
(filed at the stricter of it and the source's level) and hiding one entry from one professional
(denied to them by `decide`, at read and at send time, delivered to the others)."""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from hub.domain import access
from hub.domain.audit import Actor, AuditAction
from hub.domain.consent import (
    ConsentState, EntryView, Grant, GrantLevel, Reason, Recipient, decide, stricter,
)
from hub.domain.models import Confidentiality, Entry, MessageState
from hub.domain.operator import Operator
from hub.errors import HubError
from hub.ops import choices
from hub.routing.filing import file_batch
from tests.fixtures.fake_uow import (
    DOCTOR, NOW, OTHER, POLICY, grant, oru, store_with_registry,
)
from tests.fixtures.messages import patient

N, R, S = Confidentiality.NORMAL, Confidentiality.RESTRICTED, Confidentiality.SECRET
DESK = Operator("desk-anne")
AT = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


# -- the rules ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("levels", "strictest"), [
    ((N, N), N), ((N, R), R), ((R, N), R), ((R, R), R), ((S, R), S), ((N, S), S), ((), N)])
def test_stricter_takes_the_strictest_level(levels, strictest):
    assert stricter(*levels) is strictest


def test_an_entry_hidden_from_one_professional_is_denied_to_them_only():
    state = ConsentState(grants=(Grant(DOCTOR, GrantLevel.EXTENDED, AT - timedelta(days=1)),
                                 Grant(OTHER, GrantLevel.EXTENDED, AT - timedelta(days=1))))
    entry = EntryView(N, hidden_from=frozenset({DOCTOR}))
    assert decide(entry, Recipient(DOCTOR, True), state, AT).reason == (
        Reason.ENTRY_HIDDEN_FROM_RECIPIENT)
    assert not decide(entry, Recipient(DOCTOR, True), state, AT).allowed
    assert decide(entry, Recipient(OTHER, True), state, AT).allowed
    # Hidden from everyone still says so first; hidden from one does not lift a level's rule.
    assert decide(replace(entry, hidden=True), Recipient(OTHER, True), state,
                  AT).reason == Reason.ENTRY_HIDDEN


# -- filing at the patient's default -------------------------------------------------------------

def filed_levels(store, outcome) -> list[Confidentiality]:
    with store.uow() as uow:
        assert file_batch(uow, [outcome], POLICY) == [MessageState.STORED]
        uow.commit()
    return [e.confidentiality for e in store.entries if e.message_id == outcome.record.id]


@pytest.mark.parametrize(("default", "source", "filed"), [
    (None, [N, R], [N, R]),
    ("normal", [N, R], [N, R]),
    ("restricted", [N, R], [R, R]),
    ("restricted", [S, N], [S, R]),     # the patient's default never loosens a source's level
])
def test_new_entries_are_filed_at_the_stricter_of_the_source_and_the_default(
        default, source, filed):
    store = store_with_registry()
    grant(store, 1)
    if default is not None:
        choices.set_default_level(store.uow, patient(1).matricule, default, at=NOW, by=DESK)
    outcome = oru(1)
    outcome.entries = [Entry("lab_result", {"value": i}, level)
                       for i, level in enumerate(source)]
    assert filed_levels(store, outcome) == filed
    # The outcome is left as mapped: a batch rolled back is filed again from it.
    assert [e.confidentiality for e in outcome.entries] == source


def test_a_restricted_default_keeps_new_entries_from_a_normal_grant():
    store = store_with_registry()
    grant(store, 1)  # a normal grant to DOCTOR
    choices.set_default_level(store.uow, patient(1).matricule, "restricted", at=NOW, by=DESK)
    with store.uow() as uow:
        file_batch(uow, [oru(1)], POLICY)
        uow.commit()
    assert store.deliveries == {}
    denial = [e for e in store.audit if e.action == AuditAction.DENY]
    assert denial and denial[0].reason == Reason.RESTRICTED_NEEDS_EXTENDED


def test_the_default_level_is_journaled_and_secret_is_refused():
    store = store_with_registry()
    change = choices.set_default_level(store.uow, patient(2).matricule, "restricted", at=AT,
                                       by=DESK)
    assert (change.action, change.actor, change.reason) == (
        AuditAction.CONSENT_DEFAULT_LEVEL, Actor.PATIENT, "new entries restricted")
    [event] = store.audit
    assert (event.action, event.operator, event.reason) == (
        "consent.default_level", "desk-anne", "new entries restricted")
    overview = choices.consent_overview(store.uow, patient(2).matricule, True, at=AT)
    assert overview["default_level"] == "restricted"
    with pytest.raises(HubError, match="normal, restricted"):
        choices.set_default_level(store.uow, patient(2).matricule, "secret", at=AT, by=DESK)
    assert len(store.audit) == 1


# -- hiding from one professional ----------------------------------------------------------------

def filed_entry(store) -> tuple[str, str]:
    """Patient 1's ORU filed, with normal grants to DOCTOR and OTHER; (patient id, entry id)."""
    patient_id = grant(store, 1)
    with store.uow() as uow:
        uow.consents.grant(patient_id, OTHER, "normal", None, NOW - timedelta(days=1))
        file_batch(uow, [oru(1)], POLICY)
        uow.commit()
    return patient_id, store.entries[0].id


def test_hiding_from_one_professional_denies_them_at_send_time_and_not_the_others():
    store = store_with_registry()
    patient_id, entry_id = filed_entry(store)
    change = choices.set_hidden_from(store.uow, patient(1).matricule, entry_id, DOCTOR, True,
                                     at=AT, by=DESK)
    assert (change.action, change.reason, change.entry_id) == (
        AuditAction.ENTRY_HIDE_FROM, f"from {DOCTOR}", entry_id)
    with store.uow() as uow:
        views = uow.entries.views_for_message("message-1")
        mine = access.may_receive(uow, patient_id, views, DOCTOR, NOW, True)
        theirs = access.may_receive(uow, patient_id, views, OTHER, NOW, True)
    assert (mine.allowed, mine.reason) == (False, Reason.ENTRY_HIDDEN_FROM_RECIPIENT)
    assert theirs.allowed

    choices.set_hidden_from(store.uow, patient(1).matricule, entry_id, DOCTOR, False, at=AT,
                            by=DESK)
    with store.uow() as uow:
        views = uow.entries.views_for_message("message-1")
        assert access.may_receive(uow, patient_id, views, DOCTOR, NOW, True).allowed
    assert [e.action for e in store.audit if e.entry_id == entry_id] == [
        "entry.hide_from", "entry.unhide_from"]


def test_hiding_twice_or_unhiding_what_was_not_hidden_is_refused_and_journals_nothing():
    store = store_with_registry()
    _, entry_id = filed_entry(store)
    before = len(store.audit)
    with pytest.raises(HubError, match="not hidden from"):
        choices.set_hidden_from(store.uow, patient(1).matricule, entry_id, DOCTOR, False,
                                at=AT, by=DESK)
    choices.set_hidden_from(store.uow, patient(1).matricule, entry_id, DOCTOR, True, at=AT,
                            by=DESK)
    with pytest.raises(HubError, match="already hidden from"):
        choices.set_hidden_from(store.uow, patient(1).matricule, entry_id, DOCTOR, True,
                                at=AT, by=DESK)
    with pytest.raises(HubError):
        choices.set_hidden_from(store.uow, patient(1).matricule, "no-such-entry", DOCTOR, True,
                                at=AT, by=DESK)
    assert len(store.audit) == before + 1

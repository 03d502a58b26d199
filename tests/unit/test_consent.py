"""The consent decision, rule by rule, on examples."""
from datetime import UTC, datetime, timedelta

import pytest

from hub.domain.consent import (
    ConsentState, Decision, EntryView, Grant, GrantLevel, Reason, Recipient, ReferentDeclaration,
    decide,
)
from hub.domain.models import Confidentiality

T0 = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
DAY = timedelta(days=1)
DOCTOR = Recipient("123456-78", active=True)
OTHER = Recipient("876543-21", active=True)
NORMAL = EntryView(Confidentiality.NORMAL)
RESTRICTED = EntryView(Confidentiality.RESTRICTED)
SECRET = EntryView(Confidentiality.SECRET)


def grant(level="normal", *, cns=DOCTOR.cns_code, at=T0, until=None, revoked=None) -> Grant:
    return Grant(cns, GrantLevel(level), at, until, revoked)


def state(*grants, **changes) -> ConsentState:
    return ConsentState(grants=tuple(grants), **changes)


def test_nothing_is_allowed_without_any_consent():
    assert decide(NORMAL, DOCTOR, state(), T0) == Decision(False, "no grant in force")


def test_a_grant_in_force_allows_a_normal_entry_from_the_instant_it_is_given():
    consent = state(grant())
    assert decide(NORMAL, DOCTOR, consent, T0) == Decision(True, "grant in force")
    assert decide(NORMAL, DOCTOR, consent, T0 + 400 * DAY).allowed
    assert decide(NORMAL, DOCTOR, consent, T0 - timedelta(microseconds=1)) == Decision(
        False, "no grant in force")


def test_a_grant_is_for_its_professional_only():
    assert decide(NORMAL, OTHER, state(grant()), T0) == Decision(False, "no grant in force")


def test_revocation_denies_from_the_instant_it_happens():
    consent = state(grant(revoked=T0 + DAY))
    assert decide(NORMAL, DOCTOR, consent, T0 + DAY - timedelta(seconds=1)).allowed
    assert decide(NORMAL, DOCTOR, consent, T0 + DAY) == Decision(False, "grant revoked")


def test_a_grant_expires_at_its_end():
    consent = state(grant(until=T0 + 30 * DAY))
    assert decide(NORMAL, DOCTOR, consent, T0 + 29 * DAY).allowed
    assert decide(NORMAL, DOCTOR, consent, T0 + 30 * DAY) == Decision(False, "grant expired")


def test_a_new_grant_after_a_revocation_allows_again_and_the_latest_explains_a_denial():
    consent = state(grant(revoked=T0 + DAY), grant(at=T0 + 2 * DAY, until=T0 + 3 * DAY))
    assert decide(NORMAL, DOCTOR, consent, T0 + DAY).reason == "grant revoked"
    assert decide(NORMAL, DOCTOR, consent, T0 + 2 * DAY).allowed
    assert decide(NORMAL, DOCTOR, consent, T0 + 3 * DAY).reason == "grant expired"


def test_a_restricted_entry_needs_an_extended_grant():
    assert decide(RESTRICTED, DOCTOR, state(grant("normal")), T0) == Decision(
        False, "restricted needs extended grant")
    assert decide(RESTRICTED, DOCTOR, state(grant("extended")), T0) == Decision(
        True, "grant in force")
    assert decide(RESTRICTED, DOCTOR, state(grant("extended", revoked=T0)), T0).reason == \
        "grant revoked"
    assert decide(RESTRICTED, DOCTOR, state(), T0).reason == "no grant in force"


def test_an_extended_grant_covers_normal_entries_too():
    assert decide(NORMAL, DOCTOR, state(grant("extended")), T0).allowed


@pytest.mark.parametrize("entry, reason", [
    (SECRET, "entry secret"),
    (EntryView(Confidentiality.NORMAL, hidden=True), "entry hidden"),
    (EntryView(Confidentiality.RESTRICTED, hidden=True), "entry hidden"),
])
def test_hidden_and_secret_entries_go_to_nobody_even_with_an_extended_grant(entry, reason):
    consent = state(grant("extended"), referent=ReferentDeclaration(DOCTOR.cns_code, T0))
    assert decide(entry, DOCTOR, consent, T0) == Decision(False, reason)


def test_a_closed_dossier_allows_nothing():
    consent = state(grant("extended"), closed=True)
    assert decide(NORMAL, DOCTOR, consent, T0) == Decision(False, "dossier closed")


def test_an_inactive_recipient_gets_nothing_whatever_the_grant():
    suspended = Recipient(DOCTOR.cns_code, active=False)
    assert decide(NORMAL, suspended, state(grant("extended")), T0) == Decision(
        False, "recipient not active")


def test_the_referent_sees_normal_entries_while_the_declaration_holds():
    consent = state(referent=ReferentDeclaration(DOCTOR.cns_code, T0, until=T0 + 90 * DAY))
    assert decide(NORMAL, DOCTOR, consent, T0) == Decision(True, "référent declaration in force")
    assert decide(NORMAL, DOCTOR, consent, T0 - DAY).reason == "no grant in force"
    assert decide(NORMAL, DOCTOR, consent, T0 + 90 * DAY).reason == "no grant in force"
    assert decide(NORMAL, OTHER, consent, T0).reason == "no grant in force"


def test_the_referent_rule_does_not_reach_restricted_entries_and_says_so():
    consent = state(referent=ReferentDeclaration(DOCTOR.cns_code, T0))
    # The référent may read normal entries: what refuses this one is the restricted rule.
    assert decide(RESTRICTED, DOCTOR, consent, T0) == Decision(
        False, "restricted needs extended grant")
    assert decide(RESTRICTED, OTHER, consent, T0).reason == "no grant in force"
    blocked = state(referent=ReferentDeclaration(DOCTOR.cns_code, T0), referent_blocked=True)
    assert decide(RESTRICTED, DOCTOR, blocked, T0).reason == "no grant in force"


def test_a_blocked_referent_sees_nothing_by_the_declaration_but_a_grant_still_counts():
    declared = ReferentDeclaration(DOCTOR.cns_code, T0)
    consent = state(referent=declared, referent_blocked=True)
    assert decide(NORMAL, DOCTOR, consent, T0) == Decision(False, "référent blocked by patient")
    assert decide(NORMAL, DOCTOR, state(grant(), referent=declared, referent_blocked=True),
                  T0).allowed


def test_with_the_policy_switch_off_the_referent_needs_a_grant():
    consent = state(referent=ReferentDeclaration(DOCTOR.cns_code, T0),
                    referent_access_by_default=False)
    assert decide(NORMAL, DOCTOR, consent, T0) == Decision(False, "no grant in force")


def test_closing_wins_over_every_other_reason():
    consent = state(closed=True)
    assert decide(SECRET, Recipient("x", active=False), consent, T0).reason == "dossier closed"


def test_reasons_are_plain_strings_for_metric_labels():
    decision = decide(NORMAL, DOCTOR, state(), T0)
    assert isinstance(decision.reason, str) and str(decision.reason) == "no grant in force"
    assert {str(r) for r in Reason} >= {"dossier closed", "grant revoked", "grant expired",
                                        "entry hidden", "entry secret", "recipient not active"}


def test_naive_times_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        Grant(DOCTOR.cns_code, GrantLevel.NORMAL, datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(NORMAL, DOCTOR, state(), datetime(2024, 1, 1))


def test_a_grant_level_is_normal_or_extended():
    assert Grant(DOCTOR.cns_code, "extended", T0).level is GrantLevel.EXTENDED
    with pytest.raises(ValueError):
        Grant(DOCTOR.cns_code, "full", T0)

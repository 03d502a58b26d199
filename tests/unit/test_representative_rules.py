"""The representative rules (hub.domain.representative): when one acts, for what, and how a
change they made names them in the audit reason."""
from datetime import UTC, datetime, timedelta

import pytest

from hub.domain.audit import Actor, AuditEvent, validate_event
from hub.domain.representative import (
    EndReason, Representative, RepresentativeKind, Scope, acting_reason, format_scopes,
    parse_scopes, representative_in,
)

T0 = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
MAJORITY = datetime(2026, 5, 11, 22, 0, tzinfo=UTC)   # born 12 May 2008
REP_ID = "0123456789abcdef0123456789abcdef"


def rep(kind=RepresentativeKind.PARENT, scopes=frozenset({Scope.CONSENT, Scope.READ}),
        since=T0, until=None, end_reason=None):
    return Representative(REP_ID, "p" * 32, kind, "Marie Muller", scopes, since, until,
                          end_reason)


def test_a_parent_acts_from_since_until_the_patients_majority():
    parent = rep()
    assert parent.refusal(T0 - timedelta(seconds=1), MAJORITY) is not None   # not yet
    assert parent.in_force(T0, MAJORITY)
    assert parent.in_force(MAJORITY - timedelta(microseconds=1), MAJORITY)
    why = parent.refusal(MAJORITY, MAJORITY, Scope.CONSENT)
    assert why is not None and "of age" in why
    assert parent.end_at(MAJORITY) == MAJORITY


def test_a_guardian_and_an_assistant_are_not_ended_by_majority():
    for kind in (RepresentativeKind.GUARDIAN, RepresentativeKind.ASSISTANT):
        later = MAJORITY + timedelta(days=3650)
        assert rep(kind).in_force(later, MAJORITY)
        assert rep(kind).end_at(MAJORITY) is None


def test_an_own_end_before_majority_counts_first():
    ended_at = T0 + timedelta(days=30)
    parent = rep(until=ended_at, end_reason=EndReason.ENDED)
    assert parent.end_at(MAJORITY) == ended_at
    why = parent.refusal(ended_at, MAJORITY)
    assert why is not None and "ended on" in why
    assert parent.in_force(ended_at - timedelta(seconds=1), MAJORITY)


def test_a_guardian_with_a_term_ends_at_its_term():
    term = MAJORITY + timedelta(days=400)
    guardian = rep(RepresentativeKind.GUARDIAN, until=term)
    assert guardian.in_force(term - timedelta(seconds=1), MAJORITY)
    assert not guardian.in_force(term, MAJORITY)


def test_the_consent_scope_is_needed_for_a_consent_change():
    reader = rep(RepresentativeKind.ASSISTANT, scopes=frozenset({Scope.READ}))
    assert reader.in_force(T0, None)
    why = reader.refusal(T0, None, Scope.CONSENT)
    assert why is not None and "may not act for consent" in why
    assert reader.refusal(T0, None, Scope.READ) is None


def test_a_parent_without_a_known_majority_is_not_ended_by_it():
    assert rep().in_force(T0 + timedelta(days=10000), None)


def test_scopes_parse_and_print_in_a_fixed_order():
    assert parse_scopes("read, consent") == {Scope.CONSENT, Scope.READ}
    assert format_scopes(frozenset({Scope.READ, Scope.CONSENT})) == "consent,read"
    for bad in ("", " , ", "consent,write"):
        with pytest.raises(ValueError):
            parse_scopes(bad)


def test_the_reason_names_the_representative_by_id_and_reads_back():
    reason = acting_reason("normal access to 123456-78", REP_ID)
    assert representative_in(reason) == REP_ID
    assert representative_in("normal access to 123456-78") is None
    assert acting_reason("", REP_ID) == f"by representative {REP_ID}"   # a close, a hide
    assert representative_in(acting_reason("", REP_ID)) == REP_ID
    assert representative_in(f"xby representative {REP_ID}") is None
    # A valid audit event: no name, no matricule-like number, actor "representative".
    validate_event(AuditEvent(actor=Actor.REPRESENTATIVE, action="consent.grant",
                              reason=reason))

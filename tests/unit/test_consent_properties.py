"""Properties of the consent decision over generated grants, revocations, expiries, levels,
hidden and secret entries, closed dossiers and référent declarations.

Times are drawn from a small grid so that boundaries (revoked exactly at the instant asked,
expiring exactly then) come up often. The oracle `_in_force` is written out here rather than
taken from the code under test.
"""
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.domain.consent import (
    ConsentState, EntryView, Grant, GrantLevel, Reason, Recipient, ReferentDeclaration, decide,
)
from hub.domain.models import Confidentiality

T0 = datetime(2024, 1, 1, tzinfo=UTC)
CODES = ("111111-11", "222222-22", "333333-33")

instants = st.integers(min_value=0, max_value=20).map(lambda n: T0 + timedelta(hours=n))
maybe_instants = st.none() | instants
codes = st.sampled_from(CODES)
levels = st.sampled_from(list(GrantLevel))
grants = st.builds(Grant, cns_code=codes, level=levels, granted_at=instants,
                   until=maybe_instants, revoked_at=maybe_instants)
referents = st.none() | st.builds(ReferentDeclaration, cns_code=codes, since=instants,
                                  until=maybe_instants)
states = st.builds(
    ConsentState, closed=st.booleans(), grants=st.lists(grants, max_size=5).map(tuple),
    referent=referents, referent_blocked=st.booleans(), referent_access_by_default=st.booleans())
entries = st.builds(EntryView, confidentiality=st.sampled_from(list(Confidentiality)),
                    hidden=st.booleans())
recipients = st.builds(Recipient, cns_code=codes, active=st.booleans())
visible = st.builds(EntryView, confidentiality=st.sampled_from(
    [Confidentiality.NORMAL, Confidentiality.RESTRICTED]), hidden=st.just(False))
active = st.builds(Recipient, cns_code=codes, active=st.just(True))
open_states = states.map(lambda s: replace(s, closed=False))


def _in_force(grant: Grant, at: datetime) -> bool:
    return (grant.granted_at <= at and (grant.revoked_at is None or at < grant.revoked_at)
            and (grant.until is None or at < grant.until))


def _grant_in_force(state, recipient, at, *, extended=False) -> bool:
    return any(g.cns_code == recipient.cns_code and _in_force(g, at)
               and (not extended or g.level == GrantLevel.EXTENDED) for g in state.grants)


def _referent_in_force(state, recipient, at) -> bool:
    r = state.referent
    return (r is not None and r.cns_code == recipient.cns_code and r.since <= at
            and (r.until is None or at < r.until))


@settings(max_examples=500)
@given(entries, recipients, states, instants)
def test_no_allow_without_a_grant_in_force_or_a_referent_declaration_in_force(
        entry, recipient, state, at):
    decision = decide(entry, recipient, state, at)
    if not _grant_in_force(state, recipient, at) and not _referent_in_force(state, recipient, at):
        assert not decision.allowed


@settings(max_examples=500)
@given(entries, recipients, states, instants)
def test_every_allow_has_all_its_conditions(entry, recipient, state, at):
    decision = decide(entry, recipient, state, at)
    if not decision.allowed:
        return
    assert not state.closed and recipient.active and not entry.hidden
    assert entry.confidentiality != Confidentiality.SECRET
    if entry.confidentiality == Confidentiality.RESTRICTED:
        assert _grant_in_force(state, recipient, at, extended=True)
        assert decision.reason == Reason.GRANT_IN_FORCE
    elif decision.reason == Reason.REFERENT_IN_FORCE:
        assert _referent_in_force(state, recipient, at)
        assert state.referent_access_by_default and not state.referent_blocked
    else:
        assert decision.reason == Reason.GRANT_IN_FORCE
        assert _grant_in_force(state, recipient, at)


@given(entries, recipients, states, instants)
def test_a_closed_dossier_always_denies(entry, recipient, state, at):
    decision = decide(entry, recipient, replace(state, closed=True), at)
    assert not decision.allowed and decision.reason == Reason.DOSSIER_CLOSED


@given(recipients, open_states, instants, st.booleans())
def test_a_hidden_entry_always_denies(recipient, state, at, restricted):
    level = Confidentiality.RESTRICTED if restricted else Confidentiality.NORMAL
    assert not decide(EntryView(level, hidden=True), recipient, state, at).allowed


@given(recipients, states, instants, st.booleans())
def test_a_secret_entry_always_denies(recipient, state, at, hidden):
    assert not decide(EntryView(Confidentiality.SECRET, hidden), recipient, state, at).allowed


@given(entries, st.builds(Recipient, cns_code=codes, active=st.just(False)), states, instants)
def test_an_inactive_recipient_always_gets_nothing(entry, recipient, state, at):
    assert not decide(entry, recipient, state, at).allowed


@settings(max_examples=300)
@given(visible, active, open_states, instants, st.integers(0, 20), st.booleans())
def test_after_a_revocation_or_expiry_only_the_referent_rule_can_still_allow(
        entry, recipient, state, at, end_hours, by_revocation):
    end = T0 + timedelta(hours=end_hours)

    def ended(g: Grant) -> Grant:
        if g.cns_code != recipient.cns_code:
            return g
        if by_revocation:
            return replace(g, revoked_at=min(g.revoked_at or end, end))
        return replace(g, until=min(g.until or end, end))

    after = replace(state, grants=tuple(ended(g) for g in state.grants))
    decision = decide(entry, recipient, after, max(at, end))
    assert not decision.allowed or decision.reason == Reason.REFERENT_IN_FORCE
    # without a référent declaration, always a denial
    alone = replace(after, referent=None)
    assert not decide(entry, recipient, alone, max(at, end)).allowed


@settings(max_examples=300)
@given(entries, active, open_states, instants)
def test_extended_grants_allow_everything_normal_ones_do(entry, recipient, state, at):
    upgraded = replace(state, grants=tuple(replace(g, level=GrantLevel.EXTENDED)
                                           for g in state.grants))
    if decide(entry, recipient, state, at).allowed:
        assert decide(entry, recipient, upgraded, at).allowed


@given(active, states, instants, st.booleans())
def test_whoever_may_see_a_restricted_entry_may_see_a_normal_one(recipient, state, at, hidden):
    if decide(EntryView(Confidentiality.RESTRICTED, hidden), recipient, state, at).allowed:
        assert decide(EntryView(Confidentiality.NORMAL, hidden), recipient, state, at).allowed


@given(entries, recipients, states, instants, grants)
def test_adding_a_grant_never_takes_access_away(entry, recipient, state, at, extra):
    if decide(entry, recipient, state, at).allowed:
        more = replace(state, grants=state.grants + (extra,))
        assert decide(entry, recipient, more, at).allowed


@settings(max_examples=300)
@given(active, open_states, instants, st.integers(0, 20), st.none() | st.integers(1, 20),
       st.booleans(), st.booleans())
def test_the_referent_rule_alone_allows_a_normal_entry_exactly_when_unblocked_and_switched_on(
        recipient, state, at, since_hours, length_hours, blocked, switch):
    since = T0 + timedelta(hours=since_hours)
    until = None if length_hours is None else since + timedelta(hours=length_hours)
    declared = ReferentDeclaration(recipient.cns_code, since, until)
    holds = since <= at and (until is None or at < until)
    others = tuple(g for g in state.grants if g.cns_code != recipient.cns_code)
    consent = replace(state, grants=others, referent=declared, referent_blocked=blocked,
                      referent_access_by_default=switch)
    decision = decide(EntryView(Confidentiality.NORMAL), recipient, consent, at)
    assert decision.allowed == (holds and switch and not blocked)
    if holds and switch and blocked:
        assert decision.reason == Reason.REFERENT_BLOCKED
    # and never a restricted entry, whatever the declaration
    assert not decide(EntryView(Confidentiality.RESTRICTED), recipient, consent, at).allowed
    # a declaration for someone else gives this recipient nothing
    elsewhere = replace(consent, referent=replace(declared, cns_code="999999-99"))
    assert not decide(EntryView(Confidentiality.NORMAL), recipient, elsewhere, at).allowed


@given(entries, recipients, states, instants)
def test_blocking_the_referent_or_switching_the_policy_off_never_gives_access(
        entry, recipient, state, at):
    for stricter in (replace(state, referent_blocked=True),
                     replace(state, referent_access_by_default=False)):
        if decide(entry, recipient, stricter, at).allowed:
            assert decide(entry, recipient, state, at).allowed


@settings(max_examples=300)
@given(entries, recipients, states, instants, st.randoms(use_true_random=False),
       st.lists(grants, max_size=3))
def test_decisions_are_deterministic_and_ignore_grant_order_and_other_professionals(
        entry, recipient, state, at, random, others):
    first = decide(entry, recipient, state, at)
    assert decide(entry, recipient, state, at) == first
    shuffled = list(state.grants)
    random.shuffle(shuffled)
    assert decide(entry, recipient, replace(state, grants=tuple(shuffled)), at) == first
    strangers = tuple(g for g in others if g.cns_code != recipient.cns_code)
    assert decide(entry, recipient, replace(state, grants=state.grants + strangers), at) == first


@given(entries, recipients, states, instants)
def test_every_reason_is_a_known_label(entry, recipient, state, at):
    assert decide(entry, recipient, state, at).reason in {str(r) for r in Reason}

"""Who may receive or read what, asked of the store: one place that gathers what the pure
`hub.domain.consent.decide` needs (the registry's status of the professional, the patient's
consent state, the entries' levels) so that routing, the send-time re-check and
`hub dossier show --as` ask exactly the same question.

A message goes out whole, so a delivery is allowed only when every entry of its message is:
the first entry denied gives the reason. A message that made no entry is judged as one normal
entry (the dossier's own consent still applies).
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from hub.domain.consent import ConsentState, Decision, EntryView, Reason, Recipient, decide
from hub.domain.delivery import Delivery
from hub.domain.models import Confidentiality
from hub.domain.ports import UnitOfWork
from hub.domain.professional import Professional

NOT_REGISTERED = "recipient not registered"
_ANY_ENTRY = (EntryView(Confidentiality.NORMAL),)


def recipient(uow: UnitOfWork, cns_code: str) -> tuple[Recipient, bool]:
    """The registry's view of `cns_code` (active only when registered and not suspended), and
    whether it is registered at all."""
    return as_recipient(cns_code, uow.professionals.get(cns_code))


def as_recipient(cns_code: str, professional: Professional | None) -> tuple[Recipient, bool]:
    """`recipient` for a professional already read from the registry (None: not registered)."""
    if professional is None:
        return Recipient(cns_code, False), False
    return Recipient(cns_code, professional.active), True


def consent_state(uow: UnitOfWork, patient_id: str, at: datetime,
                  referent_by_default: bool) -> ConsentState:
    """The patient's consent state at `at`."""
    return uow.consents.state(patient_id, at, referent_by_default)


def decide_all(views: Iterable[EntryView], who: Recipient, state: ConsentState,
               at: datetime) -> Decision:
    """Allow only when every entry is allowed; the first denial otherwise. `decide` is asked
    once per distinct view: a message's entries mostly look alike to consent (ten results of
    one lab report), and its answer depends on nothing else. An entry given the same view
    object as the entry before it is passed over at once (the store shares them)."""
    decided: dict[EntryView, Decision] = {}
    last = None
    for view in tuple(views) or _ANY_ENTRY:
        if view is last:  # the very view of the entry before, which was allowed
            continue
        last = view
        found = decided.get(view)
        if found is None:
            found = decided[view] = decide(view, who, state, at)
        decision = found
        if not decision.allowed:
            return decision
    return decision  # the last allow: there is at least one view (_ANY_ENTRY)


def may_receive(uow: UnitOfWork, patient_id: str, views: Iterable[EntryView], cns_code: str,
                at: datetime, referent_by_default: bool) -> Decision:
    """Whether the professional `cns_code` may receive a message whose entries are `views`."""
    state = consent_state(uow, patient_id, at, referent_by_default)
    return may_receive_as(uow.professionals.get(cns_code), cns_code, views, state, at)


def may_receive_as(professional: Professional | None, cns_code: str,
                   views: Iterable[EntryView], state: ConsentState, at: datetime) -> Decision:
    """`may_receive` with the registry's record of `cns_code` (None: not registered) and the
    patient's consent state already read: routing holds both for a whole message. An inactive
    recipient the registry does not know at all is denied as not registered."""
    who, registered = as_recipient(cns_code, professional)
    decision = decide_all(views, who, state, at)
    if not registered and decision.reason == Reason.RECIPIENT_NOT_ACTIVE:
        return Decision(False, NOT_REGISTERED)
    return decision


def delivery_decision(uow: UnitOfWork, delivery: Delivery, at: datetime,
                      referent_by_default: bool,
                      views: Iterable[EntryView] | None = None) -> Decision:
    """The send-time re-check of one delivery: its message's entries as they stand now
    (hidden or re-graded since routing), the consent state now, the registry now. `views`,
    when given, are those entries as just read for a whole batch
    (`DeliveryRepository.entry_views`)."""
    if views is None:
        views = uow.entries.views_for_message(delivery.message_id)
    return may_receive(uow, delivery.patient_id, views, delivery.recipient, at,
                       referent_by_default)

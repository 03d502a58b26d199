"""Routing a stored message to its recipients, inside the worker's transaction.

Each candidate the routing rules named goes through the patient's consent at the instant of
filing. An allowed recipient with an MLLP destination gets a delivery: the message re-addressed
to it, queued behind the patient's earlier ones for that destination. A denied one gets an
audit event with the reason, in the same transaction, so the patient's journal says who was
kept out and why. Nothing is queued without an allow, and the dispatcher asks again before it
sends.

The rows of a batch are written together: `route_message` keeps its deliveries and audit events
in the batch's `BatchLookups`, and `queue_routed` writes them with one statement each, in the
order they were decided.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime

from hub.domain.audit import Actor, AuditAction, AuditEvent, AuditOutcome
from hub.domain.consent import EntryView, Reason, Recipient
from hub.domain.delivery import destination_key
from hub.domain.professional import validate_cns_code
from hub.errors import HL7Error, InvalidCnsCode
from hub.outbound.readdress import new_control_id, readdress
from hub.domain.access import NOT_REGISTERED, decide_all
from hub.routing.batch_lookups import BatchLookups
from hub.routing.routes import REFERENT, Candidate

NOT_A_CNS_CODE = "recipient id is not a CNS code"


def route_message(lookups: BatchLookups, *, patient_id: str, message_id: str, raw: bytes,
                  candidates: list[Candidate], views: list[EntryView], entry_ids: list[str],
                  policy) -> Counter:
    """Queue deliveries for the allowed candidates and audit the denied ones, in the batch's
    transaction (not committed), as consent stands at the batch's instant, once
    `queue_routed(lookups)` has written them. Returns counts by outcome ("queued", "no
    destination", or a denial reason) for metrics. Each decision is also noted in
    `lookups.routed` (a `Routed`), for the worker to count and log once the batch committed."""
    counts: Counter = Counter()
    if not candidates:
        return counts
    at = lookups.at
    state = lookups.consent(patient_id)
    entry_id = entry_ids[0] if len(entry_ids) == 1 else None
    seen: set[str] = set()
    for candidate in candidates:
        code = _code(candidate, state)
        if code is None or code in seen:
            continue
        seen.add(code)
        actor, code_error = _actor(code)
        if code_error:
            _deny(lookups, actor, f"{NOT_A_CNS_CODE} ({candidate.source})", patient_id,
                  message_id, entry_id, at)
            counts[NOT_A_CNS_CODE] += 1
            lookups.routed.append(Routed(message_id, None, "denied", NOT_A_CNS_CODE))
            continue
        professional = lookups.professional(code)
        who = Recipient(code, professional is not None and professional.active)
        decision = decide_all(views, who, state, at)
        if not decision.allowed:
            reason = (NOT_REGISTERED if professional is None
                      and decision.reason == Reason.RECIPIENT_NOT_ACTIVE else decision.reason)
            _deny(lookups, code, str(reason), patient_id, message_id, entry_id, at)
            counts[str(reason)] += 1
            lookups.routed.append(Routed(message_id, code, "denied", str(reason)))
            continue
        if professional.destination is None:  # may read the dossier; nothing to push to
            counts["no destination"] += 1
            lookups.routed.append(Routed(message_id, code, "no_destination"))
            continue
        outcome, queued = _queue(lookups, professional, raw, patient_id, message_id, entry_id,
                                 at, policy)
        counts[outcome] += 1
        lookups.routed.append(Routed(message_id, code, "queued" if queued else "cannot_readdress"))
    return counts


@dataclass(frozen=True)
class Routed:
    """One recipient decision of routing: ids and codes only, for metrics and the log."""

    message_id: str
    recipient: str | None
    outcome: str                  # queued, denied, no_destination, cannot_readdress,
                                  # already_queued (the message had one to this recipient)
    reason: str | None = None     # the consent reason of a denial
    destination: str | None = None
    delivery_id: str | None = None


def _code(candidate: Candidate, state) -> str | None:
    """The CNS code a candidate stands for; the référent's comes from the declaration in force."""
    if candidate.role != REFERENT:
        return candidate.cns_code
    return state.referent.cns_code if state.referent is not None else None


def _actor(code: str) -> tuple[str, bool]:
    try:
        return validate_cns_code(code), False
    except InvalidCnsCode:
        return Actor.HUB.value, True


def _queue(lookups: BatchLookups, professional, raw: bytes, patient_id: str, message_id: str,
           entry_id: str | None, at: datetime, policy) -> tuple[str, bool]:
    destination = professional.destination
    control_id = new_control_id()
    try:
        payload = readdress(raw, control_id=control_id,
                            receiving_application=destination.receiving_application,
                            receiving_facility=destination.receiving_facility,
                            sending_application=policy.hub_application,
                            sending_facility=policy.hub_facility)
    except HL7Error as exc:  # our own words: names fields, never values
        lookups.audit.append(AuditEvent(
            actor=professional.cns_code, action=AuditAction.DELIVER,
            outcome=AuditOutcome.FAILED, reason=f"cannot re-address: {exc}",
            patient_id=patient_id, message_id=message_id, entry_id=entry_id, at=at))
        return "cannot re-address", False
    lookups.deliveries.append(dict(
        message_id=message_id, patient_id=patient_id, recipient=professional.cns_code,
        destination=destination_key(destination.host, destination.port),
        control_id=control_id, payload=payload, entry_id=entry_id))
    return "queued", True


def queue_routed(lookups: BatchLookups) -> None:
    """Write what `route_message` decided since the last call: the deliveries (numbered in
    their queues in the order they were routed) and the audit events; `lookups.routed` gets
    the delivery ids."""
    if lookups.deliveries:
        added = {(d.message_id, d.recipient): d
                 for d in lookups.uow.deliveries.add_many(lookups.deliveries, lookups.at)}
        for n, routed in enumerate(lookups.routed):
            if routed.outcome == "queued" and routed.delivery_id is None:
                delivery = added.get((routed.message_id, routed.recipient))
                if delivery is None:  # the message had one to this recipient already
                    lookups.routed[n] = replace(routed, outcome="already_queued")
                    continue
                lookups.routed[n] = replace(routed, destination=delivery.destination,
                                            delivery_id=delivery.id)
        lookups.deliveries = []
    if lookups.audit:
        lookups.uow.audit.record_many(lookups.audit)
        lookups.audit = []


def _deny(lookups: BatchLookups, actor: str, reason: str, patient_id: str, message_id: str,
          entry_id: str | None, at: datetime) -> None:
    lookups.audit.append(AuditEvent(actor=actor, action=AuditAction.DENY,
                                    outcome=AuditOutcome.DENIED, reason=reason,
                                    patient_id=patient_id, message_id=message_id,
                                    entry_id=entry_id, at=at))

"""Routing a stored message to its recipients, inside the worker's transaction.

Each candidate the routing rules named goes through the patient's consent at the instant of
filing. An allowed recipient with an MLLP destination gets a delivery: the message re-addressed
to it, queued behind the patient's earlier ones for that destination. A denied one gets an
audit event with the reason, in the same transaction, so the patient's journal says who was
kept out and why. Nothing is queued without an allow, and the dispatcher asks again before it
sends.

The rows of a batch are written together: `route_message` keeps its deliveries in the batch's
`RoutedBatch`, and `queue_routed` writes them with one statement, in the order they were
decided; audit events go to `uow.audit.record`, which appends them in order at the commit.
Consent and the registry are asked of the unit of work, which reads each once per transaction.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from hub.domain.access import may_receive_as
from hub.domain.audit import Actor, AuditAction, AuditEvent, AuditOutcome
from hub.domain.consent import ConsentState, EntryView
from hub.domain.delivery import destination_key
from hub.domain.ports import UnitOfWork
from hub.domain.professional import Destination, validate_cns_code
from hub.errors import HL7Error, InvalidCnsCode
from hub.outbound.readdress import new_control_id, readdress
from hub.routing.routes import REFERENT, Candidate

NOT_A_CNS_CODE = "recipient id is not a CNS code"


@dataclass
class RoutedBatch:
    """One worker batch's routing, in its unit of work at its instant `at`: the decisions made
    (`routed`, counted and logged by the worker after the commit) and the deliveries decided
    that `queue_routed` has not written yet (DeliveryRepository.add_many's items)."""

    uow: UnitOfWork
    at: datetime
    referent_by_default: bool
    routed: list[Routed] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    # Messages filing parked although they were read well (id -> reason), for the worker's log.
    parked: dict[str, str] = field(default_factory=dict)

    def consent(self, patient_id: str) -> ConsentState:
        """The patient's consent state (closed flag included) at the batch's instant."""
        return self.uow.consents.state(patient_id, self.at, self.referent_by_default)


def route_message(batch: RoutedBatch, *, patient_id: str, message_id: str, raw: bytes,
                  candidates: list[Candidate], views: list[EntryView], entry_ids: list[str],
                  policy: Any) -> Counter[str]:
    """Queue deliveries for the allowed candidates and audit the denied ones, in the batch's
    transaction (not committed), as consent stands at the batch's instant, once
    `queue_routed(batch)` has written them. Returns counts by outcome ("queued", "no
    destination", or a denial reason) for metrics. Each decision is also noted in
    `batch.routed` (a `Routed`), for the worker to count and log once the batch committed."""
    counts: Counter[str] = Counter()
    if not candidates:
        return counts
    at = batch.at
    state = batch.consent(patient_id)
    entry_id = entry_ids[0] if len(entry_ids) == 1 else None
    seen: set[str] = set()
    for candidate in candidates:
        code = _code(candidate, state)
        if code is None or code in seen:
            continue
        seen.add(code)
        actor, code_error = _actor(code)
        if code_error:
            _deny(batch, actor, f"{NOT_A_CNS_CODE} ({candidate.source})", patient_id,
                  message_id, entry_id, at)
            counts[NOT_A_CNS_CODE] += 1
            batch.routed.append(Routed(message_id, None, "denied", NOT_A_CNS_CODE))
            continue
        professional = batch.uow.professionals.get(code)
        decision = may_receive_as(professional, code, views, state, at)
        if not decision.allowed or professional is None:
            reason = str(decision.reason)
            _deny(batch, code, reason, patient_id, message_id, entry_id, at)
            counts[reason] += 1
            batch.routed.append(Routed(message_id, code, "denied", reason))
            continue
        destination = professional.destination
        if destination is None:  # may read the dossier; nothing to push to
            counts["no destination"] += 1
            batch.routed.append(Routed(message_id, code, "no_destination"))
            continue
        outcome, queued = _queue(batch, code, destination, raw, patient_id, message_id, entry_id,
                                 at, policy)
        counts[outcome] += 1
        batch.routed.append(Routed(message_id, code, "queued" if queued else "cannot_readdress"))
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


def _code(candidate: Candidate, state: ConsentState) -> str | None:
    """The CNS code a candidate stands for; the référent's comes from the declaration in force."""
    if candidate.role != REFERENT:
        return candidate.cns_code
    return state.referent.cns_code if state.referent is not None else None


def _actor(code: str) -> tuple[str, bool]:
    try:
        return validate_cns_code(code), False
    except InvalidCnsCode:
        return Actor.HUB.value, True


def _queue(batch: RoutedBatch, cns_code: str, destination: Destination, raw: bytes,
           patient_id: str, message_id: str, entry_id: str | None, at: datetime,
           policy: Any) -> tuple[str, bool]:
    control_id = new_control_id()
    try:
        payload = readdress(raw, control_id=control_id,
                            receiving_application=destination.receiving_application,
                            receiving_facility=destination.receiving_facility,
                            sending_application=policy.hub_application,
                            sending_facility=policy.hub_facility)
    except HL7Error as exc:  # our own words: names fields, never values
        batch.uow.audit.record(AuditEvent(
            actor=cns_code, action=AuditAction.DELIVER,
            outcome=AuditOutcome.FAILED, reason=f"cannot re-address: {exc}",
            patient_id=patient_id, message_id=message_id, entry_id=entry_id, at=at))
        return "cannot re-address", False
    batch.deliveries.append(dict(
        message_id=message_id, patient_id=patient_id, recipient=cns_code,
        destination=destination_key(destination.host, destination.port),
        control_id=control_id, payload=payload, entry_id=entry_id))
    return "queued", True


def queue_routed(batch: RoutedBatch) -> None:
    """Write the deliveries `route_message` decided since the last call, numbered in their
    queues in the order they were routed; `batch.routed` gets their ids."""
    if not batch.deliveries:
        return
    added = {(d.message_id, d.recipient): d
             for d in batch.uow.deliveries.add_many(batch.deliveries, batch.at)}
    for n, routed in enumerate(batch.routed):
        if routed.outcome == "queued" and routed.delivery_id is None:
            delivery = added.get((routed.message_id, routed.recipient))
            if delivery is None:  # the message had one to this recipient already
                batch.routed[n] = replace(routed, outcome="already_queued")
                continue
            batch.routed[n] = replace(routed, destination=delivery.destination,
                                      delivery_id=delivery.id)
    batch.deliveries = []


def _deny(batch: RoutedBatch, actor: str, reason: str, patient_id: str, message_id: str,
          entry_id: str | None, at: datetime) -> None:
    batch.uow.audit.record(AuditEvent(actor=actor, action=AuditAction.DENY,
                                      outcome=AuditOutcome.DENIED, reason=reason,
                                      patient_id=patient_id, message_id=message_id,
                                      entry_id=entry_id, at=at))

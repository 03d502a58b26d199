"""What a worker makes of one delivery, decided in memory before any database work.

Everything that can raise on bad input (decoding, parsing, identity, mapping: one
`hub.mapping.interpret`, as `hub map` and `hub remap` read) happens here and any exception, of
any type, becomes a parked outcome with its reason: poison does not block.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from hub.broker import headers as h
from hub.broker.port import Delivery
from hub.domain.identity import Verdict
from hub.domain.models import Entry, MessageRecord, MessageState, Patient
from hub.hl7.message import Message
from hub.mapping.interpret import interpret, safe_reason
from hub.mapping.loader import MappingSet
from hub.mapping.policy import ReadingPolicy
from hub.routing.patient_actions import PatientAction, actions_of
from hub.routing.routes import Candidate, Routes

__all__ = ["Outcome", "RoutingPolicy", "decide", "record_for", "safe_reason"]


@dataclass
class Outcome:
    """A message record in its final state, its raw bytes, and what to file for whom."""

    record: MessageRecord
    raw: bytes
    patient: Patient | None = None
    entries: list[Entry] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)
    # Changes besides entries (a merge, a référent declaration; for an MFN^M02, the registry
    # update, with no patient), applied in order.
    actions: list[PatientAction] = field(default_factory=list)


@dataclass(frozen=True)
class RoutingPolicy(ReadingPolicy):
    """How the worker reads (ReadingPolicy: charset, authorities, référent senders, résumé
    type) and routes a message."""

    routes: Routes = Routes()
    referent_access_by_default: bool = True
    hub_application: str = "DSP-HUB"    # MSH-3/4 of what the hub sends on
    hub_facility: str = "DSP"

    def actions_for(self, message: Message, verdict: Verdict | None) -> list[PatientAction]:
        """The patient-action table's actions (hub/routing/patient_actions.py)."""
        return actions_of(message, verdict, self)


def record_for(delivery: Delivery, state: MessageState, reason: str | None = None) -> MessageRecord:
    """The message record a delivery's headers describe, in `state`."""
    hdr = delivery.headers
    received = hdr.get(h.RECEIVED_AT)
    return MessageRecord(
        id=delivery.message_id,
        sender=hdr.get(h.SENDER, ""),
        control_id=hdr.get(h.CONTROL_ID, ""),
        type=hdr.get(h.TYPE, ""),
        version=hdr.get(h.VERSION, ""),
        state=state,
        reason=reason,
        ack_code=hdr.get(h.ACK_CODE) or ("AA" if hdr.get(h.VERDICT) == h.ACCEPTED else None),
        received_at=datetime.fromisoformat(received) if received else datetime.now(timezone.utc),
        processed_at=datetime.now(timezone.utc),
        peer=hdr.get(h.PEER),
        replay_of=hdr.get(h.REPLAY_OF),
        err_code=_err_code(hdr.get(h.ERR_CODE)),
    )


def _err_code(value: str | None) -> int | None:
    """ERR-3 from its header; None when absent (an older listener) or not a number."""
    return int(value) if value is not None and value.isdigit() else None


def decide(delivery: Delivery, mappings: MappingSet, policy: RoutingPolicy) -> Outcome:
    """Decide what one delivery becomes; never raises."""
    if delivery.headers.get(h.VERDICT) == h.REJECTED:
        reason = delivery.headers.get(h.REASON, "rejected by the listener")
        return Outcome(record_for(delivery, MessageState.REJECTED, reason), delivery.body)
    try:
        return _map(delivery, mappings, policy)
    except Exception as exc:  # poison of any type parks the message; the worker moves on
        return Outcome(record_for(delivery, MessageState.PARKED, safe_reason(exc)), delivery.body)


def _map(delivery: Delivery, mappings: MappingSet, policy: RoutingPolicy) -> Outcome:
    reading = interpret(delivery.body, mappings, policy)
    refusal = reading.refusal
    if refusal is not None:
        return Outcome(record_for(delivery, MessageState.PARKED, refusal.reason), delivery.body)
    record = record_for(delivery, MessageState.STORED)
    if reading.registry or reading.message is None:
        return Outcome(record, delivery.body, actions=reading.actions)
    kinds = {entry.kind for entry in reading.entries}
    candidates = policy.routes.candidates(reading.message, reading.message.type, record.sender,
                                          kinds)
    return Outcome(record, delivery.body, reading.patient, reading.entries, candidates,
                   actions=reading.actions)

"""What a worker makes of one delivery, decided in memory before any database work.

Everything that can raise on bad input (decoding, parsing, identity, mapping) happens here and
any exception, of any type, becomes a parked outcome with its reason: poison does not block.
"""
from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone

from hub.broker import headers as h
from hub.broker.port import Delivery
from hub.domain.identity import identify
from hub.domain.models import Entry, MessageRecord, MessageState, Patient
from hub.domain.professional import Professional
from hub.errors import HubError
from hub.hl7.charset import decode
from hub.hl7.message import Message
from hub.registry.mfn import professionals_from_mfn
from hub.routing.legacy_link import LegacyLinkAction
from hub.mapping.mapper import map_message
from hub.mapping.loader import MappingSet
from hub.routing.patient_actions import PatientAction, actions_for
from hub.routing.routes import Candidate, Routes


MASTER_FILE = "MFN"


@dataclass
class Outcome:
    """A message record in its final state, its raw bytes, and what to file for whom."""

    record: MessageRecord
    raw: bytes
    patient: Patient | None = None
    entries: list[Entry] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)
    # An MFN^M02 changes the professionals registry instead of a dossier: (MFE-1, professional).
    registry_changes: list[tuple[str, Professional]] | None = None
    # Changes to the dossier besides entries (a merge, a référent declaration), applied in order.
    actions: list[PatientAction] = field(default_factory=list)


@dataclass(frozen=True)
class RoutingPolicy:
    fallback_charset: str = "utf-8"
    authorities: frozenset[str] = frozenset()
    routes: Routes = Routes()
    referent_access_by_default: bool = True
    hub_application: str = "DSP-HUB"    # MSH-3/4 of what the hub sends on
    hub_facility: str = "DSP"
    referent_senders: tuple[str, ...] = ("CNS^*",)  # who declares référents (A31)
    resume_document_type: str = "60591-5"  # TXA-2 of a résumé patient ([resume] document_type)


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
    text, _codec = decode(delivery.body, policy.fallback_charset)
    message = Message.parse(text)
    mapping = mappings.for_type(message.type, message.structure)
    if mapping is None and message.type.split("^", 1)[0] == MASTER_FILE:
        changes = professionals_from_mfn(message)
        return Outcome(record_for(delivery, MessageState.STORED), delivery.body,
                       registry_changes=changes)
    if mapping is None:
        reason = f"unmapped: no mapping for {message.type or 'this message type'}"
        return Outcome(record_for(delivery, MessageState.PARKED, reason), delivery.body)
    verdict = identify(message, policy.authorities)
    if not verdict.ok:
        return Outcome(record_for(delivery, MessageState.PARKED, verdict.reason), delivery.body)
    mapped = map_message(message, mapping)
    patient = mapped.patient or Patient(matricule="")
    patient.matricule = verdict.matricule
    record = record_for(delivery, MessageState.STORED)
    kinds = {entry.kind for entry in mapped.entries}
    candidates = policy.routes.candidates(message, message.type, record.sender, kinds)
    actions = actions_for(message, policy)
    if verdict.legacy:  # both forms of one matricule: their dossiers become one first
        actions = [LegacyLinkAction(verdict.legacy, verdict.matricule), *actions]
    return Outcome(record, delivery.body, patient, mapped.entries, candidates, actions=actions)


def safe_reason(exc: BaseException) -> str:
    """A reason safe to store in clear: our own errors name fields, never values; for anything
    else only the exception type and where it was raised (its text may quote the message)."""
    if isinstance(exc, HubError):
        return f"{type(exc).__name__}: {exc}"
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f" at {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}" if frame else ""
    return f"{type(exc).__name__}{where}"

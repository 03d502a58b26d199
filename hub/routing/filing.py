"""Writes decided outcomes into the store, inside the worker's unit of work.

Duplicates are settled here because only the store knows what came before: the same sender and
MSH-10 with the same bytes is discarded (nothing doubled), with other bytes it is parked as a
conflict (nothing silently overwritten).
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from hub.domain.audit import Actor, AuditAction, AuditEvent
from hub.domain.consent import EntryView
from hub.domain.models import MessageRecord, MessageState
from hub.registry.mfn import apply_mfn_changes
from hub.routing.batch_lookups import BatchLookups
from hub.routing.delivering import route_message
from hub.routing.outcome import Outcome, RoutingPolicy

DOSSIER_CLOSED = "dossier closed by the patient"


def file_outcome(uow, outcome: Outcome, policy: RoutingPolicy | None = None,
                 lookups: BatchLookups | None = None) -> MessageState:
    """Store one outcome in `uow` (not committed) and route it; returns the state it ended in.
    `lookups` shares what the batch already read (one per transaction). The outcome is left as
    it was, so a batch rolled back can be filed again message by message."""
    record = replace(outcome.record)
    policy = policy or RoutingPolicy()
    if lookups is None:
        lookups = BatchLookups(uow, datetime.now(timezone.utc), policy.referent_access_by_default)
    if record.state is MessageState.STORED:
        _settle_resend(uow, record, outcome.raw)
    if record.state is MessageState.STORED and outcome.registry_changes is not None:
        apply_mfn_changes(uow, outcome.registry_changes)
        lookups.registry_changed()
        uow.messages.add(record, outcome.raw)
        return record.state
    if record.state is MessageState.STORED:
        patient_id = uow.patients.id_for(outcome.patient.matricule)
        record.patient_id = patient_id
        if lookups.consent(patient_id).closed:
            record.state = MessageState.DISCARDED
            record.reason = DOSSIER_CLOSED
        else:
            uow.patients.save_demographics(patient_id, outcome.patient)
    uow.messages.add(record, outcome.raw)
    if record.state is MessageState.DISCARDED and record.reason == DOSSIER_CLOSED:
        uow.audit.record(AuditEvent(actor=Actor.HUB, action=AuditAction.MESSAGE_DISCARDED,
                                    patient_id=record.patient_id, message_id=record.id,
                                    reason=DOSSIER_CLOSED))
    if record.state is MessageState.STORED:
        entry_ids = uow.entries.add_many(
            (record.patient_id, record.id, seq, entry) for seq, entry in enumerate(outcome.entries))
        route_message(lookups, patient_id=record.patient_id, message_id=record.id,
                      raw=outcome.raw, candidates=outcome.candidates,
                      views=[EntryView(e.confidentiality) for e in outcome.entries],
                      entry_ids=entry_ids, policy=policy)
    return record.state


def _settle_resend(uow, record: MessageRecord, raw: bytes) -> None:
    if not record.control_id:
        return
    earlier = uow.messages.resend_of(record.sender, record.control_id, raw)
    if earlier is None:
        return
    first_id, identical = earlier
    if identical:
        record.state = MessageState.DISCARDED
        record.reason = f"duplicate of message {first_id}"
    else:
        record.state = MessageState.PARKED
        record.reason = f"conflict: MSH-10 reused with other content (first: message {first_id})"

"""Writes decided outcomes into the store, inside the worker's unit of work.

Duplicates are settled here because only the store knows what came before: the same sender and
MSH-10 with the same bytes is discarded (nothing doubled), with other bytes it is parked as a
conflict (nothing silently overwritten). A batch is filed with a few statements, not a few per
message: the resend check, the message rows and the entry rows each go in one round trip.

The check alone cannot see a copy another worker is filing at the same moment; the store holds
one stored message per sender and MSH-10 (a unique index), and a message it turns away is
settled as a resend of the one stored first, exactly as if the check had seen it: entries and
deliveries are made only for the rows that really are stored.

A closed dossier (hub.domain.closure) keeps nothing of a message filed for it but the row the
journal names (sender, type, control id, time, reason): no raw copy, no entry, no demographics;
its care relationships (a référent declared or ended) still apply. A merge naming a closed
dossier on either side is parked. An identical resend keeps no second raw copy either.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

from hub.domain.audit import MATRICULE_LIKE, Actor, AuditAction, AuditEvent, FilingDetail
from hub.domain.closure import merge_parked_reason
from hub.domain.consent import EntryView, stricter
from hub.domain.models import Confidentiality, Entry, MessageRecord, MessageState
from hub.domain.professional import validate_cns_code
from hub.errors import InvalidCnsCode, StoreConflict
from hub.domain.ports import UnitOfWork
from hub.routing.delivering import RoutedBatch, queue_routed, route_message
from hub.routing.outcome import Outcome, RoutingPolicy

DOSSIER_CLOSED = "dossier closed by the patient"
# Where an entry names the professional behind it, in the order asked, and in which role: a
# lab result's orderer (ORC-12, else OBR-16), a document's originator (TXA-9) or its primary
# activity provider (TXA-5). Field names of the mappings (mappings/*.toml).
PROFESSIONAL_FIELDS = (("ordering_provider", "ordering"), ("originator", "author"),
                       ("primary_activity_provider", "author"))


@dataclass
class _Filed:
    outcome: Outcome
    record: MessageRecord
    entries: list[Entry] = field(default_factory=list)  # at the patient's default level, at least


def file_batch(uow: UnitOfWork, outcomes: list[Outcome], policy: RoutingPolicy | None = None,
               routing: RoutedBatch | None = None) -> list[MessageState]:
    """Store and route `outcomes` in `uow` (not committed), in order; returns the state each
    ended in. The outcomes are left as they were, so a batch rolled back can be filed again
    message by message. `routing`, when given, is the batch's (in `uow`): it collects the
    routing decisions for the caller."""
    policy = policy or RoutingPolicy()
    if routing is None:
        routing = RoutedBatch(uow, datetime.now(timezone.utc), policy.referent_access_by_default)
    filed = [_Filed(o, replace(o.record), list(o.entries)) for o in outcomes]
    _settle_resends(uow, filed)
    _prefetch(uow, filed, routing)
    for item in filed:
        _settle_patient(uow, item, routing)
    turned_away = uow.messages.add_unless_stored((item.record, item.outcome.raw)
                                                 for item in filed)
    if turned_away:
        _settle_late_resends(uow, [item for item in filed if item.record.id in turned_away])
    discarded = [AuditEvent(actor=Actor.HUB, action=AuditAction.MESSAGE_DISCARDED,
                            patient_id=item.record.patient_id, message_id=item.record.id,
                            reason=DOSSIER_CLOSED)
                 for item in filed if item.record.reason == DOSSIER_CLOSED]
    if discarded:
        uow.audit.record_many(discarded)
    stored = [item for item in filed if item.record.state is MessageState.STORED]
    entry_ids = uow.entries.add_many(
        (item.record.patient_id, item.record.id, seq, entry)
        for item in stored for seq, entry in enumerate(item.entries))
    start = 0
    for item in filed:  # in order: a registry change is seen by the messages after it only
        if item.record.state is MessageState.DISCARDED and item.record.reason == DOSSIER_CLOSED:
            _apply_while_closed(uow, item, routing)
            continue
        if item.record.state is not MessageState.STORED:
            continue
        entries = item.entries
        ids, start = entry_ids[start:start + len(entries)], start + len(entries)
        if ids:
            uow.audit.record(filing_event(item.record, entries, ids, routing.at))
        route_message(routing, patient_id=item.record.patient_id, message_id=item.record.id,
                      raw=item.outcome.raw, candidates=item.outcome.candidates,
                      views=[EntryView(e.confidentiality) for e in entries],
                      entry_ids=ids, policy=policy)
        if item.outcome.actions:  # its deliveries are queued before what its actions change
            queue_routed(routing)
        for action in item.outcome.actions:
            action.apply(uow, item.record)
    queue_routed(routing)
    return [item.record.state for item in filed]


def filing_event(record: MessageRecord, entries: list[Entry], entry_ids: list[str],
                 at: datetime) -> AuditEvent:
    """The patient's journal's "entries.filed" event for one stored message: ids and codes
    only (FilingDetail), kept with the batch's other events and appended in the same insert at
    the commit. Recorded before the message's routing, so the journal reads filed, then sent."""
    professional, role = named_professional(entries)
    # A sender id that looks like a matricule would be refused by the log, and the filing with
    # it: it is left out instead (the message row still names it).
    sender = "" if MATRICULE_LIKE.search(record.sender or "") else record.sender or ""
    detail = FilingDetail(tuple(entry_ids), sender, professional, role)
    return AuditEvent(actor=Actor.HUB, action=AuditAction.ENTRIES_FILED,
                      patient_id=record.patient_id, message_id=record.id,
                      entry_id=entry_ids[0] if len(entry_ids) == 1 else None,
                      detail=detail.to_json(), at=at)


def named_professional(entries: list[Entry]) -> tuple[str | None, str | None]:
    """The CNS code of the first professional the entries name (PROFESSIONAL_FIELDS) that has
    the form of one, and the role; (None, None) when none does (a name alone is patient-side
    text, never put in the log)."""
    for entry in entries:
        for name, role in PROFESSIONAL_FIELDS:
            person = entry.payload.get(name)
            code = person.get("cns_code") if isinstance(person, dict) else None
            if not isinstance(code, str):
                continue
            try:
                return validate_cns_code(code), role
            except InvalidCnsCode:
                continue
    return None, None


def file_outcome(uow: UnitOfWork, outcome: Outcome, policy: RoutingPolicy | None = None,
                 routing: RoutedBatch | None = None) -> MessageState:
    """`file_batch` for one outcome."""
    return file_batch(uow, [outcome], policy, routing)[0]


def _prefetch(uow: UnitOfWork, filed: list[_Filed], routing: RoutedBatch) -> None:
    """Dossier ids, consent and demographics of the batch's patients, a few statements for
    all of them: most batches name many patients, each once or twice."""
    matricules = [item.outcome.patient.matricule for item in filed
                  if item.record.state is MessageState.STORED and item.outcome.patient]
    if not matricules:
        return
    ids = list(uow.patients.ids_for(matricules).values())
    uow.consents.prefetch(ids, routing.at, routing.referent_by_default)
    uow.patients.load_demographics(ids)


def _settle_patient(uow: UnitOfWork, item: _Filed, routing: RoutedBatch) -> None:
    """The dossier a stored message belongs to, and a closed dossier's discard; demographics
    saved for the others."""
    record, outcome = item.record, item.outcome
    if record.state is not MessageState.STORED or outcome.patient is None:
        return  # a registry message (MFN^M02) names no patient
    closed_sides = _closed_merge_sides(uow, outcome, routing)
    record.patient_id = uow.patients.id_for(outcome.patient.matricule)
    state = routing.consent(record.patient_id)
    if closed_sides:
        record.state = MessageState.PARKED
        record.reason = merge_parked_reason(closed_sides)
        routing.parked[record.id] = record.reason
    elif state.closed:
        record.state = MessageState.DISCARDED
        record.reason = DOSSIER_CLOSED
        record.raw_kept = False  # what the journal needs is the row; no content is kept
    else:
        uow.patients.save_demographics(record.patient_id, outcome.patient)
        # The stricter of the source's level and the patient's default; the outcome's own
        # entries stay as mapped, so a batch rolled back is filed again from them (an entry
        # already at that level is not copied: nothing changes it after mapping).
        # The level for each source level is worked out once: a message's entries mostly
        # share one.
        default = state.default_level
        levels: dict[str, Confidentiality] = {}
        item.entries = [entry if (level := levels.get(entry.confidentiality)
                                  or levels.setdefault(entry.confidentiality,
                                                       stricter(entry.confidentiality, default)))
                        is entry.confidentiality else replace(entry, confidentiality=level)
                        for entry in outcome.entries]


def _closed_merge_sides(uow: UnitOfWork, outcome: Outcome, routing: RoutedBatch) -> list[str]:
    """Where the message names a dossier that is closed, among those its merges would join
    (PID-3, MRG-1...): a merge with a closed dossier is parked (hub.domain.closure)."""
    sides = [side for action in outcome.actions for side in getattr(action, "sides", list)()]
    if not sides:
        return []
    ids = uow.patients.ids_for(matricule for _, matricule in sides)
    return list(dict.fromkeys(where for where, matricule in sides
                              if routing.consent(ids[matricule]).closed))


def _apply_while_closed(uow: UnitOfWork, item: _Filed, routing: RoutedBatch) -> None:
    """A message discarded for a closed dossier still brings its care relationships (a
    référent declared or ended); its clinical content and its other effects are dropped."""
    actions = [a for a in item.outcome.actions if getattr(a, "applies_while_closed", False)]
    if actions:
        queue_routed(routing)  # what earlier messages routed, on the consent before the change
    for action in actions:
        action.apply(uow, item.record)


def _settle_resends(uow: UnitOfWork, filed: list[_Filed]) -> None:
    """Mark resends of messages stored earlier, or earlier in this batch, in one lookup."""
    keys = [(item.record.sender, item.record.control_id) for item in filed
            if item.record.state is MessageState.STORED and item.record.control_id]
    earlier = uow.messages.first_of(keys) if keys else {}
    # A replay is a second go at a message that was parked: the parked original (and any
    # replay parked again) must not make it a duplicate; only a stored one can.
    replay_keys = [(r.sender, r.control_id) for r in (item.record for item in filed)
                   if r.replay_of and r.state is MessageState.STORED and r.control_id]
    earlier_stored = (uow.messages.first_of(replay_keys, stored_only=True)
                      if replay_keys else {})
    in_batch: dict[tuple[str, str], _Filed] = {}
    for item in filed:
        record = item.record
        key = (record.sender, record.control_id)
        seen = earlier_stored if record.replay_of else earlier
        if record.state is MessageState.STORED and record.control_id:
            if key in seen:
                first_id, content_hash = seen[key]
                _mark_resend(record, first_id,
                             uow.messages.same_content(content_hash, item.outcome.raw))
            elif key in in_batch:
                first = in_batch[key]
                _mark_resend(record, first.record.id,
                             bytes(first.outcome.raw) == bytes(item.outcome.raw))
        if record.state is not MessageState.REJECTED and record.control_id:
            in_batch.setdefault(key, item)


def _settle_late_resends(uow: UnitOfWork, late: list[_Filed]) -> None:
    """Messages the store turned away because another transaction stored a copy after our
    resend check (two workers, or two threads, filing one resend at once): resends of that copy
    after all, added in their settled state."""
    first = uow.messages.first_of({(item.record.sender, item.record.control_id)
                                   for item in late}, stored_only=True)
    for item in late:
        record = item.record
        found = first.get((record.sender, record.control_id))
        if found is None:  # the copy that turned it away is no longer stored: try again
            raise StoreConflict(f"message {record.id}: its stored copy changed while filing")
        record.patient_id = item.outcome.record.patient_id  # a resend names no dossier
        _mark_resend(record, found[0], uow.messages.same_content(found[1], item.outcome.raw))
    uow.messages.add_many((item.record, item.outcome.raw) for item in late)


def _mark_resend(record: MessageRecord, first_id: str, identical: bool) -> None:
    if identical:
        record.state = MessageState.DISCARDED
        record.reason = f"duplicate of message {first_id}"
        record.raw_kept = False  # the first is the copy (if any is kept: a closed dossier's is not)
    else:
        record.state = MessageState.PARKED
        record.reason = f"conflict: MSH-10 reused with other content (first: message {first_id})"

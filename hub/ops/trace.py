""""Where did message X go?": the story of one message, and a search for messages.

Everything here is read in clear from the store (states, ids, kinds, levels, reasons, audit
events): no entry value, no matricule and no raw byte is read or returned.
"""
from __future__ import annotations

from datetime import datetime

from hub.domain.audit import AuditAction, AuditEvent
from hub.domain.models import MessageRecord, MessageState
from hub.errors import HubError
from hub.ops import NotFound, iso, message_row
from hub.domain.ports import UnitOfWork

ROUTING_ALLOWED = "consent allowed: delivery queued"


class Ambiguous(HubError):
    """A control id that several messages carry (several senders reuse MSH-10, resends);
    `candidates` lists them (message rows) for the caller to choose by --sender or id."""

    def __init__(self, message: str, candidates: list[dict]) -> None:
        super().__init__(message)
        self.candidates = candidates


def resolve(uow: UnitOfWork, key: str, sender: str | None = None) -> MessageRecord:
    """The message whose id is `key`, else the one message with control id `key` (from
    `sender` when given; a message and its replays count as one, the first). NotFound, or
    Ambiguous listing the candidates."""
    record = uow.messages.get(key)
    if record is not None and (sender is None or record.sender == sender):
        return record
    found = uow.messages.search(control_id=key, sender=sender, limit=100)
    if not found:
        raise NotFound(f"no message with id or control id {key}"
                       + (f" from sender {sender}" if sender else ""))
    # Replays carry their original's control id: the original's story tells theirs.
    ids = {r.id for r in found}
    firsts = [r for r in found if r.replay_of not in ids]
    if len(firsts) == 1:
        return firsts[0]
    if len(found) > 1:
        raise Ambiguous(f"{len(found)} messages carry control id {key}; choose one by "
                        "--sender or by message id", [message_row(r) for r in found])
    return found[0]


def trace(uow: UnitOfWork, key: str, sender: str | None = None) -> dict:
    """The story of one message (by id or control id): received, acknowledged, filed, its
    entries, routing decisions, deliveries, audit events and replays.

    Shape: {"message": {"id", "sender", "control_id", "type", "version", "state", "reason",
    "received_at", "processed_at", "peer", "ack_code", "patient_id", "replay_of"},
    "entries": [{"id", "seq", "kind", "confidentiality", "hidden", "created_at"}],
    "decisions": [{"recipient", "decision": "allow"|"deny", "reason", "audit_seq"}],
    "deliveries": [{"id", "recipient", "destination", "control_id", "state", "attempts",
    "ack_code", "last_error", "next_attempt_at", "created_at", "updated_at", "audit_seqs",
    "attempt_history": [{"number", "at", "outcome", "code", "ack_code", "error"}]}],
    "audit": [{"seq", "id", "at", "actor", "operator", "action", "outcome", "reason",
               "entry_id"}],
    "replay_of": {"id", "state", "reason"} | None, "replays": [{"id", "state", "reason",
    "received_at"}], "story": [{"at", "event", "detail"}]}."""
    record = resolve(uow, key, sender)
    entries = [{**e, "created_at": iso(e["created_at"])}
               for e in uow.entries.outlines_for_message(record.id)]
    events = uow.audit.for_message(record.id)
    found = uow.deliveries.for_message(record.id)
    history = uow.attempts.for_deliveries([d.id for d in found]) if found else {}
    deliveries = [_delivery(d, events, history.get(d.id, [])) for d in found]
    original = uow.messages.get(record.replay_of) if record.replay_of else None
    replays = uow.messages.replays_of([record.id]).get(record.id, [])
    document = {
        "message": _message(record),
        "entries": entries,
        "decisions": _decisions(deliveries, events),
        "deliveries": deliveries,
        "audit": [_event(e) for e in events],
        "replay_of": (None if record.replay_of is None else
                      {"id": record.replay_of, "state": original.state.value if original else None,
                       "reason": original.reason if original else None}),
        "replays": [{"id": r.id, "state": r.state.value, "reason": r.reason,
                     "received_at": iso(r.received_at)} for r in replays],
    }
    document["story"] = _story(record, document, events, replays)
    return document


def search(uow: UnitOfWork, *, sender: str | None = None, control_id: str | None = None,
           matricule: str | None = None, type: str | None = None,
           since: datetime | None = None, until: datetime | None = None,
           state: str | None = None, limit: int = 1000) -> list[dict]:
    """Messages matching every given filter, newest first: [{"id", "sender", "control_id",
    "type", "state", "received_at", "reason", "replay_of"}]. A matricule is matched through
    its keyed hash (an unknown one matches nothing)."""
    patient_id = None
    if matricule is not None:
        patient_id = uow.patients.find(matricule)
        if patient_id is None:
            return []
    found = uow.messages.search(MessageState(state) if state else None, sender, control_id,
                                limit, type=type, patient_id=patient_id, since=since,
                                until=until)
    return [message_row(r) for r in found]


def _message(record: MessageRecord) -> dict:
    return {"id": record.id, "sender": record.sender, "control_id": record.control_id,
            "type": record.type, "version": record.version, "state": record.state.value,
            "reason": record.reason, "received_at": iso(record.received_at),
            "processed_at": iso(record.processed_at), "peer": record.peer,
            "ack_code": record.ack_code, "patient_id": record.patient_id,
            "replay_of": record.replay_of}


def _event(event: AuditEvent) -> dict:
    return {"seq": event.seq, "id": event.id, "at": iso(event.at), "actor": event.actor,
            "operator": event.operator,
            "action": event.action, "outcome": event.outcome, "reason": event.reason,
            "entry_id": event.entry_id}


def _delivery(delivery, events: list[AuditEvent], history: list) -> dict:
    """A delivery's row, each of its sends, and the seqs of the journal events of its
    outcomes (actor = recipient)."""
    return {"id": delivery.id, "recipient": delivery.recipient,
            "destination": delivery.destination, "control_id": delivery.control_id,
            "state": delivery.state.value, "attempts": delivery.attempts,
            "ack_code": delivery.ack_code, "last_error": delivery.last_error,
            "next_attempt_at": iso(delivery.next_attempt_at),
            "created_at": iso(delivery.created_at), "updated_at": iso(delivery.updated_at),
            "audit_seqs": [e.seq for e in events if e.actor == delivery.recipient
                           and e.action == AuditAction.DELIVER],
            "attempt_history": [{"number": a.number, "at": iso(a.at), "outcome": a.outcome,
                                 "code": a.code, "ack_code": a.ack_code, "error": a.error}
                                for a in history]}


def _decisions(deliveries: list[dict], events: list[AuditEvent]) -> list[dict]:
    """Routing's verdicts: a queued delivery is an allow (routing queues nothing else), a
    deny event a denial with its consent reason."""
    allowed = [{"recipient": d["recipient"], "decision": "allow", "reason": ROUTING_ALLOWED,
                "audit_seq": None} for d in deliveries]
    denied = [{"recipient": e.actor, "decision": "deny", "reason": e.reason, "audit_seq": e.seq}
              for e in events if e.action == AuditAction.DENY]
    return allowed + denied


def _story(record: MessageRecord, doc: dict, events: list[AuditEvent],
           replays: list[MessageRecord]) -> list[dict]:
    """The same facts as one time line for people, oldest first."""
    story = [{"at": iso(record.received_at), "event": "received",
              "detail": f"from {record.sender or '?'} via {record.peer or 'unknown peer'}"
                        + (f", replay of {record.replay_of}" if record.replay_of else "")}]
    if record.ack_code:
        story.append({"at": iso(record.received_at), "event": "ack",
                      "detail": f"{record.ack_code} sent"})
    story.append({"at": iso(record.processed_at), "event": record.state.value,
                  "detail": record.reason or f"{len(doc['entries'])} entries"})
    for d in doc["deliveries"]:
        story.append({"at": d["created_at"], "event": "delivery queued",
                      "detail": f"to {d['recipient']} at {d['destination']}"})
        for a in d["attempt_history"]:
            story.append({"at": a["at"], "event": f"attempt {a['number']}",
                          "detail": f"to {d['recipient']}: {a['outcome']} ({a['code'] or '-'})"
                                    + (f", {a['error']}" if a["error"] else "")})
        story.append({"at": d["updated_at"], "event": f"delivery {d['state']}",
                      "detail": f"{d['attempts']} attempt(s), ACK {d['ack_code'] or '-'}"
                                + (f", {d['last_error']}" if d["last_error"] else "")})
    for e in events:
        story.append({"at": iso(e.at), "event": f"audit {e.action}",
                      "detail": f"#{e.seq} {e.actor} {e.outcome}: {e.reason}"})
    for r in replays:
        story.append({"at": iso(r.received_at), "event": "replayed",
                      "detail": f"as {r.id}: {r.state.value}"
                                + (f" ({r.reason})" if r.reason else "")})
    return sorted(story, key=lambda s: s["at"] or "9999")

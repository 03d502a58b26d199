"""Parked messages: list them, show one, replay them through the inbound queue.

A replay publishes the parked message's stored bytes, untouched, under a new message id with a
`x-hub-replay-of` header naming the message it replays; the worker files it like any message,
with `messages.replay_of` set, and settles duplicates against stored messages only, so a replay
of something already stored is discarded instead of doubled. The original keeps its state,
parked (DESIGN's states stay five): its replays are found through `replay_of` and through its
`message.replayed` audit events, which give each parked message a DLQ status:

- `open`: never replayed (what `replay --all` takes);
- `replayed`: replayed, and no replay stored yet (in flight, or parked again: that replay is
  then itself listed, open);
- `resolved`: a replay (or a replay of a replay parked again) was stored, or discarded as a
  duplicate of a stored message; `resolved_by` names it.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from hub.broker import headers as h
from hub.broker.port import Broker
from hub.domain.audit import Actor, AuditAction, AuditEvent
from hub.domain.delivery import DeliveryState
from hub.domain.identity import identify
from hub.domain.models import MessageRecord, MessageState
from hub.domain.operator import Operator
from hub.errors import BrokerError
from hub.hl7.charset import decode
from hub.hl7.message import Message
from hub.mapping.policy import ReadingPolicy
from hub.ops import NotFound, iso, message_row, run_each, select_ids
from hub.store.tables import new_id
from hub.domain.ports import UnitOfWork, UnitOfWorkFactory

OPEN, REPLAYED, RESOLVED = "open", "replayed", "resolved"
# A replay (or a retry, hub/ops/rejected.py) in one of these resolves the message it came from.
SETTLED = frozenset({MessageState.STORED, MessageState.DISCARDED})
_MAX_GENERATIONS = 20
_EVERY = 1_000_000


# Where a message goes again: one queue, or bytes -> their patient's inbound partition
# (hub/inbound/rerouting.py). `hub rejected retry` uses the same.
Target = str | Callable[[bytes], str]


def queue_of(target: Target, body: bytes) -> str:
    """The queue `body` is published to again: its patient's partition, or the one queue."""
    return target if isinstance(target, str) else target(body)


def reason_class(reason: str | None) -> str:
    """The kind of a parking reason: its text before the first colon, first word only
    ("unmapped", "conflict", "dead-lettered", an error's type name)."""
    head = (reason or "").split(":", 1)[0].strip()
    return head.split(" ", 1)[0] if head else ""


def reason_matches(reason: str | None, wanted: str) -> bool:
    """Whether `wanted` is the reason's class or a part of it (case-insensitive)."""
    wanted = wanted.lower()
    return reason_class(reason).lower() == wanted or wanted in (reason or "").lower()


def list_parked(uow: UnitOfWork, reason: str | None = None, limit: int = 1000) -> dict:
    """Parked messages, newest first, each with its reason class, DLQ status and replays;
    and how many outbound deliveries are parked (`hub deliveries replay` resends those).

    Shape: {"parked": [{"id", "sender", "control_id", "type", "state", "received_at",
    "reason", "reason_class", "replay_of", "status", "resolved_by",
    "replays": [{"id", "state"}],
    "last_replayed_at"}], "parked_deliveries": n}."""
    # The reason is matched here, not in SQL: the limit applies to the matches, not before.
    records = uow.messages.search(MessageState.PARKED, limit=_EVERY if reason else limit)
    if reason:
        records = [r for r in records if reason_matches(r.reason, reason)][:limit]
    rows = _with_status(uow, records)
    parked_deliveries = uow.deliveries.counts_by_state().get(DeliveryState.PARKED.value, 0)
    return {"parked": rows, "parked_deliveries": parked_deliveries}


def show_parked(uow_factory: UnitOfWorkFactory, id: str, *, by: Operator, raw: bool = False,
                policy: ReadingPolicy = ReadingPolicy()) -> dict:
    """One message's record with its DLQ status (None unless parked) and replays; with `raw`,
    its bytes as received. They hold patient data: the read is a `message.raw_read` event of
    operator `by` in the patient's journal, committed before they are returned. A parked
    message was mostly never filed, so its patient is the one its PID-3 names (read by
    `policy`, as the worker reads it), whose dossier is created if new so that the journal
    holds the read; the event names no patient only when the bytes name none that is valid.
    NotFound when there is no such message."""
    with uow_factory() as uow:
        record = uow.messages.get(id)
        if record is None:
            raise NotFound(f"no message {id}")
        [row] = _with_status(uow, [record])
        if record.state is not MessageState.PARKED:
            row["status"] = None  # "open" would invite a replay that replay refuses
        row.update(version=record.version, ack_code=record.ack_code, peer=record.peer,
                   processed_at=iso(record.processed_at))
        if raw:
            body = uow.messages.raw(id)
            patient_id = record.patient_id or patient_named_in(uow, body, policy)
            uow.audit.record(AuditEvent(
                actor=Actor.OPERATOR, action=AuditAction.MESSAGE_RAW_READ,
                reason="operator full view: the message's raw bytes (dlq show --raw)"
                       + ("" if patient_id else ", no valid matricule in them"),
                patient_id=patient_id, message_id=id, operator=by.name))
            row["raw"] = body.decode("utf-8", "replace")
            uow.commit()
    return row


def patient_named_in(uow: UnitOfWork, body: bytes, policy: ReadingPolicy) -> str | None:
    """The dossier id of the patient whose valid matricule the message's PID-3 carries (the
    dossier created if new); None when the bytes cannot be read or name no valid matricule."""
    try:
        verdict = identify(Message.parse(decode(body, policy.fallback_charset)[0]),
                           policy.authorities)
    except Exception:  # noqa: BLE001 - unreadable bytes name nobody; the read is still journaled
        return None
    if not verdict.ok or not verdict.matricule:
        return None
    return uow.patients.id_for(verdict.matricule)


def replay_selection(uow: UnitOfWork, ids: Iterable[str] = (), *, every_open: bool = False,
                     reason: str | None = None) -> tuple[list[str], list[dict]]:
    """Which messages a replay takes: the given ids (each must be parked; with `reason`, only
    those whose reason matches), or with `every_open` every open parked message (matching
    `reason`). Returns (ids to replay, refused [{"id", "reason"}])."""
    if every_open:
        listed = list_parked(uow, reason, limit=_EVERY)["parked"]
        return [row["id"] for row in reversed(listed) if row["status"] == OPEN], []
    return select_ids(uow, ids, MessageState.PARKED,
                      lambda record: not reason or reason_matches(record.reason, reason),
                      "reason does not match")


def replay_messages(uow_factory: UnitOfWorkFactory, broker: Broker, queue: Target,
                    ids: list[str], *,
                    stop: threading.Event | None = None,
                    progress: Callable[[dict], None] | None = None,
                    timeout: float = 10.0, by: Operator | None = None) -> dict:
    """Republish each parked message of `ids` to `queue` (the inbound queue), one at a time:
    its stored bytes under a new id with a replay-of header; only once the broker confirmed it,
    a `message.replayed` audit event (actor operator, named `by`) is committed for the original. `stop`
    set (Ctrl-C) ends the run between two messages, never inside one. `progress` is called
    after each message with its result.

    Shape: {"requested": n, "replayed": [{"id", "replay_id"}], "refused": [{"id", "reason"}],
    "failed": [{"id", "reason"}], "interrupted": bool, "not_done": [ids]}."""
    summary: dict = {"requested": len(ids), "replayed": [], "refused": [], "failed": [],
                     "interrupted": False, "not_done": []}
    return run_each(ids, lambda id: _replay_one(uow_factory, broker, queue, id, timeout, by),
                    summary, stop=stop, progress=progress)


def _replay_one(uow_factory: UnitOfWorkFactory, broker: Broker, queue: Target, id: str,
                timeout: float, by: Operator | None) -> dict:
    with uow_factory() as uow:
        record = uow.messages.get(id)
        if record is None or record.state is not MessageState.PARKED:
            why = "no such message" if record is None else f"not parked ({record.state.value})"
            return {"outcome": "refused", "id": id, "reason": why}
        body = uow.messages.raw(id)
    replay_id = new_id()
    try:
        broker.publish_blocking(queue_of(queue, body), body, message_id=replay_id,
                                headers=_replay_headers(record), timeout=timeout)
    except BrokerError as exc:
        return {"outcome": "failed", "id": id, "reason": str(exc), "broker_away": True}
    with uow_factory() as uow:
        uow.audit.record(AuditEvent(actor=Actor.OPERATOR, action=AuditAction.MESSAGE_REPLAYED,
                                    reason=f"replayed as message {replay_id}",
                                    patient_id=record.patient_id, message_id=id,
                                    operator=by.name if by else None))
        uow.commit()
    return {"outcome": "replayed", "id": id, "replay_id": replay_id}


def _replay_headers(record: MessageRecord) -> dict[str, str]:
    """The listener's routing facts of the original, received now, marked as its replay.
    No verdict and no ACK code: nobody was acknowledged for a replay."""
    return {h.SENDER: record.sender, h.CONTROL_ID: record.control_id, h.TYPE: record.type,
            h.VERSION: record.version, h.RECEIVED_AT: datetime.now(UTC).isoformat(),
            h.REPLAY_OF: record.id}


def _with_status(uow: UnitOfWork, records: list[MessageRecord]) -> list[dict]:
    ids = [r.id for r in records]
    replays = uow.messages.replays_of(ids) if ids else {}
    later = later_replays(uow, replays)
    events = uow.audit.for_messages(ids, AuditAction.MESSAGE_REPLAYED) if ids else {}
    rows = []
    for record in records:
        mine, replayed = replays.get(record.id, []), events.get(record.id, [])
        settled = [r.id for r in mine + later.get(record.id, []) if r.state in SETTLED]
        if settled:
            status = RESOLVED
        else:
            status = REPLAYED if mine or replayed else OPEN
        rows.append({**message_row(record), "reason_class": reason_class(record.reason),
                     "status": status, "resolved_by": settled[0] if settled else None,
                     "replays": [{"id": r.id, "state": r.state.value} for r in mine],
                     "last_replayed_at": iso(replayed[-1].at) if replayed else None})
    return rows


def later_replays(uow: UnitOfWork, replays: dict[str, list[MessageRecord]],
                  ) -> dict[str, list[MessageRecord]]:
    """Replays of replays (a replay parked again, then replayed), by the first message: the
    chain resolves its first message too. One query per generation, a few at most."""
    found: dict[str, list[MessageRecord]] = {}
    frontier = {r.id: first for first, rs in replays.items() for r in rs
                if r.state is MessageState.PARKED}
    for _ in range(_MAX_GENERATIONS):
        if not frontier:
            break
        children = uow.messages.replays_of(frontier)
        next_frontier = {}
        for parent, records in children.items():
            first = frontier[parent]
            found.setdefault(first, []).extend(records)
            next_frontier.update({r.id: first for r in records if r.state is MessageState.PARKED})
        frontier = next_frontier
    return found

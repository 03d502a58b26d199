"""Rejected messages: list them, and check them again with today's rules.

A rejected message is kept (bytes encrypted) so that a refusal under a rule later found wrong
can be undone without asking the sender to resend. A retry runs the listener's checks
(hub/inbound/intake.py `check`, the listener's IntakePolicy) over the kept bytes:

- still refused: the record stays rejected, its reason, ACK code and ERR-3 updated in place;
- passing now: the bytes are published to the inbound queue as a fresh message under a new id,
  with the `x-hub-replay-of` header of `hub dlq replay`, so the worker files it like any other
  and settles it against *stored* messages only (hub/routing/filing.py): a retry of something
  stored since (a resend, or an earlier retry) is discarded as a duplicate, never doubled.

Either way a `message.retried` audit event (actor operator) is committed, after the broker's
confirm for a published one (outcome ok) or with the new reason (outcome failed). The record
keeps its state, rejected; its retries give it a status, as parked messages have in dlq.py:

- `open`: never published by a retry (what `retry --all` takes; one still refused stays open);
- `retried`: published, and no retry stored yet (in flight, or parked: see `hub dlq list`);
- `resolved`: a retry (or a dlq replay of a parked retry) was stored, or discarded as a
  duplicate of a stored message; `resolved_by` names it.

A batch refused whole (type BATCH) is re-read with the batch rules: still refused, it is
updated like any record; readable now, it is refused by the retry, since its messages were never
checked one by one and a retry republishes one message per record. A frame refused for its size
kept only its first bytes: it is never retried.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from hub.broker import headers as h
from hub.broker.port import Broker
from hub.domain.audit import Actor, AuditAction, AuditEvent, AuditOutcome
from hub.domain.models import MessageRecord, MessageState
from hub.errors import BrokerError, RawCopyPurged
from hub.inbound.batch import BatchProblem, read_batch
from hub.inbound.intake import BATCH_TYPE, IntakePolicy, check
from hub.inbound.sniff import Header, Rejection
from hub.ops import iso, message_row, run_each, select_ids
from hub.ops.dlq import SETTLED, Target, later_replays, queue_of
from hub.ops.dlq import reason_matches
from hub.store.tables import new_id
from hub.domain.operator import Operator
from hub.domain.ports import UnitOfWork, UnitOfWorkFactory

OPEN, RETRIED, RESOLVED = "open", "retried", "resolved"
_EVERY = 1_000_000
# Intake.refuse_oversize's reason: the record holds the frame's first bytes only.
_OVERSIZE_MARK = "(mllp.max_frame)"
_IDENTITY_MISSING = "no matricule"


def err_code_of(record: MessageRecord) -> int | None:
    """ERR-3 of a rejection: as stored, or for a record stored before the column (migration
    0014) read from its ACK code where that is unambiguous: the listener answers AE only for
    the identity check, 101 when PID-3 has no matricule, else 102. None when unknown."""
    if record.err_code is not None:
        return record.err_code
    if record.ack_code == "AE":
        return 101 if _IDENTITY_MISSING in (record.reason or "") else 102
    return None


def list_rejected(uow: UnitOfWork, *, reason: str | None = None, code: int | None = None,
                  since: datetime | None = None, until: datetime | None = None,
                  limit: int = 1000) -> dict:
    """Rejected messages received in [since, until), newest first, those matching `reason`
    (a part of it, case-insensitive) and `code` (ERR-3) when given, each with its retry status.

    Shape: {"rejected": [{"id", "sender", "control_id", "type", "received_at", "ack_code",
    "err_code", "reason", "status", "resolved_by", "retries": [{"id", "state"}],
    "last_retried_at"}]}."""
    filtering = reason is not None or code is not None
    # Filters are applied here, not in SQL (ERR-3 may be read from the reason): the limit
    # applies to the matches.
    records = uow.messages.search(MessageState.REJECTED, since=since, until=until,
                                  limit=_EVERY if filtering else limit)
    records = [r for r in records if matches(r, reason=reason, code=code)][:limit]
    return {"rejected": _with_status(uow, records)}


def matches(record: MessageRecord, *, reason: str | None = None, code: int | None = None) -> bool:
    """Whether a rejected record passes the `reason` and `code` filters (None: any)."""
    if reason is not None and not reason_matches(record.reason, reason):
        return False
    return code is None or err_code_of(record) == code


def retry_selection(uow: UnitOfWork, ids: Iterable[str] = (), *, every_open: bool = False,
                    reason: str | None = None, code: int | None = None,
                    since: datetime | None = None, until: datetime | None = None,
                    ) -> tuple[list[str], list[dict]]:
    """Which records a retry takes: the given ids (each must be rejected and match the filters;
    a record already retried is taken again, its retry then discarded as a duplicate if one was
    stored), or with `every_open` every open rejected record matching them, oldest first.
    Returns (ids to retry, refused [{"id", "reason"}])."""
    if every_open:
        listed = list_rejected(uow, reason=reason, code=code, since=since, until=until,
                               limit=_EVERY)["rejected"]
        return [row["id"] for row in reversed(listed) if row["status"] == OPEN], []
    return select_ids(uow, ids, MessageState.REJECTED,
                      lambda record: matches(record, reason=reason, code=code),
                      "does not match --reason/--code")


def retry_messages(uow_factory: UnitOfWorkFactory, broker: Broker, queue: Target,
                   policy: IntakePolicy,
                   ids: list[str], *, dry_run: bool = False,
                   stop: threading.Event | None = None,
                   progress: Callable[[dict], None] | None = None,
                   timeout: float = 10.0, by: Operator | None = None) -> dict:
    """Check each rejected record of `ids` again under `policy`, one at a time; publish to
    `queue` (the inbound queue) those that pass, update in place those still refused, audit
    each, naming the operator `by` (see the module's docstring). `dry_run` publishes, changes and audits nothing (and
    `broker` may be None). `stop`
    set (Ctrl-C) ends the run between two records, never inside one; `progress` is called
    after each record with its result.

    Shape: {"requested": n, "dry_run": bool, "passed": [{"id", "retry_id"}] (retry_id None on
    a dry run), "still_rejected": [{"id", "ack_code", "err_code", "reason"}],
    "refused": [{"id", "reason"}], "failed": [{"id", "reason"}], "interrupted": bool,
    "not_done": [ids]}."""
    summary: dict = {"requested": len(ids), "dry_run": dry_run, "passed": [],
                     "still_rejected": [], "refused": [], "failed": [], "interrupted": False,
                     "not_done": []}
    return run_each(ids, lambda id: _retry_one(uow_factory, broker, queue, policy, id, dry_run,
                                                timeout, by), summary, stop=stop,
                    progress=progress)


def _retry_one(uow_factory: UnitOfWorkFactory, broker: Broker, queue: Target, policy: IntakePolicy,
               id: str, dry_run: bool, timeout: float, by: Operator | None) -> dict:
    with uow_factory() as uow:
        record = uow.messages.get(id)
        if record is None or record.state is not MessageState.REJECTED:
            why = "no such message" if record is None else f"not rejected ({record.state.value})"
            return {"outcome": "refused", "id": id, "reason": why}
        if _OVERSIZE_MARK in (record.reason or ""):
            return {"outcome": "refused", "id": id,
                    "reason": "refused for its size: only its first bytes were kept"}
        try:
            body = uow.messages.raw(id)
        except RawCopyPurged:
            return {"outcome": "refused", "id": id,
                    "reason": "its raw copy was purged ([retention] raw_days)"}
    header, rejection = _check(record, body, policy)
    if rejection is None and header is None:  # a batch that reads whole now
        return {"outcome": "refused", "id": id, "reason": "a batch refused whole passes the "
                "batch rules now, but is not split by a retry: ask its sender to resend it"}
    if rejection is not None:
        if not dry_run:
            with uow_factory() as uow:
                uow.messages.update_rejection(id, rejection.text, rejection.ack_code,
                                              rejection.err_code)
                uow.audit.record(_event(record, AuditOutcome.FAILED, f"still refused: "
                                        f"{rejection.ack_code} {rejection.err_code}", by))
                uow.commit()
        return {"outcome": "still_rejected", "id": id, "ack_code": rejection.ack_code,
                "err_code": rejection.err_code, "reason": rejection.text}
    if dry_run:
        return {"outcome": "passed", "id": id, "retry_id": None}
    retry_id = new_id()
    try:
        broker.publish_blocking(queue_of(queue, body), body, message_id=retry_id,
                                headers=_fresh_headers(header, record.id), timeout=timeout)
    except BrokerError as exc:
        return {"outcome": "failed", "id": id, "reason": str(exc), "broker_away": True}
    with uow_factory() as uow:
        uow.audit.record(_event(record, AuditOutcome.OK, f"retried as message {retry_id}", by))
        uow.commit()
    return {"outcome": "passed", "id": id, "retry_id": retry_id}


def _check(record: MessageRecord, body: bytes,
           policy: IntakePolicy) -> tuple[Header | None, Rejection | None]:
    """Today's verdict on the kept bytes: (header, None) when they pass, (_, rejection) when
    not; (None, None) for a batch that reads whole now."""
    if record.type == BATCH_TYPE:
        problem = read_batch(body)
        if isinstance(problem, BatchProblem):
            return None, Rejection("AR", problem.err_code, problem.location, problem.text)
        return None, None
    # The senders file too, on the peer address kept with the record: a certificate's proof is
    # not kept, so a sender admitted by its certificate only resends rather than be retried.
    sniffed = check(body, policy, record.peer or "")
    return sniffed.header, sniffed.rejection


def _fresh_headers(header: Header, original_id: str) -> dict[str, str]:
    """The listener's routing facts of the bytes as read today, received now, marked as a
    retry of the rejected record. No verdict and no ACK code: nobody was acknowledged for it
    (the worker files a message without a verdict like an accepted one)."""
    return {h.SENDER: header.sender, h.CONTROL_ID: header.control_id, h.TYPE: header.type,
            h.VERSION: header.version, h.RECEIVED_AT: datetime.now(UTC).isoformat(),
            h.REPLAY_OF: original_id}


def _event(record: MessageRecord, outcome: AuditOutcome, reason: str,
           by: Operator | None) -> AuditEvent:
    return AuditEvent(actor=Actor.OPERATOR, action=AuditAction.MESSAGE_RETRIED, outcome=outcome,
                      reason=reason, patient_id=record.patient_id, message_id=record.id,
                      operator=by.name if by else None)


def _with_status(uow: UnitOfWork, records: list[MessageRecord]) -> list[dict]:
    ids = [r.id for r in records]
    retries = uow.messages.replays_of(ids) if ids else {}
    later = later_replays(uow, retries)
    events = uow.audit.for_messages(ids, AuditAction.MESSAGE_RETRIED) if ids else {}
    rows = []
    for record in records:
        mine = retries.get(record.id, [])
        published = [e for e in events.get(record.id, []) if e.outcome == AuditOutcome.OK]
        settled = [r.id for r in mine + later.get(record.id, []) if r.state in SETTLED]
        status = RESOLVED if settled else RETRIED if mine or published else OPEN
        row = message_row(record)
        del row["state"], row["replay_of"]  # always "rejected"; a frame, never a replay
        row.update(ack_code=record.ack_code, err_code=err_code_of(record), status=status,
                   resolved_by=settled[0] if settled else None,
                   retries=[{"id": r.id, "state": r.state.value} for r in mine],
                   last_retried_at=iso(published[-1].at) if published else None)
        rows.append(row)
    return rows

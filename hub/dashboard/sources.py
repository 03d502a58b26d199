"""What the dashboard shows, read through the operator functions the CLI uses (hub/ops), so
both tell the same numbers. Nothing here decrypts: ids, kinds, states and reasons only.
"""
from __future__ import annotations

import re
from datetime import datetime

from hub.domain.delivery import Delivery, DeliveryState
from hub.domain.models import MessageState
from hub.domain.ports import UnitOfWorkFactory
from hub.ops import NotFound, dlq
from hub.ops import trace as tracing

LIMIT = 200


def delivery_row(d: Delivery) -> dict:
    """A delivery as the dashboard lists it (the patient only as the hub's internal id)."""
    return {"id": d.id, "message_id": d.message_id, "recipient": d.recipient,
            "destination": d.destination, "control_id": d.control_id, "state": d.state.value,
            "attempts": d.attempts, "last_error": d.last_error or "", "ack_code": d.ack_code or "",
            "updated_at": _iso(d.updated_at)}


def parked(unit_of_work: UnitOfWorkFactory) -> dict:
    """`hub dlq list` (parked messages with reason, reason class and replay status) and the
    parked deliveries (`hub deliveries list --state parked`), newest first."""
    with unit_of_work() as uow:
        listed = dlq.list_parked(uow, limit=LIMIT)
        held = uow.deliveries.search(DeliveryState.PARKED, limit=LIMIT)
    return {"messages": listed["parked"], "deliveries": [delivery_row(d) for d in held]}


def destinations(unit_of_work: UnitOfWorkFactory, document: dict) -> list[dict]:
    """Each destination of a status document: deliveries by state, delivery rate, oldest
    pending age, and its last error (from its most recently changed deliveries)."""
    with unit_of_work() as uow:
        recent = uow.deliveries.search(None, limit=1000)
    failed: dict[str, Delivery] = {}
    latest: dict[str, Delivery] = {}
    for d in recent:  # most recently changed first
        latest.setdefault(d.destination, d)
        if d.last_error:
            failed.setdefault(d.destination, d)
    rows = []
    for name, counts in document.get("deliveries_by_destination", {}).items():
        figures = document.get("destinations", {}).get(name, {})
        error = failed.get(name)
        # Failing while its newest outcome is a failure or anything of it is parked.
        last = latest.get(name)
        failing = counts.get("parked", 0) > 0 or (last is not None and last.last_error is not None
                                                   and last.state is not DeliveryState.DELIVERED)
        rows.append({"destination": name, "counts": counts, "healthy": not failing,
                     "delivered_per_s": figures.get("delivered_per_s", {}),
                     "oldest_pending_age_s": figures.get("oldest_pending_age_s"),
                     "last_error": error.last_error if error else "",
                     "last_error_at": _iso(error.updated_at) if error else ""})
    return rows


def errors(unit_of_work: UnitOfWorkFactory, limit: int = 50, window: int = 2000) -> list[dict]:
    """The latest errors grouped by reason: rejected and parked messages and failed delivery
    attempts (the newest `window` of each), one row per (what, state, reason_key), with its
    count, the senders or destinations it came from and its newest example; the `limit`
    groups with the newest examples, newest first. A flood of one junk frame is one row, so
    it cannot push a real sender's errors off the page."""
    with unit_of_work() as uow:
        bad = (uow.messages.search(state=MessageState.REJECTED, limit=window)
               + uow.messages.search(state=MessageState.PARKED, limit=window))
        recent = uow.deliveries.search(None, limit=window)
    rows = [{"at": _iso(m.received_at), "what": "message", "id": m.id, "state": m.state.value,
             "where": m.sender, "control_id": m.control_id, "reason": m.reason or ""} for m in bad]
    rows += [{"at": _iso(d.updated_at), "what": "delivery", "id": d.id, "state": d.state.value,
              "where": d.destination, "control_id": d.control_id, "reason": d.last_error}
             for d in recent if d.last_error]
    rows.sort(key=lambda r: r["at"], reverse=True)
    groups: dict[tuple[str, str, str], dict] = {}
    for row in rows:  # newest first: a group's first row is its example
        group = groups.get(key := (row["what"], row["state"], reason_key(row["reason"])))
        if group is None:
            groups[key] = group = {**row, "reason_key": key[2], "count": 0, "wheres": []}
        group["count"] += 1
        if row["where"] not in group["wheres"]:
            group["wheres"].append(row["where"])
    return list(groups.values())[:limit]


_TOKEN = re.compile(r"[a-zé]+")


def reason_key(reason: str) -> str:
    """What the texts of one kind of error share: the words before the first colon, any word
    that is not plain lower-case letters (a number, an id, a value quoted from the message)
    shown as "…", at most 12 words. "HL7 version 9.9 (MSH-12) is not supported (accepted: …)"
    and "message of 123 bytes refused: …" each make one group whatever the sender sent."""
    head = reason.split(":", 1)[0]
    words = [w if _TOKEN.fullmatch(w) else "…" for w in head.split()[:12]]
    return " ".join(w for n, w in enumerate(words) if w != "…" or n == 0 or words[n - 1] != "…")


def trace(unit_of_work: UnitOfWorkFactory, key: str) -> dict:
    """`hub trace KEY` (by message id or MSH-10): {"trace": document} for one message,
    {"candidates": [message rows]} when several carry that MSH-10, {"missing": True} when none."""
    with unit_of_work() as uow:
        try:
            return {"trace": tracing.trace(uow, key)}
        except tracing.Ambiguous as exc:
            return {"candidates": exc.candidates}
        except NotFound:
            return {"missing": True}


def _iso(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else ""

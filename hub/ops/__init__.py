"""Operator reads and actions shared by the `hub` command and a web dashboard.

Functions here take a unit of work (or a factory of them) and return plain dicts and lists
that are JSON-ready (times as ISO 8601 strings); they never print. Nothing here sees a key:
raw bytes come decrypted from the store's repositories.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import datetime

from hub.domain.models import MessageRecord, MessageState
from hub.domain.ports import UnitOfWork
from hub.errors import HubError


class NotFound(HubError):
    """No message answers to the id or control id asked for."""


def iso(value: datetime | None) -> str | None:
    """A time as ISO 8601 text, None kept."""
    return value.isoformat() if value is not None else None


def message_row(record: MessageRecord) -> dict:
    """The clear facts of one message, as `hub messages --json` shows them plus reason and
    replay link."""
    return {"id": record.id, "sender": record.sender, "control_id": record.control_id,
            "type": record.type, "state": record.state.value,
            "received_at": iso(record.received_at), "reason": record.reason,
            "replay_of": record.replay_of}


def select_ids(uow: UnitOfWork, ids: Iterable[str], state: MessageState,
               fits: Callable[[MessageRecord], bool], misfit: str,
               ) -> tuple[list[str], list[dict]]:
    """Which of `ids` (each once, in order) an operator action takes: the messages in `state`
    that `fits`; the others refused with why (no such message, another state, or `misfit`).
    Returns (ids taken, refused [{"id", "reason"}])."""
    chosen, refused = [], []
    for id in dict.fromkeys(ids):
        record = uow.messages.get(id)
        if record is None:
            refused.append({"id": id, "reason": "no such message"})
        elif record.state is not state:
            refused.append({"id": id, "reason": f"not {state.value} ({record.state.value})"})
        elif not fits(record):
            refused.append({"id": id, "reason": misfit})
        else:
            chosen.append(id)
    return chosen, refused


def run_each(ids: list[str], one: Callable[[str], dict], summary: dict, *,
             stop: threading.Event | None = None,
             progress: Callable[[dict], None] | None = None) -> dict:
    """Call `one` on each id in order and file its result in `summary` under the result's
    "outcome"; `stop` set (Ctrl-C) ends the run between two ids, a result marked "broker_away"
    ends it after that id, and either way `summary["not_done"]` names the rest. `progress` is
    called after each id. Returns `summary`."""
    for n, id in enumerate(ids):
        if stop is not None and stop.is_set():
            summary["interrupted"], summary["not_done"] = True, list(ids[n:])
            break
        result = one(id)
        broker_away = result.pop("broker_away", False)
        summary[result.pop("outcome")].append(result)
        if progress is not None:
            progress(result)
        if broker_away:
            summary["not_done"] = list(ids[n + 1:])  # the broker is away: stop, say what is left
            break
    return summary

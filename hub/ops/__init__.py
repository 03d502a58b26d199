"""Operator reads and actions shared by the `hub` command and a web dashboard.

Functions here take a unit of work (or a factory of them) and return plain dicts and lists
that are JSON-ready (times as ISO 8601 strings); they never print. Nothing here sees a key:
raw bytes come decrypted from the store's repositories.
"""
from __future__ import annotations

from datetime import datetime

from hub.domain.models import MessageRecord
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

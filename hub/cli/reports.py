"""Commands that report: messages, and status (rendered by hub/cli/status_view.py from
hub/ops/status.py's document; `hub dossier show` is in hub/cli/dossier_view.py)."""
from __future__ import annotations

import argparse

from hub.bootstrap import Hub
from hub.cli.output import print_json, print_table
from hub.cli.status_view import status  # noqa: F401 - `hub status`, wired as reports.status
from hub.settings import Settings


def messages(args: argparse.Namespace, settings: Settings) -> int:
    """Find messages by state, sender or control id, newest first."""
    hub = _open_hub(settings)
    with hub.unit_of_work() as uow:
        found = uow.messages.search(
            state=args.state, sender=args.sender, control_id=args.control_id, limit=args.limit)
    rows = [{"id": m.id, "sender": m.sender, "control_id": m.control_id, "type": m.type,
             "state": m.state.value, "received_at": m.received_at, "ack_code": m.ack_code,
             "reason": m.reason} for m in found]
    if args.json:
        print_json(rows)
    else:
        print_table(["id", "received at", "sender", "control id", "type", "state", "reason"],
                    [(r["id"], r["received_at"].isoformat(timespec="seconds"), r["sender"],
                      r["control_id"], r["type"], r["state"], r["reason"] or "") for r in rows])
    return 0


def _open_hub(settings: Settings) -> Hub:
    """A hub on its existing database, schema current (a missing one: an error naming it)."""
    hub = Hub(settings)
    hub.open_database()
    return hub


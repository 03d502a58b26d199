"""`hub trace`: where did message X go? By message id or control id, the story of one message;
with filters instead (--sender, --control-id, --matricule, --type, --since, --until, --state),
the messages that match. What is shown comes from hub/ops/trace.py, which a dashboard reads too.
"""
from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from rich.table import Table

from hub.bootstrap import Hub
from hub.cli.dlq_cmd import people_console, short_time
from hub.cli.output import positive_count, print_json
from hub.domain.models import MessageState
from hub.ops import trace as ops
from hub.settings import Settings
from hub.text import inert


def register(subparsers) -> None:
    """Add `hub trace …` to the command."""
    p = subparsers.add_parser("trace", help="the story of one message, or find messages")
    p.add_argument("key", nargs="?", metavar="CONTROL_ID|MESSAGE_ID")
    p.add_argument("--sender", help="the sender (MSH-3^MSH-4) when a control id is shared")
    p.add_argument("--control-id")
    p.add_argument("--matricule", help="the patient's (matched through its keyed hash)")
    p.add_argument("--type", help="message type, e.g. ORU^R01")
    p.add_argument("--since", type=instant, help="received at or after (ISO 8601; UTC if no "
                   "offset)")
    p.add_argument("--until", type=instant, help="received before (ISO 8601)")
    p.add_argument("--state", choices=[s.value for s in MessageState])
    p.add_argument("--limit", type=positive_count, default=1000)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=trace)


def trace(args: argparse.Namespace, settings: Settings) -> int:
    """One message's story (with KEY) or the messages matching the filters."""
    hub = Hub(settings)
    hub.open_database()
    try:
        with hub.unit_of_work() as uow:
            if args.key is None:
                document = ops.search(uow, sender=args.sender, control_id=args.control_id,
                                      matricule=args.matricule, type=args.type,
                                      since=args.since, until=args.until, state=args.state,
                                      limit=args.limit)
            else:
                document = ops.trace(uow, args.key, args.sender)
    except ops.Ambiguous as exc:
        for row in exc.candidates:
            print(inert(f"  {row['id']}  {row['sender']}  {row['type']}  {row['state']}  "
                        f"{row['received_at']}"), file=sys.stderr)
        raise
    finally:
        hub.close()
    if args.json:
        print_json(document)
    elif args.key is None:
        _print_found(document)
    else:
        _print_story(document)
    return 0


def instant(text: str) -> datetime:
    """An argparse type for --since/--until: an ISO 8601 date or time, UTC when no offset."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("not an ISO 8601 date or time") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _print_found(rows: list[dict]) -> None:
    table = Table(title=f"{len(rows)} message(s)")
    table.add_column("id", no_wrap=True)
    for name in ("sender", "control id", "type", "state", "received"):
        table.add_column(name)
    for row in rows:
        table.add_row(row["id"], row["sender"], row["control_id"], row["type"], row["state"],
                      short_time(row["received_at"]))
    people_console().print(table)


def _print_story(doc: dict) -> None:
    console = people_console()
    m = doc["message"]
    console.print(f"{m['type']} {m['control_id']} from {m['sender']}: {m['state']}  "
                  f"(message {m['id']})")
    table = Table("at", "event", "detail")
    table.columns[0].no_wrap = True
    for step in doc["story"]:
        table.add_row(short_time(step["at"]), step["event"], step["detail"])
    console.print(table)
    if doc["entries"]:
        entries = Table("entry", "kind", "confidentiality", "hidden", title="entries")
        entries.columns[0].no_wrap = True
        for e in doc["entries"]:
            entries.add_row(e["id"], e["kind"], e["confidentiality"], str(e["hidden"]))
        console.print(entries)
    if doc["decisions"]:
        decisions = Table("recipient", "decision", "reason", "audit", title="routing")
        for d in doc["decisions"]:
            decisions.add_row(d["recipient"], d["decision"], d["reason"],
                              "" if d["audit_seq"] is None else f"#{d['audit_seq']}")
        console.print(decisions)

"""`hub dlq list|show|replay`: parked messages, and a second go at them.

What is shown comes from hub/ops/dlq.py, which a dashboard reads too. The raw bytes hold
patient data: `dlq show` prints them only with `--raw`, and that read is in the patient's
journal (actor operator, named by --operator, HUB_OPERATOR or the OS user). A replay can be interrupted with Ctrl-C: the message in hand is finished (published,
confirmed, audited), the rest are listed as not done, and the exit code is 130.
"""
from __future__ import annotations

import argparse
import logging
import sys
import threading

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from hub.bootstrap import Hub
from hub.cli.acting import add_operator_option, operator
from hub.cli.interrupt import ctrl_c_noted
from hub.cli.output import PeopleConsole, positive_count, print_json
from hub.inbound.rerouting import body_router
from hub.domain.operator import Operator
from hub.errors import HubError
from hub.mapping.policy import ReadingPolicy
from hub.ops import dlq
from hub.settings import Settings
from hub.text import inert

EXIT_INTERRUPTED = 130


def register(subparsers) -> None:
    """Add `hub dlq …` to the command."""
    p = subparsers.add_parser("dlq", help="parked messages: list, show, replay")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    c = actions.add_parser("list", help="parked messages, newest first")
    c.add_argument("--reason", metavar="R", help="reason class (unmapped, conflict, …) or "
                   "a part of the reason")
    c.add_argument("--limit", type=positive_count, default=1000)
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=list_parked)
    c = actions.add_parser("show", help="one parked message's record and replays")
    c.add_argument("id", metavar="ID")
    c.add_argument("--raw", action="store_true",
                   help="also print the bytes as received (patient data; the read is journaled)")
    add_operator_option(c)
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=show)
    c = actions.add_parser("replay", help="republish parked messages to the inbound queue")
    which = c.add_mutually_exclusive_group(required=True)
    which.add_argument("ids", nargs="*", default=[], metavar="ID")
    which.add_argument("--all", action="store_true", help="every open parked message")
    c.add_argument("--reason", metavar="R", help="only parked messages with this reason")
    c.add_argument("--json", action="store_true")
    add_operator_option(c)
    c.set_defaults(func=replay)


def list_parked(args: argparse.Namespace, settings: Settings) -> int:
    """Print the parked messages as a table or one JSON document."""
    hub = _hub(settings)
    try:
        with hub.unit_of_work() as uow:
            document = dlq.list_parked(uow, args.reason, args.limit)
    finally:
        hub.close()
    if args.json:
        print_json(document)
        return 0
    table = Table(title=f"{len(document['parked'])} parked message(s)")
    table.add_column("id", no_wrap=True)
    for name in ("sender", "control id", "type", "received", "reason", "status"):
        table.add_column(name)
    for row in document["parked"]:
        table.add_row(row["id"], row["sender"], row["control_id"], row["type"],
                      short_time(row["received_at"]), row["reason"] or "", row["status"])
    console = people_console()
    console.print(table)
    if document["parked_deliveries"]:
        console.print(f"{document['parked_deliveries']} parked outbound deliveries: "
                      "`hub deliveries list --state parked`, `hub deliveries replay`")
    return 0


def show(args: argparse.Namespace, settings: Settings) -> int:
    """Print one message's record (and with --raw its bytes)."""
    hub = _hub(settings)
    try:
        row = dlq.show_parked(hub.unit_of_work, args.id, by=operator(args), raw=args.raw,
                              policy=ReadingPolicy(
                                  fallback_charset=settings.hl7.fallback_charset,
                                  authorities=frozenset(settings.identity.matricule_authorities)))
    finally:
        hub.close()
    if args.json:
        print_json(row)
        return 0
    raw = row.pop("raw", None)
    row["replays"] = ", ".join(f"{r['id']} ({r['state']})" for r in row["replays"])
    for key, value in row.items():
        print(f"{key:16} {inert(str(value)) if value is not None else ''}")
    if raw is not None:
        print("raw:")
        for line in raw.replace("\r\n", "\r").replace("\n", "\r").rstrip("\r").split("\r"):
            print(inert(line))
    return 0


def replay(args: argparse.Namespace, settings: Settings) -> int:
    """Republish parked messages with a progress bar; a summary at the end."""
    # pika logs an unreachable broker itself, traceback included; the summary names it.
    logging.getLogger("pika").setLevel(logging.CRITICAL)
    by = operator(args)
    hub = _hub(settings)
    try:
        with ctrl_c_noted() as stop:
            with hub.unit_of_work() as uow:
                ids, refused = dlq.replay_selection(uow, args.ids, every_open=args.all,
                                                    reason=args.reason)
            summary = _run(hub, ids, stop, quiet=args.json, by=by)
    finally:
        hub.close()
    summary["refused"] = refused + summary["refused"]
    summary["requested"] += len(refused)
    if args.json:
        print_json(summary)
    else:
        print(f"{len(summary['replayed'])} replayed, {len(summary['refused'])} refused, "
              f"{len(summary['failed'])} failed" + (f", {len(summary['not_done'])} not done "
                                                    "(interrupted)" if summary["interrupted"]
                                                    else ""))
        for item in summary["replayed"]:
            print(f"  {item['id']} -> {item['replay_id']}")
        for item in summary["refused"] + summary["failed"]:
            print(f"  {item['id']}: {item['reason']}", file=sys.stderr)
    if summary["interrupted"]:
        return EXIT_INTERRUPTED
    if summary["refused"] or summary["failed"]:
        raise HubError(f"{len(summary['refused']) + len(summary['failed'])} not replayed")
    return 0


def _run(hub: Hub, ids: list[str], stop: threading.Event, quiet: bool, by: Operator) -> dict:
    # Each message to its patient's partition, as the listener would choose it.
    queue = body_router(hub.keyring, hub.topology, hub.intake_policy)
    columns = (TextColumn("replaying"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=Console(stderr=True), disable=quiet or not ids) as bar:
        task = bar.add_task("replay", total=len(ids))
        return dlq.replay_messages(hub.unit_of_work, hub.broker, queue, ids, stop=stop,
                                   progress=lambda _: bar.advance(task), by=by)


def people_console() -> Console:
    """A console for tables: no markup (reasons and senders are data and may hold square
    brackets), control characters shown inert, and wide when piped so that ids are never cut."""
    console = PeopleConsole()
    return console if console.is_terminal else PeopleConsole(width=200)


def short_time(value: str | None) -> str:
    """An ISO time to the second, for a table cell."""
    return (value or "")[:19].replace("T", " ")


def _hub(settings: Settings) -> Hub:
    hub = Hub(settings)
    hub.open_database()
    return hub

"""`hub rejected list|retry`: messages the listener refused, and a second check of them.

What is shown and done comes from hub/ops/rejected.py. A retry runs today's listener checks
over the kept bytes; those that pass are published to the inbound queue (the broker's confirm
awaited) and filed by the worker like any message. Ctrl-C finishes the record in hand and lists
the rest as not done (exit 130); `--dry-run` publishes and changes nothing.
"""
from __future__ import annotations

import argparse
import logging
import threading

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from hub.bootstrap import Hub
from hub.cli.acting import add_operator_option, operator
from hub.cli.dlq_cmd import EXIT_INTERRUPTED, people_console, short_time
from hub.cli.interrupt import ctrl_c_noted
from hub.cli.output import positive_count, print_json
from hub.cli.trace_cmd import instant
from hub.inbound.rerouting import body_router
from hub.domain.operator import Operator
from hub.errors import HubError
from hub.ops import rejected
from hub.settings import Settings
from hub.text import inert


def register(subparsers) -> None:
    """Add `hub rejected …` to the command."""
    p = subparsers.add_parser("rejected", help="refused messages: list, retry under today's rules")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    c = actions.add_parser("list", help="rejected messages, newest first, with retry status")
    _filters(c)
    c.add_argument("--since", type=instant, help="received at or after (ISO 8601; UTC if no "
                   "offset)")
    c.add_argument("--until", type=instant, help="received before (ISO 8601)")
    c.add_argument("--limit", type=positive_count, default=1000)
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=list_rejected)
    c = actions.add_parser("retry", help="check rejected messages again; publish those that "
                           "pass to the inbound queue")
    which = c.add_mutually_exclusive_group(required=True)
    which.add_argument("ids", nargs="*", default=[], metavar="ID")
    which.add_argument("--all", action="store_true", help="every open rejected message")
    _filters(c)
    c.add_argument("--dry-run", action="store_true",
                   help="say what would pass and what would still fail; publish nothing")
    c.add_argument("--json", action="store_true")
    add_operator_option(c)
    c.set_defaults(func=retry)


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reason", metavar="R", help="a part of the reason (case-insensitive)")
    parser.add_argument("--code", type=int, metavar="C", help="ERR-3, e.g. 102")


def list_rejected(args: argparse.Namespace, settings: Settings) -> int:
    """Print the rejected messages as a table or one JSON document."""
    hub = _hub(settings)
    try:
        with hub.unit_of_work() as uow:
            document = rejected.list_rejected(uow, reason=args.reason, code=args.code,
                                              since=args.since, until=args.until,
                                              limit=args.limit)
    finally:
        hub.close()
    if args.json:
        print_json(document)
        return 0
    table = Table(title=f"{len(document['rejected'])} rejected message(s)")
    table.add_column("id", no_wrap=True)
    for name in ("sender", "control id", "type", "received", "ACK", "reason", "status"):
        table.add_column(name)
    for row in document["rejected"]:
        ack = f"{row['ack_code'] or ''} {row['err_code'] or ''}".strip()
        table.add_row(row["id"], row["sender"], row["control_id"], row["type"],
                      short_time(row["received_at"]), ack, row["reason"] or "", row["status"])
    people_console().print(table)
    return 0


def retry(args: argparse.Namespace, settings: Settings) -> int:
    """Check rejected messages again with a progress bar; a summary at the end."""
    # pika logs an unreachable broker itself, traceback included; the summary names it.
    logging.getLogger("pika").setLevel(logging.CRITICAL)
    by = operator(args)
    hub = _hub(settings)
    try:
        with ctrl_c_noted() as stop:
            with hub.unit_of_work() as uow:
                ids, refused = rejected.retry_selection(uow, args.ids, every_open=args.all,
                                                        reason=args.reason, code=args.code)
            summary = _run(hub, ids, stop, dry_run=args.dry_run, quiet=args.json, by=by)
    finally:
        hub.close()
    summary["refused"] = refused + summary["refused"]
    summary["requested"] += len(refused)
    if args.json:
        print_json(summary)
    else:
        _print_summary(summary)
    if summary["interrupted"]:
        return EXIT_INTERRUPTED
    not_retried = summary["refused"] + summary["failed"]
    if len(not_retried) == 1:
        raise HubError(f"not retried: {not_retried[0]['id']}: {not_retried[0]['reason']}")
    if not_retried:
        raise HubError(f"{len(not_retried)} not retried (listed above)")
    return 0


def _print_summary(summary: dict) -> None:
    passed = "would pass" if summary["dry_run"] else "passed and published"
    still = "would still be rejected" if summary["dry_run"] else "still rejected"
    print(f"{len(summary['passed'])} {passed}, {len(summary['still_rejected'])} {still}, "
          f"{len(summary['refused'])} refused, {len(summary['failed'])} failed"
          + (f", {len(summary['not_done'])} not done (interrupted)" if summary["interrupted"]
             else ""))
    for item in summary["passed"]:
        print(f"  {item['id']}" + (f" -> {item['retry_id']}" if item["retry_id"] else ""))
    for item in summary["still_rejected"]:
        print(inert(f"  {item['id']}: {item['ack_code']} {item['err_code']} {item['reason']}"))
    for item in summary["refused"] + summary["failed"]:  # the error line on stderr counts them
        print(inert(f"  {item['id']}: {item['reason']}"))


def _run(hub: Hub, ids: list[str], stop: threading.Event, *, dry_run: bool,
         quiet: bool, by: Operator) -> dict:
    # Each message to its patient's partition, as the listener would choose it.
    queue = body_router(hub.keyring, hub.topology, hub.intake_policy)
    columns = (TextColumn("checking" if dry_run else "retrying"), BarColumn(),
               MofNCompleteColumn())
    # A dry run never connects to the broker: `hub.broker` is built on first use.
    broker = None if dry_run else hub.broker
    with Progress(*columns, console=Console(stderr=True), disable=quiet or not ids) as bar:
        task = bar.add_task("retry", total=len(ids))
        return rejected.retry_messages(hub.unit_of_work, broker, queue, hub.intake_policy, ids,
                                       dry_run=dry_run, stop=stop,
                                       progress=lambda _: bar.advance(task), by=by)


def _hub(settings: Settings) -> Hub:
    hub = Hub(settings)
    hub.open_database()
    return hub

"""`hub remap`: run today's mappings over stored messages again (hub/ops/remap.py says what
changes and what does not), with a progress bar and a summary. Ctrl-C stops between two
messages: each one is settled whole, and a second run skips what is already right."""
from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from hub.bootstrap import Hub
from hub.cli.acting import add_operator_option, operator
from hub.cli.dlq_cmd import EXIT_INTERRUPTED
from hub.cli.interrupt import ctrl_c_noted
from hub.cli.output import print_json
from hub.cli.trace_cmd import instant
from hub.errors import HubError
from hub.ops.remap import remap_messages
from hub.settings import Settings


def register(subparsers) -> None:
    """Add `hub remap` to the command."""
    p = subparsers.add_parser("remap", help="re-map stored messages with today's mappings "
                              "(after a mapping was fixed); --dry-run says what would change")
    p.add_argument("ids", nargs="*", default=[], metavar="ID", help="only these messages")
    p.add_argument("--type", help="message type, e.g. ORU^R01")
    p.add_argument("--sender", help="the sender (MSH-3^MSH-4)")
    p.add_argument("--since", type=instant, help="received at or after (ISO 8601)")
    p.add_argument("--until", type=instant, help="received before (ISO 8601)")
    p.add_argument("--dry-run", action="store_true", help="change nothing, count what would")
    p.add_argument("--json", action="store_true")
    add_operator_option(p)
    p.set_defaults(func=remap)


def remap(args: argparse.Namespace, settings: Settings) -> int:
    """Re-map the selected stored messages; exit 1 when one failed, 130 when interrupted."""
    by = operator(args)
    hub = Hub(settings)
    hub.open_database()
    try:
        with ctrl_c_noted() as stop:
            with hub.unit_of_work() as uow:
                ids = uow.messages.stored_ids(type=args.type, sender=args.sender,
                                              since=args.since, until=args.until)
            if args.ids:
                wanted = set(args.ids)
                ids = [id for id in ids if id in wanted]
                missing = sorted(wanted.difference(ids))
            else:
                missing = []
            columns = (TextColumn("re-mapping"), BarColumn(), MofNCompleteColumn())
            with Progress(*columns, console=Console(stderr=True),
                          disable=args.json or not ids) as bar:
                task = bar.add_task("remap", total=len(ids))
                summary = remap_messages(hub.unit_of_work, hub.mappings, hub.routing_policy, ids,
                                         dry_run=args.dry_run, stop=stop,
                                         progress=lambda _: bar.advance(task), by=by)
    finally:
        hub.close()
    summary["failed"] += [{"id": id, "reason": "no stored message with this id among those "
                                               "selected"} for id in missing]
    summary["requested"] += len(missing)
    if args.json:
        print_json(summary)
    else:
        _print(summary)
    if summary["interrupted"]:
        return EXIT_INTERRUPTED
    if summary["failed"]:
        raise HubError(f"{len(summary['failed'])} message(s) not re-mapped")
    return 0


def _print(summary: dict) -> None:
    changed = "would change" if summary["dry_run"] else "changed"
    print(f"{summary['requested']} message(s): {len(summary['changed'])} {changed}, "
          f"{summary['unchanged']} unchanged, {len(summary['failed'])} failed, "
          f"{len(summary['skipped'])} skipped"
          + (f", {summary['not_done']} not done (interrupted)" if summary["interrupted"] else ""))
    for item in summary["changed"]:
        print(f"  {item['id']}: {item['updated']} updated, {item['added']} added, "
              f"{item['removed']} removed")
    for item in summary["failed"] + summary["skipped"]:
        print(f"  {item['id']}: {item['reason']}", file=sys.stderr)

"""`hub professionals import FILE` and `hub professionals list`: the registry. An import shows
a progress bar; Ctrl-C stops it before its one commit, so nothing of the file is stored
(exit 130)."""
from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from hub.bootstrap import Hub
from hub.cli.dlq_cmd import EXIT_INTERRUPTED
from hub.cli.interrupt import ctrl_c_noted
from hub.cli.output import print_json, print_table
from hub.domain.professional import Professional, ProfessionalStatus
from hub.registry.csv_import import ImportInterrupted, import_csv
from hub.settings import Settings

EXIT_REJECTED = 1


def register(subparsers) -> None:
    """Add `professionals import` and `professionals list` to the `hub` command."""
    p = subparsers.add_parser("professionals", help="the professionals registry")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    load = actions.add_parser("import", help="add or update professionals from a CSV file")
    load.add_argument("file", metavar="FILE")
    load.add_argument("--json", action="store_true")
    load.set_defaults(func=import_file)
    show = actions.add_parser("list", help="the registered professionals")
    show.add_argument("--status", choices=[s.value for s in ProfessionalStatus])
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=list_professionals)


def import_file(args: argparse.Namespace, settings: Settings) -> int:
    """Import a CSV file; exit 1 when any row was rejected (the good rows are stored)."""
    hub = _open_hub(settings)
    columns = (TextColumn("importing"), BarColumn(), MofNCompleteColumn())
    console = Console(stderr=True)  # a bar for people at a terminal; a script reads the summary
    try:
        with ctrl_c_noted() as stop, \
                Progress(*columns, console=console,
                         disable=args.json or not console.is_terminal) as bar, \
                hub.unit_of_work() as uow:
            task = bar.add_task("import", total=None)
            report = import_csv(args.file, uow, stop=stop, progress=lambda done, total:
                                bar.update(task, completed=done, total=total))
    except ImportInterrupted as exc:
        print(f"hub: {exc}", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        hub.close()
    if args.json:
        print_json(report.as_dict())
    else:
        print(f"added {report.added}, updated {report.updated}, unchanged {report.unchanged}, "
              f"rejected {len(report.rejected)}")
        for rejection in report.rejected:
            print(f"line {rejection.line}: {rejection.reason}")
    if report.rejected:
        print(f"hub: {len(report.rejected)} row(s) rejected", file=sys.stderr)
        return EXIT_REJECTED
    return 0


def list_professionals(args: argparse.Namespace, settings: Settings) -> int:
    """The registry, by CNS code; only one status with `--status`."""
    hub = _open_hub(settings)
    try:
        with hub.unit_of_work() as uow:
            found = uow.professionals.list(status=args.status)
    finally:
        hub.close()
    rows = [as_document(p) for p in found]
    if args.json:
        print_json(rows)
        return 0
    print_table(["cns code", "name", "specialty", "status", "destination"],
                [(r["cns_code"], f"{r['family_name']}, {r['given_name']}".strip(", "),
                  r["specialty"], r["status"], _destination_text(r["destination"]))
                 for r in rows])
    return 0


def as_document(professional: Professional) -> dict:
    """A professional as `hub professionals list --json` prints it."""
    d = professional.destination
    return {
        "cns_code": professional.cns_code,
        "family_name": professional.family_name,
        "given_name": professional.given_name,
        "specialty": professional.specialty,
        "status": professional.status.value,
        "can_receive": professional.can_receive,
        "destination": None if d is None else {
            "host": d.host, "port": d.port, "receiving_application": d.receiving_application,
            "receiving_facility": d.receiving_facility, "tls": d.tls},
    }


def _destination_text(destination: dict | None) -> str:
    if destination is None:
        return ""
    scheme = "mllps" if destination["tls"] else "mllp"
    return (f"{scheme}://{destination['host']}:{destination['port']} "
            f"{destination['receiving_application']}^{destination['receiving_facility']}")


def _open_hub(settings: Settings) -> Hub:
    """A hub on its existing database, schema current (Hub.open_database: a missing one is an
    error naming it, never a new empty registry)."""
    hub = Hub(settings)
    hub.open_database()
    return hub

"""`hub status`: the collector's document (hub/ops/status.py) as tables for people, or as one
JSON document for scripts.

Exit codes: 0 when the database and the broker both answered, healthy or not (the health line
says which); 3 when the broker could not be reached (the database's numbers are still shown,
and stderr says so); 1 when the database could not be read (from `hub`'s error handling).
"""
from __future__ import annotations

import argparse
import logging
import sys
from datetime import datetime

from rich.console import Console
from rich.table import Table

from hub.bootstrap import Hub
from hub.cli.output import print_json
from hub.compose import status_sources
from hub.domain.delivery import DeliveryState
from hub.ops.status import collect_status
from hub.settings import Settings
from hub.store.lane_leases import LaneLeaseStore

EXIT_BROKER_UNREACHABLE = 3


def status(args: argparse.Namespace, settings: Settings) -> int:
    """Is the hub healthy: queues, rates, messages and deliveries by state, oldest waits."""
    # pika logs an unreachable broker (with a traceback) and every missing queue itself; this
    # command reports both in its own words.
    logging.getLogger("pika").setLevel(logging.CRITICAL)
    hub = Hub(settings)
    try:
        hub.open_database()  # a missing database is exit 1 naming it, never "healthy"
        document = collect_status(status_sources(hub))
        document["lanes"] = lane_owners(LaneLeaseStore(hub.engine), hub.clock())
    finally:
        hub.close()
    if args.json:
        print_json(document)
    else:
        console = Console()
        # Piped or captured output would be cut at 80 columns: give the tables room instead.
        render(document, console if console.is_terminal else Console(width=200))
    if not document["broker"]["reachable"]:
        print(f"hub: broker unreachable ({document['broker']['error']}); the numbers shown are "
              "the database's only", file=sys.stderr)
        return EXIT_BROKER_UNREACHABLE
    return 0


def lane_owners(store: LaneLeaseStore, now: datetime) -> dict:
    """Which sender process owns which destination's lane now (hub/outbound/lanes.py), and
    the senders alive: {"senders": [owner], "owners": {destination: owner}}. An owner is
    `host:pid:tag`."""
    return {"senders": store.senders(now),
            "owners": {lease.destination: lease.owner for lease in store.holders(now)}}


def render(document: dict, console: Console) -> None:
    """Print the document as a health line and tables."""
    health = document["health"]
    console.print(health["summary"], style="bold green" if health["healthy"] else "bold red",
                  markup=False, highlight=False)
    for warning in document.get("warnings", []):
        console.print(f"warning: {warning}", style="bold yellow", markup=False, highlight=False)
    console.print()
    rows = [(name, n) for name, n in document["messages"].items()]
    rows += [(f"résumés {name}", n) for name, n in document.get("resumes", {}).items()]
    console.print(_table(["messages", "count"], rows))
    console.print()
    states = [state.value for state in DeliveryState]
    destinations = document["destinations"]
    table = _table(["deliveries to", *states, "delivered/s 1m", "5m", "oldest pending s",
                    "unreachable s"])
    for name, counts in document["deliveries_by_destination"].items():
        figures = destinations.get(name, {})
        rate = figures.get("delivered_per_s", {})
        table.add_row(name, *(str(counts.get(s, 0)) for s in states), _text(rate.get("1m")),
                      _text(rate.get("5m")), _text(figures.get("oldest_pending_age_s")),
                      _text(figures.get("unreachable_s")))
    table.add_row("all", *(str(document["deliveries"][s]) for s in states),
                  *(_text(document["rates"]["delivered_per_s"][w]) for w in ("1m", "5m")),
                  _text((document["oldest_unacknowledged"]["pending_delivery"] or {})
                        .get("age_s")), "", style="bold")
    console.print(table)
    console.print()
    table = _table(["queue", "depth", "consumers", "in/s 1m", "5m", "out/s 1m", "5m"])
    for name, q in document["queues"].items():
        inn, out = q.get("in_per_s", {}), q.get("out_per_s", {})
        table.add_row(name, str(q["depth"]), str(q["consumers"]), _text(inn.get("1m")),
                      _text(inn.get("5m")), _text(out.get("1m")), _text(out.get("5m")))
    if document["broker"]["reachable"]:
        console.print(table)
    else:
        console.print(f"queues: broker unreachable: {document['broker']['error']}",
                      style="red", markup=False, highlight=False)
    lanes = document.get("lanes", {})
    if lanes.get("senders"):
        console.print()
        console.print(_table(["lane", "sender"], sorted(lanes["owners"].items())))
        console.print(f"{len(lanes['senders'])} sender(s) alive", highlight=False)
    lag = document["oldest_unacknowledged"]["last_filed_lag_s"]
    if lag is not None:
        console.print(f"newest message filed {lag:g} s after its ACK", highlight=False)


def _table(headers: list[str], rows: list[tuple] = ()) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for i, header in enumerate(headers):
        table.add_column(header, no_wrap=True, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*(str(cell) for cell in row))
    return table


def _text(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"

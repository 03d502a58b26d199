"""`hub deliveries list|replay`: where stored messages went, and a second chance for parked ones.

A delivery names the patient by internal id and the recipient by CNS code: nothing here prints
patient data. Replaying puts a parked delivery back at its place in its queue: a parked
delivery held back everything behind it (same patient, same destination), so once replayed it
goes first and the rest follow in their original order. Consent is checked again before it is
sent, as for every delivery.
"""
from __future__ import annotations

import argparse

from hub.bootstrap import Hub
from hub.cli.output import positive_count, print_json, print_table
from hub.domain.delivery import DeliveryState
from hub.errors import HubError
from hub.ops import deliveries
from hub.settings import Settings


def register(subparsers) -> None:
    """Add `hub deliveries …` to the command."""
    p = subparsers.add_parser("deliveries", help="outbound deliveries: list, replay parked ones")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    c = actions.add_parser("list", help="deliveries, most recently changed first")
    c.add_argument("--state", choices=[s.value for s in DeliveryState])
    c.add_argument("--message", metavar="MESSAGE_ID", help="only the deliveries of one message")
    c.add_argument("--limit", type=positive_count, default=1000)
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=list_deliveries)
    c = actions.add_parser("replay", help="send parked deliveries again")
    which = c.add_mutually_exclusive_group(required=True)
    which.add_argument("ids", nargs="*", default=[], metavar="ID")
    which.add_argument("--all-parked", action="store_true")
    c.set_defaults(func=replay)


def list_deliveries(args: argparse.Namespace, settings: Settings) -> int:
    """Print deliveries as a table or one JSON list."""
    hub = _hub(settings)
    try:
        with hub.unit_of_work() as uow:
            found = (uow.deliveries.for_message(args.message) if args.message
                     else uow.deliveries.search(args.state, args.limit))
    finally:
        hub.close()
    if args.message and args.state:
        found = [d for d in found if d.state.value == args.state]
    rows = [{"id": d.id, "message_id": d.message_id, "recipient": d.recipient,
             "destination": d.destination, "control_id": d.control_id, "state": d.state.value,
             "attempts": d.attempts, "next_attempt_at": d.next_attempt_at,
             "last_error": d.last_error, "ack_code": d.ack_code, "updated_at": d.updated_at}
            for d in found]
    if args.json:
        print_json(rows)
    else:
        print_table(["id", "recipient", "destination", "state", "attempts", "last error"],
                    [(r["id"], r["recipient"], r["destination"], r["state"], r["attempts"],
                      r["last_error"] or "") for r in rows])
    return 0


def replay(args: argparse.Namespace, settings: Settings) -> int:
    """Put parked deliveries back in their queues; exit 1 if one named was not parked."""
    hub = _hub(settings)
    try:
        done = deliveries.replay_parked(hub.unit_of_work, args.ids, every_parked=not args.ids)
    finally:
        hub.close()
    print(f"{done['queued']} deliver{'y' if done['queued'] == 1 else 'ies'} queued again")
    if done["refused"]:
        raise HubError(f"not parked (nothing done): {', '.join(done['refused'])}")
    return 0


def _hub(settings: Settings) -> Hub:
    hub = Hub(settings)
    hub.open_database()
    return hub

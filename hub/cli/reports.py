"""Commands that report: status and messages (`hub dossier show` is in hub/cli/dossier_view.py)."""
from __future__ import annotations

import argparse

from hub.bootstrap import Hub
from hub.cli.output import print_json, print_table
from hub.domain.delivery import DeliveryState
from hub.domain.models import MessageState
from hub.errors import BrokerError
from hub.settings import Settings


def status(args: argparse.Namespace, settings: Settings) -> int:
    """Queue depths, message counts by state, delivery counts by state and by destination."""
    hub = _open_hub(settings)
    with hub.unit_of_work() as uow:
        counts = uow.messages.count_by_state()
        deliveries = uow.deliveries.counts_by_state()
        by_destination = uow.deliveries.counts_by_destination()
    document: dict = {
        "messages": {},
        "deliveries": {state.value: deliveries.get(state.value, 0) for state in DeliveryState},
        "deliveries_by_destination": by_destination,
        "queues": {},
    }
    try:
        stats = hub.broker.queue_stats()
        document["queues"] = {name: {"depth": q.depth, "consumers": q.consumers} for name, q in stats.items()}
    except BrokerError as exc:
        document["broker_error"] = str(exc)
    waiting = document["queues"].get(hub.topology.inbound, {}).get("depth", 0)
    # Every frame that got an ACK is either filed (a row) or still waiting in the inbound queue.
    document["messages"] = {"received": sum(counts.values()) + waiting, "waiting": waiting,
                            **{state.value: counts.get(state.value, 0) for state in MessageState
                               if state is not MessageState.RECEIVED}}
    hub.close()
    if args.json:
        print_json(document)
        return 0
    print_table(["messages", "count"], list(document["messages"].items()))
    print()
    print_table(["deliveries", "count"], list(document["deliveries"].items()))
    if by_destination:
        print()
        states = [state.value for state in DeliveryState]
        print_table(["destination", *states],
                    [(name, *(n.get(s, 0) for s in states)) for name, n in by_destination.items()])
    print()
    print_table(["queue", "depth", "consumers"],
                [(n, q["depth"], q["consumers"]) for n, q in document["queues"].items()])
    if "broker_error" in document:
        print(f"\nbroker: {document['broker_error']}")
    return 0


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
    """A hub whose schema is current, so that a fresh install reports zeros, not an error."""
    hub = Hub(settings)
    hub.upgrade_database()
    return hub


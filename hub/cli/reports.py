"""Commands that report: status, messages, dossier show."""
from __future__ import annotations

import argparse

from hub.bootstrap import Hub
from hub.cli.output import print_json, print_table
from hub.domain.matricule import validate
from hub.domain.models import MessageState
from hub.errors import BrokerError, UnknownMatricule
from hub.settings import Settings

DELIVERY_STATES = ("pending", "delivered", "denied", "parked")


def status(args: argparse.Namespace, settings: Settings) -> int:
    """Queue depths and message counts by state."""
    hub = _open_hub(settings)
    with hub.unit_of_work() as uow:
        counts = uow.messages.count_by_state()
    document: dict = {"messages": {}, "deliveries": dict.fromkeys(DELIVERY_STATES, 0), "queues": {}}
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


def dossier_show(args: argparse.Namespace, settings: Settings) -> int:
    """The patient's own full view of their dossier (decrypted)."""
    matricule = validate(args.matricule)
    hub = _open_hub(settings)
    with hub.unit_of_work() as uow:
        patient_id = uow.patients.find(matricule)
        if patient_id is None:
            raise UnknownMatricule("no dossier for this matricule")
        patient = uow.patients.get(patient_id)
        entries = uow.entries.for_patient(patient_id)
    document = {
        "patient": {"matricule": patient.matricule, "family_name": patient.family_name,
                    "given_name": patient.given_name, "birth_date": patient.birth_date,
                    "sex": patient.sex},
        "entries": [{"id": e.id, "kind": e.kind, "confidentiality": e.confidentiality.value,
                     "hidden": e.hidden, "effective_at": e.effective_at, "message_id": e.message_id,
                     "created_at": e.created_at, **e.payload} for e in entries],
    }
    if args.json:
        print_json(document)
        return 0
    p = document["patient"]
    print(f"{p['family_name']}, {p['given_name']}  born {p['birth_date'] or '?'}  sex {p['sex'] or '?'}")
    print_table(["when", "kind", "what"],
                [(e["effective_at"] or "", e["kind"], _summary(e)) for e in document["entries"]])
    return 0


def _open_hub(settings: Settings) -> Hub:
    """A hub whose schema is current, so that a fresh install reports zeros, not an error."""
    hub = Hub(settings)
    hub.upgrade_database()
    return hub


def _summary(entry: dict) -> str:
    skip = {"id", "kind", "confidentiality", "hidden", "effective_at", "message_id", "created_at"}
    return ", ".join(f"{k}={v}" for k, v in entry.items() if k not in skip and v not in ("", None))[:100]

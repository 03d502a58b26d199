"""`hub status` as data: what the database and the broker say about the hub, and the health
verdict on it. No printing: the CLI renders this document (tables or `--json`) and the web
dashboard serves it, so both show the same numbers.

Rates come from the store, not from RabbitMQ's management API (it is not always enabled, and
AMQP alone gives no rates): a message counts as received at its `received_at` (when the
listener ACKed it) once a worker filed it, as filed at its `processed_at`, and a delivery as
delivered when its recipient's AA/CA was recorded. Each rate is per second over the window.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from hub.broker.port import QueueStats
from hub.domain.delivery import DeliveryState
from hub.domain.models import MessageState
from hub.domain.ports import UnitOfWorkFactory
from hub.errors import BrokerError
from hub.jobs.watchdog import stalled_queues
from hub.ops.health import assess
from hub.settings import StatusSettings
from hub.store.job_store import JobStore

WINDOWS = {"1m": 60, "5m": 300}
RATES_SOURCE = ("the store: received = filed messages by received_at (ACK time), filed = "
                "messages by processed_at, delivered = deliveries by the time their recipient "
                "acknowledged them; per second over each window")
OLDEST_DEFINITION = (
    "pending_delivery: the oldest delivery still pending (a copy of a stored message not yet "
    "acknowledged AA/CA by its recipient, nor denied or parked), its age since it was queued; "
    "inbound_waiting: frames ACKed to their sender and not yet filed, which wait in the "
    "inbound queue (the broker keeps no ages, so none is given); last_filed_lag_s: for the "
    "most recently received message filed, seconds from its ACK to its filing")


@dataclass(frozen=True)
class StatusSources:
    """Where the status document is read from, wired by the composition root (hub/compose.py).

    `queue_stats()` asks the broker for each queue's depth and consumers (BrokerError when it
    cannot be reached); `job_store` holds the watchdog's last verdicts; `thresholds` are the
    `[status]` settings the health is judged by; `warnings` are said beside the health
    (e.g. a hub running without a senders file) without changing it."""

    unit_of_work: UnitOfWorkFactory
    job_store: JobStore
    queue_stats: Callable[[], dict[str, QueueStats]]
    inbound_queue: str
    thresholds: StatusSettings
    clock: Callable[[], datetime]
    warnings: tuple[str, ...] = ()


def collect_status(sources: StatusSources, now: datetime | None = None) -> dict:
    """The status document at `now` (default: the sources' clock), JSON-ready.

    Always answers from the database; when the broker cannot be reached the queues are empty,
    `broker.reachable` is false (with `broker_error`, as before) and the health says so.
    StoreError when the database cannot be read."""
    now = now or sources.clock()
    with sources.unit_of_work() as uow:
        counts = uow.messages.count_by_state()
        replays = uow.messages.count_replays()
        open_parked = uow.activity.open_parked()
        deliveries = uow.deliveries.counts_by_state()
        by_destination = uow.deliveries.counts_by_destination()
        since = [now - timedelta(seconds=s) for s in WINDOWS.values()]
        received = dict(zip(WINDOWS, uow.activity.received_counts(since)))
        filed = dict(zip(WINDOWS, uow.activity.filed_counts(since)))
        by_window = uow.activity.delivered_counts(since)
        oldest = uow.activity.oldest_pending()
        unreachable = uow.deliveries.unreachable()
        last = uow.activity.last_filed()
        resumes = uow.resumes.counts(now)
    # The watchdog's last verdicts (recorded by a hub with the scheduler role; none otherwise).
    stalled = stalled_queues(sources.job_store)
    queues, broker_error = _queues(sources.queue_stats)
    inbound = sources.inbound_queue
    waiting = queues[inbound]["depth"] if inbound in queues else None
    rates = {"windows_s": dict(WINDOWS), "received_per_s": _per_s(received),
             "filed_per_s": _per_s(filed),
             "delivered_per_s": _per_s({w: sum(n[i] for n in by_window.values())
                                        for i, w in enumerate(WINDOWS)}),
             "source": RATES_SOURCE}
    none = [0] * len(WINDOWS)
    if inbound in queues:
        queues[inbound].update(in_per_s=rates["received_per_s"], out_per_s=rates["filed_per_s"])
    document: dict = {
        "at": now.isoformat(),
        # Every frame that got an ACK is either filed (a row) or still waiting in the inbound
        # queue: `received` counts both (the waiting ones only when the broker answered). A replay
        # (`hub dlq replay`) is a row of its own but no frame: counted apart, in the states too.
        "messages": {"received": sum(counts.values()) - replays + (waiting or 0),
                     "waiting": waiting or 0, "replays": replays,
                     **{s.value: counts.get(s.value, 0) for s in MessageState
                        if s is not MessageState.RECEIVED}},
        # Parked stays a state for good (a replay is a new row): the health judges only those
        # no replay was filed for, or a hub whose dead letters were all replayed stays unhealthy.
        "dlq": {"open": open_parked},
        "deliveries": {s.value: deliveries.get(s.value, 0) for s in DeliveryState},
        "deliveries_by_destination": by_destination,
        "destinations": {
            name: {"delivered_per_s": _per_s(dict(zip(WINDOWS, by_window.get(name, none)))),
                   "oldest_pending_age_s": _age(now, oldest.get(name)),
                   **_reachability(now, unreachable.get(name))}
            for name in sorted(set(by_destination) | set(unreachable))},
        "queues": queues,
        "inbound_queue": inbound,
        "stalled_queues": stalled,
        "rates": rates,
        "oldest_unacknowledged": _oldest(now, oldest, waiting, last),
        "resumes": resumes,
        "broker": {"reachable": broker_error is None, "error": broker_error},
        "warnings": list(sources.warnings),
    }
    if broker_error is not None:
        document["broker_error"] = broker_error
    document["health"] = assess(document, sources.thresholds)
    return document


def _queues(queue_stats: Callable[[], dict[str, QueueStats]]) -> tuple[dict[str, dict], str | None]:
    try:
        stats = queue_stats()
    except BrokerError as exc:
        return {}, str(exc)
    return {name: {"depth": q.depth, "consumers": q.consumers} for name, q in stats.items()}, None


def _per_s(counts: dict[str, int]) -> dict[str, float]:
    return {label: round(counts[label] / seconds, 3) for label, seconds in WINDOWS.items()}


def _age(now: datetime, since: datetime | None) -> float | None:
    return None if since is None else round(max((now - since).total_seconds(), 0.0), 3)


def _reachability(now: datetime, down: dict | None) -> dict:
    # A destination whose last connection attempt failed: since when, how many in a row, and
    # the socket's words (an address and an errno text, no patient data).
    if down is None:
        return {"unreachable_s": None, "connection_failures": 0, "connection_error": None}
    return {"unreachable_s": _age(now, down["since"]), "connection_failures": down["failures"],
            "connection_error": down["last_error"]}


def _oldest(now: datetime, oldest: dict[str, datetime], waiting: int | None, last) -> dict:
    pending = None
    if oldest:
        destination, since = min(oldest.items(), key=lambda item: item[1])
        pending = {"age_s": _age(now, since), "since": since.isoformat(),
                   "destination": destination}
    lag = None
    if last is not None and last.processed_at is not None:
        lag = round(max((last.processed_at - last.received_at).total_seconds(), 0.0), 3)
    return {"pending_delivery": pending, "inbound_waiting": waiting, "last_filed_lag_s": lag,
            "definition": OLDEST_DEFINITION}

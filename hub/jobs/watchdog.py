"""The queue watchdog: a broker queue holding messages that nobody consumes, or whose consumers
made no progress for `checks` checks in a row, is flagged: one log line (its name and numbers,
never a message), the `hub_queue_stalled{queue}` gauge, and the row `hub status` reads through
`stalled_queues` (the watchdog runs in the hub, `hub status` in another process).

Progress is the queue's depth going down, or work consumed from it since the last check: under
steady load a healthy queue's depth stays flat or grows while its consumers work. AMQP tells
only depth and consumers (no delivery counts without the management API), so the work is read
from the store (`progress_marks`). The inbound queue has such a record: each message taken from
it is filed as a row. The dead-letter queue has none that is cheap and its own (its rows are
parked with the original reception time, and `processed_at` has no index), so it is judged by
its depth alone; the worker drains it at every turn, so a busy one rarely stays flat.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from hub.broker.partitions import stream_stats
from hub.broker.port import Broker
from hub.broker.topology import Topology
from hub.errors import BrokerError
from hub.store.job_store import JobStore, QueueWatch

log = logging.getLogger(__name__)
JOB_ID = "queue-watchdog"


def progress_marks(store: JobStore, topology: Topology) -> dict[str, datetime | None]:
    """The store's record of work consumed from each queue that has one, by full name: for
    the inbound queue, when the newest filed message was received."""
    # The inbound partitions are watched as one stream (`stream_stats`): a single partition
    # stuck while the others progress is not told apart.
    return {topology.inbound_stream: store.newest_filed()}


def check_queues(store: JobStore, broker: Broker, topology: Topology,
                 clock: Callable[[], datetime], checks: int, gauge=None) -> list[QueueWatch]:
    """Look at every queue once, record it, flag the stalled ones; return the stalled ones.
    `topology` names the queues whose work the store records (`progress_marks`). `gauge` is a
    labelled Prometheus gauge (`queue`) set to 1 or 0 for each queue."""
    try:
        stats = stream_stats(broker.queue_stats(), topology)
    except BrokerError as exc:
        log.warning("queue watchdog: the broker cannot be read (%s)", type(exc).__name__)
        return []
    views = store.watch_queues({name: (s.depth, s.consumers) for name, s in stats.items()},
                               clock(), checks, progress_marks(store, topology))
    for view in views:
        if gauge is not None:
            gauge.labels(queue=view.queue).set(1 if view.stalled else 0)
        if view.stalled:
            log.warning("queue %s stalled since %s: depth %d, %d consumer(s), %d check(s) "
                        "without progress", view.queue,
                        view.stalled_since.isoformat(timespec="seconds"), view.depth,
                        view.consumers, view.still_checks)
    return [view for view in views if view.stalled]


def stalled_queues(store: JobStore) -> dict[str, dict]:
    """What `hub status` can show: each queue the watchdog flagged at its last check, as
    `{name: {"depth", "consumers", "still_checks", "since", "checked_at"}}` (ISO times). The
    check time tells how fresh it is: a hub without the scheduler role records nothing."""
    return {view.queue: {"depth": view.depth, "consumers": view.consumers,
                         "still_checks": view.still_checks,
                         "since": view.stalled_since.isoformat(),
                         "checked_at": view.checked_at.isoformat()}
            for view in store.queue_views() if view.stalled}

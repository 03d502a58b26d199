"""`hub serve`: runs the listener, the workers, the outbound sender and the HTTP endpoints of
one hub process, or one role of them."""
from __future__ import annotations

import asyncio
import cProfile
import logging
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from hub import collector, compose
from hub.bootstrap import Hub
from hub.broker.partitions import router as inbound_router
from hub.broker.partitions import stream_stats
from hub.domain.delivery import DeliveryState
from hub.errors import ConfigError
from hub.health import Health
from hub.http_server import health_app, start_http
from hub.inbound.intake import Intake
from hub.inbound.listener import ListenerLimits, MLLPListener, server_ssl_context
from hub.inbound.senders import OPEN_WARNING
from hub.inbound.spool import CnsSpool
from hub.jobs.scheduler import JobScheduler
from hub.logs import set_lifecycle_level
from hub.metrics import Metrics
from hub.outbound.dispatch_loop import DispatchLoop
from hub.outbound.dispatcher import Dispatcher
from hub.routing.partition_balance import PartitionBalancer
from hub.routing.worker import RoutingWorker
from hub.store.partition_leases import PartitionLeases
from hub.store.repository import translated_errors
from hub.supervisor import processes_ready

log = logging.getLogger(__name__)
ROLES = ("all", "listener", "worker", "sender", "scheduler")
# The sender reads due deliveries from the database and writes outcomes back: no broker.
BROKER_ROLES = ("all", "listener", "worker")
SENDER_ROLES = ("all", "sender")
# Periodic jobs (the résumé clock) read and write the database only.
SCHEDULER_ROLES = ("all", "scheduler")


def serve(hub: Hub, role: str = "all", stop: threading.Event | None = None,
          supervised: Path | None = None) -> None:
    """Run `role` until SIGINT/SIGTERM (or `stop` is set). Raises ConfigError on bad setup.
    `supervised`: the state file of the parent (hub/supervisor.py) that started this process;
    the parent migrated the database already, and a listener is ready only when it says every
    child runs."""
    if role not in ROLES:
        raise ConfigError(f"role {role!r} is not available yet; choose one of {', '.join(ROLES)}")
    memory = hub.settings.broker_url.startswith("memory:")
    if memory and role not in ("all", "sender", "scheduler"):
        raise ConfigError("HUB_BROKER_URL=memory:// keeps messages inside one process: use --role "
                          "all (or --role sender or scheduler, which need only the database)")
    stop = stop or threading.Event()
    if supervised is None:
        hub.upgrade_database()
    hub.keyring
    # Where the data lives, said once: a hub started with the wrong HUB_HOME shows it here.
    log.info("database: %s; key file: %s", _describe_database(hub.settings.database_url),
             hub.settings.key_file)
    if role in BROKER_ROLES:
        # A bad mapping, sensitive codes or routing file stops the hub here, before anything
        # listens.
        log.info("sensitive codes: %d (%s)", len(hub.mappings.sensitive),
                 hub.settings.sensitive_codes_file or "none listed")
        hub.routes
        if hub.senders.is_open:  # a bad senders file stops the hub here too
            log.warning("%s", OPEN_WARNING)
        hub.broker.declare_topology()
        log.info("broker: %s", _describe_broker(hub.settings.broker_url))
    if role in SENDER_ROLES:
        hub.outbound_tls  # so do unusable outbound TLS files
    s = hub.settings
    set_lifecycle_level(s.log.lifecycle)
    health = _ready_checks(hub, role, supervised)
    hub.metrics.watch(health)
    try:
        http = start_http(s.http, health_app(hub.metrics, health, compose.dashboard(hub, stop)))
    except OSError as exc:
        raise ConfigError(f"cannot serve HTTP on {s.http.host}:{s.http.port} ({exc.strerror}); "
                          "set HUB_HTTP_PORT") from None
    log.info("health and metrics on http://%s:%d/", s.http.host, http.port)
    # Built before the workers so that they wake it when they file deliveries; started after.
    outbound = _outbound(hub) if role in SENDER_ROLES else None
    wake = outbound[0].wake if outbound is not None else None
    workers = _start_workers(hub, stop, wake) if role in ("all", "worker") else []
    if outbound is not None:
        _start_outbound(hub, outbound[0])
    jobs = _start_jobs(hub) if role in SCHEDULER_ROLES else None
    collector.settle()
    try:
        if role in ("all", "listener"):
            _profiled(lambda: asyncio.run(_run_listener(hub, stop)))
        else:
            _wait_for_signal(stop)
    finally:
        stop.set()
        if outbound is not None:
            _stop_outbound(*outbound)
        if jobs is not None:
            jobs.stop(wait=True)
        for thread in workers:
            thread.join(timeout=10)
        http.close()
        health.close()
        hub.close()
        log.info("hub stopped")


def _profiled(run: Callable[[], None]) -> None:
    """Run the listener's loop, under cProfile when HUB_PROFILE names a file for its stats
    (a developer's hook for profiling it under bench/ingest.py load; never set in service)."""
    path = os.environ.get("HUB_PROFILE")
    if not path:
        run()
        return
    profile = cProfile.Profile()
    try:
        profile.runcall(run)
    finally:
        profile.dump_stats(path)


async def _run_listener(hub: Hub, stop: threading.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    s = hub.settings.mllp
    publisher = await hub.broker.open_publisher()
    # Each message to the partition of its patient (the keyring was loaded above, before any role).
    intake = Intake(publisher, inbound_router(hub.keyring, hub.topology), hub.intake_policy,
                    hub.metrics)
    spool = CnsSpool(intake, Path(hub.settings.cns_spool))
    spool.prepare()  # an unusable spool stops the hub before anything listens
    limits = ListenerLimits(
        max_frame=s.max_frame, read_timeout=s.read_timeout, idle_timeout=s.idle_timeout,
        max_connections=s.max_connections, max_in_flight=s.max_in_flight,
        max_connections_per_peer=s.max_connections_per_peer,
    )
    tls = server_ssl_context(s.tls_cert_file, s.tls_key_file, s.tls_client_ca_file) if s.tls_cert_file else None
    listener = MLLPListener(intake, limits, hub.metrics, tls)
    try:
        port = await listener.start(s.host, s.port)
    except OSError as exc:
        raise ConfigError(f"cannot listen for MLLP on {s.host}:{s.port} ({exc.strerror}); "
                          "set HUB_MLLP_PORT") from None
    log.info("MLLP%s listening on %s:%d", " over TLS" if tls else "", s.host, port)
    feed = asyncio.create_task(spool.run(stop, hub.settings.spool.interval))
    log.info("CNS spool %s looked at every %s s", hub.settings.cns_spool, hub.settings.spool.interval)
    while not stop.is_set():
        await asyncio.sleep(0.2)
    await feed  # the file in progress is finished (or left whole in the spool)
    await listener.close()
    await publisher.close()


def _start_workers(hub: Hub, stop: threading.Event,
                   wake: Callable[[], None] | None) -> list[threading.Thread]:
    """Start the routing workers; with `wake`, each batch they file wakes this process's
    dispatch loop."""
    w = hub.settings.worker
    unit_of_work = hub.unit_of_work if wake is None else compose.waking(hub.unit_of_work, wake)
    threads = []
    for n in range(w.threads):
        # Each thread is a worker of its own in the partition leases (README "Workers and
        # partitions").
        balancer = PartitionBalancer(PartitionLeases(hub.engine), len(hub.topology.inbound_queues),
                                     hub.clock)
        worker = RoutingWorker(
            hub.broker, hub.topology, unit_of_work, hub.mappings, hub.routing_policy,
            hub.metrics, batch_size=w.batch_size, batch_wait=w.batch_wait, prefetch=w.prefetch,
            balancer=balancer,
        )
        thread = threading.Thread(target=worker.run, args=(stop,), name=f"worker-{n}", daemon=True)
        thread.start()
        threads.append(thread)
    log.info("%d routing worker(s) started", len(threads))
    return threads


_OUTCOME_LABELS = {DeliveryState.PENDING: "retried"}


def _counter(metrics: Metrics):
    """Count each recorded outcome in the hub's metrics (an outcome the store refused is
    never recorded, so never counted)."""
    def count(outcomes) -> None:
        for outcome in outcomes:
            state, delivery = outcome.state, outcome.delivery
            metrics.delivery_outcome(delivery.destination, _OUTCOME_LABELS.get(state, state.value),
                                     reason=outcome.reason, queued_at=delivery.created_at)
    return count


def _outbound(hub: Hub) -> tuple[DispatchLoop, Dispatcher]:
    """The dispatcher of due deliveries (its outcomes counted in the metrics) and the loop that
    runs it when woken and at least every `outbound.interval` seconds; not started yet."""
    dispatcher = hub.dispatcher(observe=_counter(hub.metrics))
    signals = hub.due_signals()
    if signals is not None:
        signals.outage = dispatcher.database
    return DispatchLoop(dispatcher, hub.clock, interval=hub.settings.outbound.interval,
                        signals=signals), dispatcher


def _start_outbound(hub: Hub, loop: DispatchLoop) -> None:
    loop.start()
    log.info("outbound sender started (a round every %s s)", hub.settings.outbound.interval)


def _start_jobs(hub: Hub) -> JobScheduler:
    """Start the periodic jobs (hub/jobs: résumés, consent expiry, keys, retention, watchdog)."""
    jobs = compose.job_scheduler(hub)
    jobs.start()
    log.info("scheduler started: %s", ", ".join(job.id for job in jobs.jobs))
    return jobs


def _stop_outbound(loop: DispatchLoop, dispatcher: Dispatcher) -> None:
    # The round in progress ends first (it does not wait for the lanes), then each lane
    # finishes the send it is in and closes its connection: an outcome is recorded, or the
    # delivery's lease runs out and the next sender resumes it.
    loop.stop()
    dispatcher.close()
    log.info("outbound sender stopped")


def _wait_for_signal(stop: threading.Event) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass


def _ready_checks(hub: Hub, role: str, supervised: Path | None = None) -> Health:
    def database() -> bool:
        with translated_errors("checking the database"):  # away: DatabaseUnavailable
            with hub.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        return True

    checks = {"database": database}
    if role in BROKER_ROLES:  # the broker's answer is the queue statistics /metrics shows
        checks.update(broker=lambda: stream_stats(hub.broker.queue_stats(), hub.topology),
                      mappings=lambda: hub.mappings)
    if supervised is not None and role == "listener":  # its port is the hub's: all must run
        checks["processes"] = lambda: processes_ready(supervised)
    return Health(checks, timeout=2.0, ttl=1.0)


def _describe_broker(url: str) -> str:
    """The broker's node or nodes, never a password."""
    if url.startswith("memory:"):
        return "in-memory (one process, no RabbitMQ: messages do not survive a restart)"
    from hub.broker.broker_urls import describe_nodes  # the one parser of HUB_BROKER_URL

    nodes = describe_nodes(url)
    if len(nodes) == 1:
        return f"RabbitMQ at {nodes[0]}"
    return f"RabbitMQ cluster of {len(nodes)} nodes, tried in turn: {', '.join(nodes)}"


def _describe_database(url: str) -> str:
    """The database URL without its password (a SQLite URL names its absolute file)."""
    return make_url(url).render_as_string(hide_password=True)


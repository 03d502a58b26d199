"""The routing worker through outages of its surroundings: a database that is away holds the
batch (nothing requeued, so nothing reaches the delivery limit and gets parked) and the worker
resumes by itself; a broker that is away is retried quietly. Each outage is one WARNING and
one INFO with the count of attempts, whatever the number of attempts, and no traceback."""
from __future__ import annotations

import logging
import os
import threading
import uuid
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest

from hub.broker.memory import MemoryBroker
from hub.broker.rabbitmq import RabbitBroker
from hub.broker.topology import DELIVERY_LIMIT, Topology
from hub.logs import quiet_libraries
from hub.metrics import Metrics
from hub.mapping.loader import load_mappings
from hub.routing.outcome import RoutingPolicy
from hub.routing.partition_balance import PartitionBalancer
from hub.routing.worker import RoutingWorker
from hub.settings import REPO_ROOT
from hub.store.engine import make_engine
from hub.store.partition_leases import PartitionLeases
from hub.store.unit_of_work import UnitOfWork
from tests.fixtures.hub_process import free_port
from tests.fixtures.messages import encoded, oru_r01, patient
from tests.fixtures.tcp_proxy import TcpProxy
from tests.fixtures.routing import TOPOLOGY, receive, states
from tests.fixtures.polling import wait_for

AMQP_URL = os.environ.get("HUB_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
WORKER_LOG = "hub.routing.worker"


def _worker(broker, topology, uow_factory) -> RoutingWorker:
    return RoutingWorker(broker, topology, uow_factory, load_mappings(REPO_ROOT / "mappings"),
                         RoutingPolicy(), Metrics(), batch_size=10, batch_wait=0.01)


def _outage_lines(caplog) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records
            if r.name == WORKER_LOG and r.levelno >= logging.INFO]


def test_a_database_outage_holds_the_batch_and_parks_nothing(engine, keyring, uow_factory,
                                                            monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger=WORKER_LOG)
    monkeypatch.setattr("hub.routing.worker.FIRST_BACKOFF", 0.02)
    monkeypatch.setattr("hub.routing.worker.MAX_BACKOFF", 0.1)
    monkeypatch.setattr("hub.routing.worker.RETRY_PAUSE", 0.0)
    broker = MemoryBroker(TOPOLOGY)
    broker.declare_topology()
    receive(broker, *[encoded(oru_r01(patient(n), f"OUT-{n}", n_obx=1)) for n in range(25)])
    # Nothing listens on this port: every connection is refused, for real.
    away = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none")
    back = threading.Event()
    worker = _worker(broker, TOPOLOGY,
                     lambda: UnitOfWork(engine if back.is_set() else away, keyring))
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        # Well past the queue's delivery limit in filing attempts.
        assert wait_for(lambda: worker.database.attempts >= DELIVERY_LIMIT + 7, 60), worker.database.attempts
        assert states(uow_factory) == {}
        attempts = worker.database.attempts
        back.set()
        broker.join(TOPOLOGY.inbound, timeout=60)  # every message filed and acked
    finally:
        stop.set()
        thread.join(timeout=10)
        away.dispose()

    assert states(uow_factory) == {"stored": 25}
    assert broker.queue_stats()[TOPOLOGY.dead].depth == 0
    lines = _outage_lines(caplog)
    assert [level for level, _ in lines] == [logging.WARNING, logging.INFO], lines
    assert lines[0][1].startswith("database unreachable (while opening a transaction: "
                                  "OperationalError")
    failed = int(lines[1][1].split(" after ")[1].split()[0])
    assert lines[1][1].startswith("database reachable again after ") and failed >= attempts
    assert not any(r.exc_info for r in caplog.records)


@pytest.mark.rabbitmq
def test_a_broker_outage_is_one_warning_and_one_info_and_the_worker_goes_on(
        uow_factory, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    before = logging.getLogger("pika").level
    quiet_libraries()
    monkeypatch.setattr("hub.routing.worker.RETRY_PAUSE", 0.05)
    target = urlsplit(AMQP_URL)
    proxy = TcpProxy(target.hostname, target.port or 5672)
    proxy.restore()
    topology = Topology(f"outage-{uuid.uuid4().hex[:8]}")
    direct = RabbitBroker(AMQP_URL, topology)
    direct.declare_topology()
    broker = RabbitBroker(AMQP_URL.replace(target.netloc.split("@")[-1],
                                           f"127.0.0.1:{proxy.port}", 1), topology)
    worker = _worker(broker, topology, uow_factory)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        # Both consumers up before the cut: a cut while the second one is still connecting is
        # an outage found at its start ("cannot consume"), not the lost connection tested here.
        assert wait_for(lambda: all(broker.queue_stats()[queue].consumers == 1
                                    for queue in (topology.inbound, topology.dead)), 60)
        proxy.cut()
        assert wait_for(lambda: worker.broker.attempts >= 20, 60), worker.broker.attempts
        proxy.restore()
        assert wait_for(lambda: not worker.broker.down, 60)
        direct.publish_blocking(topology.inbound, encoded(oru_r01(patient(1), "AFTER-1")),
                                message_id=uuid.uuid4().hex, headers={})
        assert wait_for(lambda: states(uow_factory).get("stored", 0) == 1, 60), states(uow_factory)
    finally:
        stop.set()
        thread.join(timeout=10)
        proxy.cut()
        direct.purge_topology()
        direct.close()
        logging.getLogger("pika").setLevel(before)

    lines = _outage_lines(caplog)
    assert [level for level, _ in lines] == [logging.WARNING, logging.INFO], lines
    assert lines[0][1].startswith("broker unreachable (lost the connection: ")
    assert "reachable again after " in lines[1][1]
    assert not [r for r in caplog.records if r.name.startswith("pika")]
    assert not any(r.exc_info for r in caplog.records)


def test_the_partition_leases_share_the_worker_s_one_outage_warning(engine, keyring, uow_factory,
                                                                    caplog):
    """The lease heartbeat meets the outage first as often as the filing does: it must add an
    attempt to the same outage, not a WARNING of its own (CI found two lines for one outage)."""
    caplog.set_level(logging.INFO, logger=WORKER_LOG)
    away = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none")
    leases = _Switch(PartitionLeases(away))
    balancer = PartitionBalancer(leases, 17, lambda: datetime.now(UTC), owner="c" * 32)
    worker = RoutingWorker(MemoryBroker(TOPOLOGY), TOPOLOGY, uow_factory,
                           load_mappings(REPO_ROOT / "mappings"), RoutingPolicy(), Metrics(),
                           balancer=balancer)
    try:
        assert worker._look(set()) is None and worker._look(set()) is None
        worker.database.failed("while opening a transaction: OperationalError")  # the filing
        leases.current = PartitionLeases(engine)
        assert worker._look(set()) is not None
    finally:
        away.dispose()

    lines = _outage_lines(caplog)
    assert [level for level, _ in lines] == [logging.WARNING, logging.INFO], lines
    assert lines[0][1].startswith("database unreachable (while recording a worker heartbeat")
    assert lines[1][1].startswith("database reachable again after 3 failed attempts")


class _Switch:
    """The real lease queries, on whichever database is in force."""

    def __init__(self, current) -> None:
        self.current = current

    def __getattr__(self, name: str):
        return getattr(self.current, name)

"""An idle routing worker on the real broker sleeps on its connections instead of polling them
every `batch_wait` (issue 16's 50 wake-ups a second), and still takes a message at once and
stops promptly."""
from __future__ import annotations

import threading
import time
import uuid

import pika
import pytest

from hub.broker.topology import Topology
from hub.mapping.loader import load_mappings
from hub.metrics import Metrics
from hub.routing.outcome import RoutingPolicy
from hub.routing.worker import RoutingWorker
from hub.settings import REPO_ROOT
from tests.fixtures.messages import encoded, oru_r01, patient
from tests.fixtures.polling import wait_for
from tests.fixtures.rabbit import Unreachable, rabbit_broker
from tests.fixtures.routing import states

pytestmark = pytest.mark.rabbitmq


@pytest.fixture
def serviced(monkeypatch) -> list[int]:
    """Counts the calls of `process_data_events`: one per look at a connection."""
    calls = [0]
    original = pika.BlockingConnection.process_data_events

    def counted(self, time_limit=0):
        calls[0] += 1
        return original(self, time_limit)

    monkeypatch.setattr(pika.BlockingConnection, "process_data_events", counted)
    return calls


def test_an_idle_worker_sleeps_yet_takes_a_message_at_once_and_stops_promptly(uow_factory,
                                                                               serviced):
    topology = Topology(f"idle-{uuid.uuid4().hex[:8]}")
    broker = rabbit_broker(topology)
    worker = RoutingWorker(broker, topology, uow_factory, load_mappings(REPO_ROOT / "mappings"),
                           RoutingPolicy(), Metrics(), batch_size=10, batch_wait=0.02)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        queues = (*topology.inbound_queues, topology.dead)
        assert wait_for(lambda: all(broker.queue_stats()[q].consumers == 1 for q in queues), 30)
        serviced[0] = 0
        time.sleep(2.0)
        # Polled every batch_wait (0.02 s), inbound and dead-letter: ~200 looks in 2 s.
        assert serviced[0] <= 20, serviced[0]

        sent = time.monotonic()
        broker.publish_blocking(topology.inbound, encoded(oru_r01(patient(1), "IDLE-1")),
                                message_id=uuid.uuid4().hex, headers={})
        assert wait_for(lambda: states(uow_factory).get("stored", 0) == 1, timeout=10)
        assert time.monotonic() - sent < 2.0  # the sleep ends with the delivery, not later
    finally:
        asked = time.monotonic()
        stop.set()
        thread.join(timeout=10)
        stopped = time.monotonic() - asked
        if not isinstance(broker, Unreachable):
            broker.purge_topology()
            broker.close()
    assert not thread.is_alive()
    assert stopped < 1.5, stopped

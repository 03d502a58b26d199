"""The inbound partitions as a worker holds them (`PartitionSet`: a RabbitMQ connection per
partition) wait on every member's socket at once (hub/broker/fan_in.py), on the real broker: a
delivery to the last partition ends the wait at once, an idle wait does not poll its members,
and their connections stay alive through a wait longer than the heartbeat timeout."""
from __future__ import annotations

import threading
import time
import uuid

import pika
import pytest

from hub.broker.partition_set import PartitionSet
from hub.broker.rabbitmq import RabbitBroker
from hub.broker.topology import Topology
from tests.fixtures.rabbit import AMQP_URL, Unreachable, rabbit_broker
from tests.integration.test_broker_contract import fetch_exactly, publish

pytestmark = pytest.mark.rabbitmq


@pytest.fixture
def topology() -> Topology:
    return Topology(f"test-{uuid.uuid4().hex[:8]}")  # the shipped 16 partitions, 17 queues


@pytest.fixture
def broker(topology):
    broker = rabbit_broker(topology)
    yield broker
    if not isinstance(broker, Unreachable):
        broker.purge_topology()
        broker.close()


@pytest.fixture
def serviced(monkeypatch) -> list[int]:
    """Counts the calls of `process_data_events`: each is one member looked at (pika reads its
    socket and runs its timers only inside it)."""
    calls = [0]
    original = pika.BlockingConnection.process_data_events

    def counted(self, time_limit=0):
        calls[0] += 1
        return original(self, time_limit)

    monkeypatch.setattr(pika.BlockingConnection, "process_data_events", counted)
    return calls


def test_a_delivery_to_the_last_partition_ends_the_wait_at_once(broker, topology, serviced):
    members = PartitionSet(broker, topology.inbound_queues, prefetch=10)
    last = topology.inbound_queues[-1]
    sent: list[float] = []

    def send_later() -> None:
        own = RabbitBroker(AMQP_URL, topology)  # its blocking channel is this thread's
        try:
            time.sleep(0.5)
            sent.append(time.monotonic())
            publish(own, last, b"x", "late")
        finally:
            own.close()

    sender = threading.Thread(target=send_later)
    try:
        serviced[0] = 0
        sender.start()
        got = members.fetch(10, 30.0)
        returned = time.monotonic()
        assert [(d.message_id, d.queue) for d in got] == [("late", last)]
        assert returned - sent[0] < 3.0  # not the 30 s timeout, nor a turn of slices
        # Woken by the one socket that became readable, not by looking at each member in turn.
        assert serviced[0] <= len(topology.inbound_queues)
        members.ack(got)
    finally:
        sender.join()
        members.close()


def test_an_idle_wait_sleeps_instead_of_polling_its_members(broker, topology, serviced):
    members = PartitionSet(broker, topology.inbound_queues, prefetch=10)
    try:
        serviced[0] = 0
        cpu = time.process_time()
        assert members.fetch(10, 2.0) == []
        cpu = time.process_time() - cpu
        # In 2 s a member needs servicing only for a heartbeat frame from the broker or pika's
        # own heartbeat timer (both every 30 s by default); 10 ms slices took thousands of calls.
        assert serviced[0] <= 2 * len(topology.inbound_queues)
        assert cpu < 0.5  # a loop spinning on the sockets would burn the whole 2 s
        members.idle(1.0)
        assert serviced[0] <= 4 * len(topology.inbound_queues)
    finally:
        members.close()


def test_every_member_stays_connected_through_waits_longer_than_the_heartbeat(topology):
    """With a 2 s heartbeat RabbitMQ closes a connection it hears nothing from for a few
    seconds, and pika only sends heartbeats from inside `process_data_events`."""
    broker = RabbitBroker(f"{AMQP_URL}?heartbeat=2", topology)
    broker.declare_topology()
    members = PartitionSet(broker, topology.inbound_queues, prefetch=10)
    try:
        assert members.fetch(10, 9.0) == []
        members.idle(3.0)
        for n, queue in enumerate(topology.inbound_queues):
            publish(broker, queue, b"x", f"m{n}")
        got = fetch_exactly(members, len(topology.inbound_queues))
        assert {d.queue for d in got} == set(topology.inbound_queues)
        members.ack(got)
    finally:
        members.close()
        broker.purge_topology()
        broker.close()

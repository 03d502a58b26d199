"""Single active consumer on the inbound partitions, against both adapters (RabbitMQ and
memory): one consumer of a partition is handed its messages, a second stands by, and takes the
partition over from its head, in order, when the first goes with messages unacked."""
from __future__ import annotations

import time
import uuid

import pytest

from hub.broker.memory import MemoryBroker
from hub.broker.topology import Topology
from tests.fixtures.rabbit import Unreachable, rabbit_broker
from tests.integration.test_broker_contract import fetch_exactly, publish


@pytest.fixture
def topology() -> Topology:
    return Topology(f"test-{uuid.uuid4().hex[:8]}", partitions=3)


@pytest.fixture(params=["memory", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)])
def broker(request, topology):
    broker = rabbit_broker(topology) if request.param == "rabbitmq" else MemoryBroker(topology)
    if request.param == "memory":
        broker.declare_topology()
    yield broker
    if not isinstance(broker, Unreachable):
        broker.purge_topology()
        broker.close()


def nothing_for(consumer, seconds: float = 1.0) -> bool:
    """True when `consumer` is handed nothing for `seconds` (a standby)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if consumer.fetch(10, 0.2):
            return False
    return True


def test_two_consumers_of_one_partition_only_the_first_receives(broker, topology):
    partition = topology.partition_queue(1)
    active = broker.open_consumer(partition, prefetch=10)
    standby = broker.open_consumer(partition, prefetch=10)
    try:
        for n in range(6):
            publish(broker, partition, b"x", f"m{n}")
        got = fetch_exactly(active, 6)
        assert [d.message_id for d in got] == [f"m{n}" for n in range(6)]
        assert nothing_for(standby)
        active.ack(got)
    finally:
        active.close()
        standby.close()


def test_the_standby_takes_over_in_order_what_the_active_one_held(broker, topology):
    partition = topology.partition_queue(0)
    active = broker.open_partition_consumer([partition], prefetch=4)
    standby = broker.open_partition_consumer([partition], prefetch=100)
    try:
        for n in range(10):
            publish(broker, partition, b"x", f"m{n}")
        held = fetch_exactly(active, 4)
        active.ack(held[:2])  # m0, m1 done; m2, m3 held unacked when it goes
        active.idle(0.3)  # m4, m5 are delivered to it meanwhile (its prefetch), unacked too
        active.close()
        taken = fetch_exactly(standby, 8)
        assert [d.message_id for d in taken] == [f"m{n}" for n in range(2, 10)]
        standby.ack(taken)
    finally:
        standby.close()


def test_one_partition_consumer_reads_every_partition_in_each_ones_order(broker, topology):
    for n in range(12):
        queue = topology.inbound_queues[n % len(topology.inbound_queues)]
        publish(broker, queue, b"x", f"m{n}")
    consumer = broker.open_partition_consumer(topology.inbound_queues, prefetch=50)
    try:
        got = fetch_exactly(consumer, 12)
        for queue in topology.inbound_queues:
            ids = [d.message_id for d in got if d.queue == queue]
            assert ids == sorted(ids, key=lambda i: int(i[1:])) and len(ids) == 3
        consumer.ack(got[::2])
        consumer.reject(got[1], requeue=True)
        consumer.ack([d for d in got[3::2]])
    finally:
        consumer.close()
    again = broker.open_partition_consumer(topology.inbound_queues, prefetch=50)
    try:
        (back,) = fetch_exactly(again, 1)
        assert back.message_id == got[1].message_id and back.redelivered
        again.ack([back])
        assert nothing_for(again, 0.5)
    finally:
        again.close()


def test_a_second_partition_consumer_stands_by_and_takes_over(broker, topology):
    first = broker.open_partition_consumer(topology.inbound_queues, prefetch=50)
    second = broker.open_partition_consumer(topology.inbound_queues, prefetch=50)
    try:
        for n, queue in enumerate(topology.inbound_queues):
            publish(broker, queue, b"x", f"m{n}")
        got = fetch_exactly(first, len(topology.inbound_queues))
        assert nothing_for(second)
        first.close()  # nothing acked: every partition goes to the standby, whole
        taken = fetch_exactly(second, len(topology.inbound_queues))
        assert sorted(d.message_id for d in taken) == sorted(d.message_id for d in got)
        second.ack(taken)
    finally:
        first.close()
        second.close()


@pytest.mark.rabbitmq
def test_a_message_held_through_ten_hand_overs_is_not_dead_lettered(topology):
    """Every hand-over (and every worker crash) returns what the worker held counted as a
    delivery: measured on RabbitMQ 3.10.8, a dropped connection raises x-delivery-count. With
    the old limit of 5, a backlog held through a few rebalances was parked as dead-lettered;
    the partitions' limit leaves room for them."""
    broker = rabbit_broker(topology)  # unreachable: its first use fails the test
    partition = topology.partition_queue(2)
    try:
        publish(broker, partition, b"x", "m0")
        for _ in range(10):
            holder = broker.open_partition_consumer([partition], prefetch=10)
            fetch_exactly(holder, 1)
            holder.close()  # the way a hand-over ends it: a dropped connection
        last = broker.open_partition_consumer([partition], prefetch=10)
        (again,) = fetch_exactly(last, 1)
        assert again.message_id == "m0"
        last.ack([again])
        last.close()
        assert broker.queue_stats()[topology.dead].depth == 0
    finally:
        broker.purge_topology()
        broker.close()


@pytest.mark.rabbitmq
@pytest.mark.parametrize("left_over", ["inbound", "inbound.03"])
def test_a_hub_refuses_to_start_over_messages_its_partitions_would_never_read(left_over):
    """The queue of a hub before partitions, or a partition past a lowered count, still holding
    messages: declaring the topology stops with a ConfigError that names it."""
    import pika

    from hub.broker.rabbitmq import RabbitBroker
    from hub.errors import ConfigError
    from tests.fixtures.rabbit import AMQP_URL

    topology = Topology(f"test-{uuid.uuid4().hex[:8]}", partitions=3)
    queue = f"{topology.namespace}.{left_over}"
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    channel.queue_declare(queue, durable=True, arguments={"x-queue-type": "quorum"})
    channel.confirm_delivery()
    channel.basic_publish("", queue, b"old")
    broker = RabbitBroker(AMQP_URL, topology)
    try:
        with pytest.raises(ConfigError, match=queue.replace(".", r"\.") + " holds 1 message"):
            broker.declare_topology()
        channel.queue_purge(queue)
        broker.declare_topology()  # drained: the hub starts
    finally:
        channel.queue_delete(queue)
        connection.close()
        broker.purge_topology()
        broker.close()

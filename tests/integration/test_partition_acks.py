"""The inbound partitions' consumer acks a batch with one `multiple` ack per channel when it
holds the channel's oldest deliveries (one frame instead of one per message), one by one
otherwise, and either way every acked delivery is gone from the broker."""
from __future__ import annotations

import uuid

import pika.adapters.blocking_connection as blocking
import pytest

from hub.broker.topology import Topology
from tests.fixtures.rabbit import Unreachable, rabbit_broker
from tests.integration.test_broker_contract import fetch_exactly, publish
from tests.integration.test_partition_consumers import nothing_for

pytestmark = pytest.mark.rabbitmq


@pytest.fixture
def topology() -> Topology:
    return Topology(f"test-{uuid.uuid4().hex[:8]}", partitions=3)


@pytest.fixture
def broker(topology):
    broker = rabbit_broker(topology)
    yield broker
    if not isinstance(broker, Unreachable):
        broker.purge_topology()
        broker.close()


@pytest.fixture
def acks(monkeypatch) -> list[tuple[int, bool]]:
    """(delivery tag, multiple) of every basic.ack sent."""
    sent: list[tuple[int, bool]] = []
    original = blocking.BlockingChannel.basic_ack

    def counted(self, delivery_tag=0, multiple=False):
        sent.append((delivery_tag, multiple))
        return original(self, delivery_tag, multiple)

    monkeypatch.setattr(blocking.BlockingChannel, "basic_ack", counted)
    return sent


def test_a_batch_is_acked_with_one_multiple_ack_per_partition(broker, topology, acks):
    queues = topology.inbound_queues[:3]
    consumer = broker.open_partition_consumer(queues, prefetch=10)
    try:
        for queue in queues:
            for n in range(4):
                publish(broker, queue, b"x", f"{queue}-{n}")
        consumer.ack(fetch_exactly(consumer, 12))
        assert acks == [(4, True)] * 3
    finally:
        consumer.close()
    again = broker.open_partition_consumer(queues, prefetch=10)
    try:
        assert nothing_for(again)
    finally:
        again.close()


def test_acks_out_of_order_go_one_by_one_until_they_are_the_oldest(broker, topology, acks):
    queue = topology.inbound_queues[0]
    consumer = broker.open_partition_consumer([queue], prefetch=10)
    try:
        for n in range(4):
            publish(broker, queue, b"x", f"m{n}")
        got = fetch_exactly(consumer, 4)
        consumer.ack(got[2:])
        assert acks == [(3, False), (4, False)]
        consumer.ack(got[:2])
        assert acks[2:] == [(2, True)]
    finally:
        consumer.close()
    again = broker.open_partition_consumer([queue], prefetch=10)
    try:
        assert nothing_for(again)
    finally:
        again.close()

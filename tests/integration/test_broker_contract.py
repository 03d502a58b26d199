"""The broker port's contract, run against both adapters: RabbitMQ (the production path) and memory.

RabbitMQ comes from HUB_TEST_AMQP_URL; if it is unreachable its tests fail, never skip."""
from __future__ import annotations

import asyncio
import re
import time

import pika
import pytest

from hub.broker.factory import broker_from_url
from hub.broker.memory import MemoryBroker
from hub.broker.port import Broker, Delivery, QueueStats
from hub.broker.rabbitmq import RabbitBroker
from hub.broker.topology import DELIVERY_LIMIT, Topology
from hub.errors import BrokerError, ConfigError, PublishNotConfirmed
from tests.fixtures.rabbit import AMQP_URL, Unreachable, new_topology, rabbit_broker


@pytest.fixture
def topology() -> Topology:
    return new_topology()


@pytest.fixture(params=["memory", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)])
def broker(request, topology):
    if request.param == "rabbitmq":
        broker = rabbit_broker(topology)
    else:
        broker = MemoryBroker(topology)
        broker.declare_topology()
    yield broker
    if not isinstance(broker, Unreachable):
        broker.purge_topology()
        broker.close()


def publish(broker: Broker, queue: str, body: bytes, message_id: str = "m", **headers: str) -> None:
    broker.publish_blocking(queue, body, message_id=message_id, headers=headers, timeout=10)


def fetch_exactly(consumer, count: int, timeout: float = 10.0) -> list[Delivery]:
    deliveries: list[Delivery] = []
    deadline = time.monotonic() + timeout
    while len(deliveries) < count and time.monotonic() < deadline:
        deliveries += consumer.fetch(count - len(deliveries), 0.5)
    assert len(deliveries) == count, f"got {len(deliveries)} of {count} deliveries"
    return deliveries


def eventually(check, timeout: float = 10.0) -> None:
    """Queue statistics of quorum queues settle a moment after the operation that changed them."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


def test_publish_confirm_fetch_ack_leaves_the_queue_empty(broker, topology):
    inbound = topology.inbound
    publish(broker, inbound, b"one", "m1")

    async def publish_async():
        publisher = await broker.open_publisher()
        await publisher.publish(inbound, b"two", message_id="m2", headers={}, timeout=10)
        await publisher.close()

    asyncio.run(publish_async())
    consumer = broker.open_consumer(inbound, prefetch=10)
    deliveries = fetch_exactly(consumer, 2)
    assert [d.message_id for d in deliveries] == ["m1", "m2"]
    assert all(d.queue == inbound and not d.redelivered for d in deliveries)
    consumer.ack(deliveries)
    consumer.close()
    eventually(lambda: broker.queue_stats()[inbound].depth == 0)
    again = broker.open_consumer(inbound, prefetch=10)
    assert again.fetch(10, 0.5) == []
    again.close()


def test_bodies_are_byte_exact(broker, topology):
    bodies = [b"MSH|^~\\&|LAB|HOSP\rPID|||1893120105732^^^^NN\r", "Müller Geneviève".encode("latin-1"),
              bytes(range(256)), b"\x0bframe\x1c\x0d", b""]
    for number, body in enumerate(bodies):
        publish(broker, topology.inbound, body, f"m{number}")
    consumer = broker.open_consumer(topology.inbound, prefetch=10)
    deliveries = fetch_exactly(consumer, len(bodies))
    assert [d.body for d in deliveries] == bodies
    consumer.ack(deliveries)
    consumer.close()


def test_headers_and_message_id_survive(broker, topology):
    headers = {"x-hub-sender": "LAB^HOSP", "x-hub-control-id": "MSG-00042", "x-hub-note": "Léon Müller"}
    publish(broker, topology.inbound, b"x", "LAB|MSG-00042", **headers)
    consumer = broker.open_consumer(topology.inbound, prefetch=1)
    (delivery,) = fetch_exactly(consumer, 1)
    assert delivery.message_id == "LAB|MSG-00042"
    assert headers.items() <= delivery.headers.items()
    consumer.ack([delivery])
    consumer.close()


def test_two_hundred_concurrent_async_publishes_all_confirm(broker, topology):
    inbound = topology.inbound

    async def publish_many():
        publisher = await broker.open_publisher()
        await asyncio.gather(*(
            publisher.publish(inbound, b"%d" % n, message_id=f"m{n}", headers={"n": str(n)}, timeout=10)
            for n in range(200)
        ))
        await publisher.close()

    asyncio.run(publish_many())
    consumer = broker.open_consumer(inbound, prefetch=250)
    deliveries = fetch_exactly(consumer, 200)
    assert {d.message_id for d in deliveries} == {f"m{n}" for n in range(200)}
    consumer.ack(deliveries)
    consumer.close()


def test_fetch_returns_at_most_max_count_and_keeps_the_rest(broker, topology):
    for n in range(5):
        publish(broker, topology.inbound, b"x", f"m{n}")
    consumer = broker.open_consumer(topology.inbound, prefetch=10)
    first = consumer.fetch(2, 5.0)
    assert 1 <= len(first) <= 2
    rest = fetch_exactly(consumer, 5 - len(first))
    assert [d.message_id for d in first + rest] == [f"m{n}" for n in range(5)]
    assert consumer.fetch(10, 0.2) == []
    consumer.close()


def test_acks_out_of_order_and_in_part_all_count(broker, topology):
    for n in range(4):
        publish(broker, topology.inbound, b"x", f"m{n}")
    consumer = broker.open_consumer(topology.inbound, prefetch=10)
    d = fetch_exactly(consumer, 4)
    consumer.ack([d[2]])
    consumer.ack([d[0], d[1]])
    consumer.ack([d[3]])
    with pytest.raises(BrokerError):
        consumer.ack([d[3]])  # an unknown tag is refused without killing the channel
    consumer.close()
    again = broker.open_consumer(topology.inbound, prefetch=10)
    assert again.fetch(10, 0.5) == []
    again.close()


def test_unacked_deliveries_come_back_redelivered_after_the_consumer_closes(broker, topology):
    for n in range(3):
        publish(broker, topology.inbound, b"x", f"m{n}")
    first = broker.open_consumer(topology.inbound, prefetch=10)
    fetch_exactly(first, 3)
    first.close()
    second = broker.open_consumer(topology.inbound, prefetch=10)
    deliveries = fetch_exactly(second, 3)
    assert sorted(d.message_id for d in deliveries) == ["m0", "m1", "m2"]
    assert all(d.redelivered for d in deliveries)
    second.ack(deliveries)
    second.close()


def test_reject_without_requeue_lands_in_the_dead_queue(broker, topology):
    publish(broker, topology.inbound, b"\xffpoison", "bad", **{"x-hub-sender": "LAB"})
    consumer = broker.open_consumer(topology.inbound, prefetch=1)
    (delivery,) = fetch_exactly(consumer, 1)
    consumer.reject(delivery, requeue=False)
    dead = broker.open_consumer(topology.dead, prefetch=1)
    (parked,) = fetch_exactly(dead, 1)
    assert (parked.body, parked.message_id, parked.queue) == (b"\xffpoison", "bad", topology.dead)
    assert parked.headers["x-death-reason"] == "rejected"
    assert parked.headers["x-hub-sender"] == "LAB"
    consumer.close()
    dead.close()


def test_a_message_requeued_past_the_delivery_limit_is_dead_lettered_not_lost(broker, topology):
    publish(broker, topology.inbound, b"keeps failing", "loop")
    consumer = broker.open_consumer(topology.inbound, prefetch=1)
    deliveries = 0
    while deliveries <= DELIVERY_LIMIT + 1 and (got := consumer.fetch(1, 2.0)):
        deliveries += 1
        assert got[0].redelivered == (deliveries > 1)
        assert got[0].headers.get("x-delivery-count", "0") == str(deliveries - 1)
        consumer.reject(got[0], requeue=True)
    assert deliveries == DELIVERY_LIMIT + 1
    dead = broker.open_consumer(topology.dead, prefetch=1)
    (parked,) = fetch_exactly(dead, 1)
    assert (parked.body, parked.message_id) == (b"keeps failing", "loop")
    assert parked.headers["x-death-reason"] == "delivery-limit"
    consumer.close()
    dead.close()


def test_queue_stats_report_depth_and_consumers(broker, topology):
    inbound, dead = topology.inbound, topology.dead
    for n in range(3):
        publish(broker, inbound, b"x", f"m{n}")
    eventually(lambda: broker.queue_stats()[inbound] == QueueStats(3, 0))
    assert broker.queue_stats()[dead] == QueueStats(0, 0)
    consumer = broker.open_consumer(inbound, prefetch=10)
    deliveries = fetch_exactly(consumer, 3)
    eventually(lambda: (s := broker.queue_stats()[inbound]).depth == 0 and s.consumers == 1)
    consumer.ack(deliveries[:1])
    consumer.close()
    eventually(lambda: (s := broker.queue_stats()[inbound]).depth == 2 and s.consumers == 0)


def test_queue_stats_of_missing_queues_are_zero(broker, topology):
    broker.purge_topology()
    stats = broker.queue_stats()
    assert set(stats) == set(topology.all_queues)
    assert all(s.depth == 0 and s.consumers == 0 for s in stats.values())
    broker.declare_topology()


def test_publishing_to_a_missing_queue_is_not_confirmed_and_does_not_hang(broker, topology):
    missing = f"{topology.namespace}.missing"
    started = time.monotonic()
    with pytest.raises(PublishNotConfirmed):
        publish(broker, missing, b"x")

    async def publish_async():
        publisher = await broker.open_publisher()
        with pytest.raises(PublishNotConfirmed):
            await publisher.publish(missing, b"x", message_id="m", headers={}, timeout=5)
        await publisher.publish(topology.inbound, b"x", message_id="ok", headers={}, timeout=5)
        await publisher.close()

    asyncio.run(publish_async())
    assert time.monotonic() - started < 5


def test_declare_topology_twice_is_fine(broker, topology):
    broker.declare_topology()
    broker.declare_topology()
    assert set(broker.queue_stats()) == set(topology.all_queues)


def test_a_closed_publisher_refuses_to_publish(broker, topology):
    async def scenario():
        publisher = await broker.open_publisher()
        await publisher.close()
        with pytest.raises(PublishNotConfirmed):
            await publisher.publish(topology.inbound, b"x", message_id="m", headers={}, timeout=2)

    asyncio.run(scenario())


def test_memory_broker_can_refuse_publishes(topology):
    broker = MemoryBroker(topology, fail_publishes=True)
    broker.declare_topology()
    with pytest.raises(PublishNotConfirmed):
        publish(broker, topology.inbound, b"x")


@pytest.mark.rabbitmq
def test_declare_topology_names_a_queue_that_exists_with_other_arguments(topology):
    broker = rabbit_broker(topology)
    broker.purge_topology()
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    connection.channel().queue_declare(topology.inbound, durable=True)  # classic, no dead-lettering
    connection.close()
    try:
        with pytest.raises(BrokerError, match=re.escape(topology.inbound)):
            broker.declare_topology()
    finally:
        broker.purge_topology()


@pytest.mark.parametrize("url, kind", [("memory://", MemoryBroker), (AMQP_URL, RabbitBroker),
                                       ("amqps://u:p@rabbit.example:5671/", RabbitBroker)])
def test_broker_from_url_picks_the_adapter_without_connecting(url, kind):
    assert isinstance(broker_from_url(url, new_topology()), kind)


@pytest.mark.parametrize("url", ["redis://u:secret@host/", "", "rabbit.example:5672"])
def test_broker_from_url_refuses_other_schemes_naming_the_setting(url):
    with pytest.raises(ConfigError, match="HUB_BROKER_URL") as error:
        broker_from_url(url, new_topology())
    assert "secret" not in str(error.value)


"""Every connection the hub opens tries the next node of HUB_BROKER_URL when one is down.

The first listed node is a port where nothing listens (a node that is down refuses as this does);
the second is the test RabbitMQ. Topology, blocking publish, the asyncio publisher and the
consumer must all end up on the second, and say so in the log."""
from __future__ import annotations

import asyncio
import logging
import time

import pytest

from hub.broker.rabbitmq import RabbitBroker
from tests.fixtures.hub_process import free_port
from tests.fixtures.rabbit import AMQP_URL, new_topology

pytestmark = pytest.mark.rabbitmq


@pytest.fixture
def broker():
    dead = f"amqp://guest:guest@127.0.0.1:{free_port()}/"
    broker = RabbitBroker(f"{dead},{AMQP_URL}", new_topology())
    broker.declare_topology()
    yield broker
    broker.purge_topology()
    broker.close()


def test_every_connection_skips_a_node_that_is_down(broker, caplog):
    caplog.set_level(logging.INFO, logger="hub.broker")
    queue = broker._topology.inbound
    broker.publish_blocking(queue, b"blocking", message_id="m1", headers={}, timeout=10)

    async def publish_async() -> None:
        publisher = await broker.open_publisher()
        try:
            await publisher.publish(queue, b"async", message_id="m2", headers={}, timeout=10)
        finally:
            await publisher.close()
    asyncio.run(publish_async())

    consumers = [broker.open_consumer(queue, prefetch=10) for _ in range(2)]  # two start points
    try:
        got = []
        deadline = time.monotonic() + 10
        while len(got) < 2 and time.monotonic() < deadline:
            got += consumers[0].fetch(2 - len(got), 0.5)
        assert sorted(d.body for d in got) == [b"async", b"blocking"]
        consumers[0].ack(got)
    finally:
        for consumer in consumers:
            consumer.close()

    live = AMQP_URL.rsplit("@", 1)[1].rstrip("/")
    said = caplog.text
    assert f"publish connection opened to {live}" in said
    assert f"publisher connected to {live}" in said
    assert said.count(f"on RabbitMQ node {live}") == 2
    assert "guest:guest" not in said

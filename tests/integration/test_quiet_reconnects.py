"""The listener's publisher through a broker outage: every failed reconnect is one more
attempt, not one more line; one WARNING when the connection is lost, one INFO when a publish
goes through again, with the count; pika says nothing and nothing carries a traceback."""
from __future__ import annotations

import asyncio
import logging
import os
import uuid
from urllib.parse import urlsplit

import pytest

from hub.broker.rabbitmq import RabbitBroker
from hub.broker.topology import Topology
from hub.errors import PublishNotConfirmed
from hub.logs import quiet_libraries
from tests.fixtures.tcp_proxy import TcpProxy

AMQP_URL = os.environ.get("HUB_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
PUBLISHER_LOG = "hub.broker.rabbit_publisher"
FAILED_PUBLISHES = 6
pytestmark = pytest.mark.rabbitmq


def test_a_publisher_outage_is_one_warning_and_one_info(caplog):
    caplog.set_level(logging.DEBUG)
    before = logging.getLogger("pika").level
    quiet_libraries()
    target = urlsplit(AMQP_URL)
    proxy = TcpProxy(target.hostname, target.port or 5672)
    proxy.restore()
    topology = Topology(f"quiet-{uuid.uuid4().hex[:8]}")
    direct = RabbitBroker(AMQP_URL, topology)
    direct.declare_topology()
    broker = RabbitBroker(AMQP_URL.replace(target.netloc.split("@")[-1],
                                           f"127.0.0.1:{proxy.port}", 1), topology)

    async def scenario() -> list[str]:
        publisher = await broker.open_publisher()
        outcomes = []
        try:
            await publisher.publish(topology.inbound, b"before", message_id="m0", headers={},
                                    timeout=10)
            proxy.cut()
            for n in range(FAILED_PUBLISHES):
                try:
                    await publisher.publish(topology.inbound, b"during", message_id=f"d{n}",
                                            headers={}, timeout=10)
                    outcomes.append("confirmed")
                except PublishNotConfirmed:
                    outcomes.append("not confirmed")
            proxy.restore()
            await publisher.publish(topology.inbound, b"after", message_id="m1", headers={},
                                    timeout=10)
        finally:
            await publisher.close()
        return outcomes

    try:
        outcomes = asyncio.run(scenario())
    finally:
        proxy.cut()
        direct.purge_topology()
        direct.close()
        logging.getLogger("pika").setLevel(before)

    assert outcomes == ["not confirmed"] * FAILED_PUBLISHES
    lines = [(r.levelno, r.getMessage()) for r in caplog.records
             if r.name == PUBLISHER_LOG and r.levelno >= logging.INFO]
    assert [level for level, _ in lines] == [logging.WARNING, logging.INFO], lines
    assert lines[0][1].startswith("broker unreachable (")
    failed = int(lines[1][1].split(" after ")[1].split()[0])
    assert failed >= FAILED_PUBLISHES, lines  # the lost connection and each failed reopening
    assert not [r for r in caplog.records if r.name.startswith("pika")]
    assert not any(r.exc_info for r in caplog.records)

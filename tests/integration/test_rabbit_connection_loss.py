"""RabbitMQ adapter under connection loss, through a TCP link the test can cut.

Pending publishes fail with PublishNotConfirmed (never hang), the publisher reconnects on a
later publish without hammering a broker that refuses, and a consumer reports BrokerError."""
from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import time
import uuid

import pika
import pytest

from hub.broker.rabbitmq import RabbitBroker
from hub.broker.topology import Topology
from hub.errors import BrokerError, PublishNotConfirmed

AMQP_URL = os.environ.get("HUB_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
pytestmark = pytest.mark.rabbitmq


class CuttableLink:
    """A TCP forwarder to RabbitMQ: `cut()` drops every connection through it for real, and
    while `refusing` it hangs up on new ones (counting them in `attempts`)."""

    def __init__(self, url: str) -> None:
        parameters = pika.URLParameters(url)
        self._target = (parameters.host, parameters.port)
        self._server = socket.create_server(("127.0.0.1", 0))
        port = self._server.getsockname()[1]
        self.url = url.replace(f"{parameters.host}:{parameters.port}", f"127.0.0.1:{port}", 1)
        self.refusing = False
        self.attempts = 0
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._server.close()
        self.cut()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            self.attempts += 1
            if self.refusing:
                client.close()
                continue
            upstream = socket.create_connection(self._target)
            self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def topology() -> Topology:
    return Topology(f"test-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def link(topology):
    try:
        RabbitBroker(AMQP_URL, topology).declare_topology()
    except BrokerError as exc:
        # Failing in the test (not the fixture) makes a run without RabbitMQ red, never skipped.
        reason = (f"RabbitMQ at HUB_TEST_AMQP_URL={AMQP_URL} is unreachable: {exc}. "
                  "Start it (rabbitmq-server -detached) or point HUB_TEST_AMQP_URL at one.")
        yield reason
        return
    link = CuttableLink(AMQP_URL)
    yield link
    link.close()
    RabbitBroker(AMQP_URL, topology).purge_topology()


def usable(link: CuttableLink | str) -> CuttableLink:
    if isinstance(link, str):
        pytest.fail(link, pytrace=False)
    return link


def test_rabbit_publisher_fails_pending_publishes_on_connection_loss_then_reconnects(link, topology):
    link = usable(link)
    broker = RabbitBroker(link.url, topology)

    async def scenario():
        publisher = await broker.open_publisher()
        pending = [asyncio.ensure_future(publisher.publish(
            topology.inbound, b"x" * 1500, message_id=f"m{n}", headers={}, timeout=10)) for n in range(500)]
        await asyncio.sleep(0)
        link.cut()
        outcomes = await asyncio.wait_for(asyncio.gather(*pending, return_exceptions=True), 15)
        assert all(o is None or isinstance(o, PublishNotConfirmed) for o in outcomes)
        assert any(isinstance(o, PublishNotConfirmed) for o in outcomes)
        await asyncio.sleep(0.2)
        await publisher.publish(topology.inbound, b"after", message_id="after", headers={}, timeout=10)
        await publisher.close()
        return outcomes.count(None) + 1

    confirmed = asyncio.run(scenario())
    # A confirm is a promise: every confirmed message is in the queue (unconfirmed ones may be too).
    stats = RabbitBroker(AMQP_URL, topology).queue_stats
    deadline = time.monotonic() + 10
    while stats()[topology.inbound].depth < confirmed and time.monotonic() < deadline:
        time.sleep(0.1)
    assert stats()[topology.inbound].depth >= confirmed


def test_rabbit_publisher_backs_off_while_the_broker_refuses_connections(link, topology):
    link = usable(link)
    broker = RabbitBroker(link.url, topology)

    async def scenario():
        publisher = await broker.open_publisher()
        link.refusing, link.attempts = True, 0
        link.cut()
        started = time.monotonic()
        failures = 0
        while time.monotonic() - started < 2.0:
            try:
                await publisher.publish(topology.inbound, b"x", message_id="m", headers={}, timeout=0.3)
            except PublishNotConfirmed:
                failures += 1
            await asyncio.sleep(0.02)
        assert failures > 0 and link.attempts <= 6, (failures, link.attempts)
        link.refusing = False
        await asyncio.sleep(5.0)  # past the longest backoff
        await publisher.publish(topology.inbound, b"back", message_id="back", headers={}, timeout=10)
        await publisher.close()

    asyncio.run(scenario())


def test_rabbit_consumer_raises_broker_error_on_connection_loss(link, topology):
    link = usable(link)
    consumer = RabbitBroker(link.url, topology).open_consumer(topology.inbound, prefetch=1)
    link.cut()
    with pytest.raises(BrokerError):
        for _ in range(10):
            consumer.fetch(1, 0.5)
    consumer.close()

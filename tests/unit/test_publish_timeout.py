"""A publish on a ready channel whose confirm never comes fails after the publish timeout, and
leaves no timer behind once it is confirmed in time (the fast path of RabbitPublisher.publish)."""
from __future__ import annotations

import asyncio
import time

import pika.frame
import pytest
from pika.spec import Basic

from hub.broker.rabbit_publisher import RabbitPublisher, _Session
from hub.errors import PublishNotConfirmed
from tests.unit.test_publisher_nack import FakeChannel, FakeConnection


def _ready_publisher() -> tuple[RabbitPublisher, _Session]:
    publisher = RabbitPublisher([pika.ConnectionParameters()])
    session = _Session(asyncio.get_running_loop())
    session.channel, session.connection, session.alive = FakeChannel(), FakeConnection(), True
    publisher._session = session
    return publisher, session


def test_no_confirm_within_the_timeout_fails_the_publish():
    async def scenario():
        publisher, _session = _ready_publisher()
        started = time.monotonic()
        with pytest.raises(PublishNotConfirmed, match="within 0.2 s"):
            await publisher.publish("q", b"x", message_id="m1", headers={}, timeout=0.2)
        assert 0.15 < time.monotonic() - started < 2.0

    asyncio.run(scenario())


def test_a_confirm_in_time_cancels_the_timer():
    async def scenario():
        publisher, session = _ready_publisher()
        loop = asyncio.get_running_loop()
        loop.call_soon(session.on_confirm, pika.frame.Method(1, Basic.Ack(delivery_tag=1)))
        await publisher.publish("q", b"x", message_id="m1", headers={}, timeout=0.2)
        await asyncio.sleep(0.3)  # the timer, had it been left, would fire here on a done future
        assert not [handle for handle in loop._scheduled if not handle.cancelled()]

    asyncio.run(scenario())

"""A publish on a ready channel whose confirm never comes fails after the publish timeout, and
leaves no timer behind once it is confirmed in time (the fast path of RabbitPublisher.publish);
the publishes awaiting their confirms share one timer (hub/broker/confirm_expiry.py)."""
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


def test_many_publishes_share_one_expiry_timer():
    async def scenario():
        publisher, session = _ready_publisher()
        loop = asyncio.get_running_loop()
        armed = _counting_timers(loop)
        publishes = [asyncio.create_task(publisher.publish(
            "q", b"x", message_id=f"m{n}", headers={}, timeout=5.0)) for n in range(100)]
        await asyncio.sleep(0)  # all sent, their confirms awaited
        session.on_confirm(pika.frame.Method(1, Basic.Ack(delivery_tag=100, multiple=True)))
        await asyncio.gather(*publishes)
        assert len(armed) == 1
        assert not [handle for handle in loop._scheduled if not handle.cancelled()]

    asyncio.run(scenario())


def _counting_timers(loop) -> list:
    armed = []
    call_at = loop.call_at

    def counting_call_at(when, callback, *args, **kwargs):
        armed.append(callback)
        return call_at(when, callback, *args, **kwargs)

    loop.call_at = counting_call_at
    return armed


def test_each_unconfirmed_publish_fails_at_its_own_deadline():
    # Two publishes with the same timeout share the one timer; a shorter one after them gets
    # its own, so that it is not held back to the deadline before it.
    async def scenario():
        publisher, session = _ready_publisher()
        loop = asyncio.get_running_loop()
        armed = _counting_timers(loop)
        started = loop.time()
        first = asyncio.create_task(publisher.publish("q", b"x", message_id="m1", headers={},
                                                      timeout=0.2))
        await asyncio.sleep(0.1)
        second = asyncio.create_task(publisher.publish("q", b"x", message_id="m2", headers={},
                                                       timeout=0.2))
        shorter = asyncio.create_task(publisher.publish("q", b"x", message_id="m3", headers={},
                                                        timeout=0.05))
        await asyncio.sleep(0)
        session.on_confirm(pika.frame.Method(1, Basic.Ack(delivery_tag=1)))  # the first only
        await first
        with pytest.raises(PublishNotConfirmed, match="within 0.05 s"):
            await shorter
        assert loop.time() - started < 0.3  # not held back to the deadline before it
        with pytest.raises(PublishNotConfirmed, match="within 0.2 s"):
            await second
        assert loop.time() - started >= 0.3
        assert not [handle for handle in loop._scheduled if not handle.cancelled()]
        # a timer of its own for the shorter one only (asyncio.sleep's timers aside)
        assert [getattr(callback, "__name__", "") for callback in armed].count("_expire") == 1

    asyncio.run(scenario())

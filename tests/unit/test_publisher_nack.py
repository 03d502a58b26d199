"""A nacked publish retires the publisher's channel: no new publish goes to it, and it closes once
its last confirm is back (after a quorum leader's crash RabbitMQ 3.10 went on nacking every
publish on such a channel for minutes; tests/faults/test_broker_cluster.py met it)."""
from __future__ import annotations

import asyncio

import pika.frame
import pytest
from pika.spec import Basic

from hub.broker.rabbit_publisher import _Session
from hub.errors import PublishNotConfirmed


class FakeChannel:
    def basic_publish(self, *args, **kwargs) -> None:
        pass


class FakeConnection:
    is_closing = is_closed = False

    def __init__(self) -> None:
        self.closes = 0

    def close(self) -> None:
        self.closes += 1
        self.is_closed = True


def confirm(method) -> pika.frame.Method:
    return pika.frame.Method(1, method)


def test_a_nack_retires_the_session_and_closes_it_when_nothing_is_pending():
    async def scenario():
        session = _Session(asyncio.get_running_loop())
        session.channel, session.connection, session.alive = FakeChannel(), FakeConnection(), True
        first = session.send("q", b"1", "m1", {})
        second = session.send("q", b"2", "m2", {})
        session.on_confirm(confirm(Basic.Nack(delivery_tag=1)))
        with pytest.raises(PublishNotConfirmed, match="nacked"):
            await first
        assert (session.alive, session.retired, session.connection.closes) == (False, True, 0)
        session.on_confirm(confirm(Basic.Ack(delivery_tag=2)))  # the one still in flight settles
        await second
        assert session.connection.closes == 1

    asyncio.run(scenario())


def test_acks_keep_the_session():
    async def scenario():
        session = _Session(asyncio.get_running_loop())
        session.channel, session.connection, session.alive = FakeChannel(), FakeConnection(), True
        sent = [session.send("q", b"x", f"m{n}", {}) for n in range(3)]
        session.on_confirm(confirm(Basic.Ack(delivery_tag=3, multiple=True)))
        await asyncio.gather(*sent)
        assert (session.alive, session.retired, session.connection.closes) == (True, False, 0)

    asyncio.run(scenario())

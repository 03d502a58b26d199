"""Asynchronous publisher on pika's asyncio adapter: many confirms in flight on one channel.

Each publish registers a future under the channel's next delivery tag; RabbitMQ's acks, nacks
and returns settle those futures. Nothing here takes a lock or starts a thread: the per-publish
cost is one `basic_publish` and one future, which is what let one channel confirm ~11,800
persistent publishes a second in the design measurements.
"""
from __future__ import annotations

import asyncio
import logging
import time

import pika
import pika.exceptions
from pika.adapters.asyncio_connection import AsyncioConnection
from pika.adapters.utils.io_services_utils import _AsyncPlaintextTransport
from pika.spec import Basic

from hub.broker.amqp_properties import Properties
from hub.broker.broker_urls import node_name
from hub.broker.confirm_expiry import ConfirmExpiry, unconfirmed
from hub.broker.port import Publisher
from hub.broker.publish_frames import direct_publishes
from hub.errors import PublishNotConfirmed
from hub.logs import OutageLog

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/hl7-v2"
PERSISTENT = 2
_FIRST_BACKOFF = 0.1
_MAX_BACKOFF = 5.0
_RETIRED_GRACE_S = 10.0  # a retired channel's last confirms may come back until then
_PIKA_ERRORS = (pika.exceptions.AMQPError, pika.exceptions.ChannelError, OSError)


def _coalesce_writes(connection: AsyncioConnection) -> None:
    """Make the connection's plain-TCP transport send what it has buffered in one `send`.

    pika buffers each frame on its own (a publish is three: method, header, body) and its
    transport sends them one `send` each when the socket turns writable: three system calls a
    message, and on loopback each one also runs RabbitMQ's receive path on the listener's CPU
    (strace of `hub serve --role listener`, 8 senders: 4.0 sendto calls a message before, 1.15
    after, as publishes made in one loop pass now leave together).
    Joined, the frames of every publish made since the last writable event leave in one call;
    a partial send is requeued by pika's own code as before. TLS transports are left alone:
    an SSL retry must repeat the very buffer that failed."""
    transport = getattr(connection, "_transport", None)
    if not isinstance(transport, _AsyncPlaintextTransport):
        return
    produce = transport._produce
    buffers = transport._tx_buffers

    def produce_joined() -> None:
        if len(buffers) > 1:
            joined = b"".join(buffers)
            buffers.clear()
            buffers.append(joined)
        produce()

    transport._produce = produce_joined  # type: ignore[method-assign]


class _Session:
    """One connection, its confirm-mode channel and the publishes waiting on it; dies as a whole,
    so callbacks from a lost connection can never settle publishes of its successor."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.connection: AsyncioConnection | None = None
        self.channel: pika.channel.Channel | None = None
        self.pending: dict[int, tuple[asyncio.Future, str, str]] = {}
        self.next_tag = 1
        self.floor = 0  # every tag <= floor is settled
        self.alive = False
        self.retired = False  # closed on purpose after a nack, not lost
        self.node = ""
        self.closed = loop.create_future()

    def send(self, queue: str, body: bytes, message_id: str, headers: dict[str, str]) -> asyncio.Future:
        properties = Properties(CONTENT_TYPE, PERSISTENT, message_id, headers)
        try:
            self.channel.basic_publish("", queue, body, properties, mandatory=True)
        except _PIKA_ERRORS as exc:
            raise PublishNotConfirmed(f"could not publish to {queue}: {exc!r}") from exc
        future = self.loop.create_future()
        self.pending[self.next_tag] = (future, queue, message_id)
        self.next_tag += 1
        return future

    def on_confirm(self, frame: pika.frame.Method) -> None:
        method = frame.method
        ok = isinstance(method, Basic.Ack)
        if method.multiple:
            # Walking from the floor costs each tag once over the channel's life.
            for tag in range(self.floor + 1, method.delivery_tag + 1):
                self._settle(self.pending.pop(tag, None), ok)
            self.floor = max(self.floor, method.delivery_tag)
        else:
            self._settle(self.pending.pop(method.delivery_tag, None), ok)
        if not ok:
            self.retire()
        if self.retired and not self.pending:
            self._close_connection()

    def retire(self) -> None:
        """Take no more publishes on this channel; close it once its last confirm came back.

        A nack says the queue could not take a message, and the channel that got it may go
        on nacking: after the kill -9 of a quorum queue's leader, RabbitMQ 3.10.8 nacked every
        publish, for minutes, on the channel the publisher had opened on another node during
        the election, while a new channel on that node published at once
        (tests/faults/test_broker_cluster.py met it). The next publish opens a new session,
        starting with the next node."""
        if self.retired:
            return
        self.retired = True
        self.alive = False
        self.loop.call_later(_RETIRED_GRACE_S, self._close_connection)  # confirms that never come
        log.warning("RabbitMQ nacked a publish on %s: the publisher opens a new channel", self.node)

    def _close_connection(self) -> None:
        connection = self.connection
        if connection is not None and not (connection.is_closing or connection.is_closed):
            connection.close()

    def on_return(self, _channel, method: Basic.Return, properties, _body: bytes) -> None:
        # A return carries no delivery tag. RabbitMQ sends it before the ack of the same publish
        # and in publish order, so the oldest pending publish with this queue and message id is it.
        for tag, (future, queue, message_id) in self.pending.items():
            if queue == method.routing_key and message_id == properties.message_id:
                del self.pending[tag]
                if not future.done():
                    future.set_exception(PublishNotConfirmed(
                        f"RabbitMQ returned a publish to {queue}: {method.reply_code} {method.reply_text}"
                    ))
                return

    def fail_all(self, reason: str) -> None:
        self.alive = False
        pending, self.pending = self.pending, {}
        for future, queue, _ in pending.values():
            if not future.done():
                future.set_exception(PublishNotConfirmed(f"publish to {queue} not confirmed: {reason}"))

    @staticmethod
    def _settle(entry: tuple[asyncio.Future, str, str] | None, ok: bool) -> None:
        if entry is None or entry[0].done():
            return
        if ok:
            entry[0].set_result(None)
        else:
            entry[0].set_exception(PublishNotConfirmed(f"RabbitMQ nacked a publish to {entry[1]}"))


class RabbitPublisher(Publisher):
    """Publishes persistent, mandatory messages to the default exchange of one RabbitMQ node or
    of a cluster (`nodes`, at least one).

    Bound to the asyncio loop it was opened on. A lost connection fails every pending publish
    and is reopened by the next publish, no sooner than a backoff that doubles up to 5 s. Each
    reopening tries the nodes in turn, starting after the one that was lost: a cluster node
    that goes away costs the publishes in flight on it, not the time of a backoff."""

    def __init__(self, nodes: list[pika.connection.Parameters]) -> None:
        if not nodes:
            raise ValueError("RabbitPublisher needs at least one node")
        self._nodes = list(nodes)
        self._next_node = 0  # where the next opening starts
        self._loop = asyncio.get_running_loop()
        self._expiry = ConfirmExpiry(self._loop)
        self._session: _Session | None = None
        self._opening: asyncio.Task | None = None
        self._backoff = 0.0
        self._retry_at = 0.0
        self._closing = False
        # The publishes that fail meanwhile are answered AE by the listener, each on its own.
        self._outage = OutageLog(log, "broker", "the publisher reconnects on the next publish")

    async def connect(self) -> None:
        """Open the connection now rather than on the first publish."""
        await self._ready_session()

    async def publish(
        self, queue: str, body: bytes, *, message_id: str, headers: dict[str, str], timeout: float
    ) -> None:
        session = self._session
        if session is not None and session.alive:
            # The usual case, a channel ready: the confirm watched by the publisher's one
            # expiry timer, where asyncio.timeout's context (its own timer, rescheduling and
            # cancellation of the task) cost the listener 5 % of its CPU, and a timer of its
            # own a few per cent more (profiles under bench/ingest.py).
            confirm = session.send(queue, body, message_id, headers)
            self._expiry.watch(confirm, queue, timeout)
            try:
                await confirm
            finally:
                self._expiry.settled()
            return
        try:
            async with asyncio.timeout(timeout):
                session = await self._ready_session()
                await session.send(queue, body, message_id, headers)
        except TimeoutError:
            raise PublishNotConfirmed(unconfirmed(queue, timeout)) from None

    async def close(self) -> None:
        self._closing = True
        if self._opening is not None:
            self._opening.cancel()
        session, self._session = self._session, None
        if session is None:
            return
        session.fail_all("publisher closed")
        if session.connection is not None and not (session.connection.is_closing or session.connection.is_closed):
            session.connection.close()
        try:
            await asyncio.wait_for(asyncio.shield(session.closed), 5.0)
        except TimeoutError:
            log.warning("RabbitMQ publisher connection did not close within 5 s")

    async def _ready_session(self) -> _Session:
        if self._closing:
            raise PublishNotConfirmed("publisher is closed")
        if self._session is not None and self._session.alive:
            return self._session
        if self._opening is None:
            # One shared attempt: concurrent publishes wait on it instead of each connecting.
            self._opening = self._loop.create_task(self._reconnect())
            self._opening.add_done_callback(lambda task: task.cancelled() or task.exception())
        opening = self._opening
        try:
            return await asyncio.shield(opening)
        except asyncio.CancelledError:
            if opening.cancelled() and not asyncio.current_task().cancelling():
                raise PublishNotConfirmed("publisher closed while connecting") from None
            raise

    async def _reconnect(self) -> _Session:
        try:
            await asyncio.sleep(max(0.0, self._retry_at - time.monotonic()))
            session = await self._open_session()
        except PublishNotConfirmed as exc:
            self._backoff = min(_MAX_BACKOFF, max(_FIRST_BACKOFF, self._backoff * 2))
            self._retry_at = time.monotonic() + self._backoff
            self._outage.failed(str(exc))
            raise
        finally:
            self._opening = None
        self._backoff = 0.0
        self._outage.recovered()
        self._session = session
        return session

    async def _open_session(self) -> _Session:
        """A session on the first node, from `_next_node` round, that opens one; the error of
        the last node tried when none does."""
        error: PublishNotConfirmed | None = None
        for step in range(len(self._nodes)):
            index = (self._next_node + step) % len(self._nodes)
            try:
                session = await self._open_session_on(self._nodes[index])
            except PublishNotConfirmed as exc:
                error = exc
                continue
            # Should this node go, the next opening starts with the one after it.
            self._next_node = (index + 1) % len(self._nodes)
            session.node = node_name(self._nodes[index])
            # Which node, worth an INFO line only where there is a choice: a lone node's
            # outages stay one WARNING and one INFO (hub/logs.py OutageLog).
            log.log(logging.INFO if len(self._nodes) > 1 else logging.DEBUG,
                    "RabbitMQ publisher connected to %s", session.node)
            return session
        assert error is not None
        raise error

    async def _open_session_on(self, parameters: pika.connection.Parameters) -> _Session:
        session = _Session(self._loop)
        opened = self._loop.create_future()

        def fail_open(reason: str) -> None:
            if not opened.done():
                opened.set_exception(PublishNotConfirmed(f"cannot open a RabbitMQ publisher: {reason}"))

        def on_connection_open(connection: AsyncioConnection) -> None:
            _coalesce_writes(connection)
            connection.channel(on_open_callback=on_channel_open)

        def on_channel_open(channel: pika.channel.Channel) -> None:
            direct_publishes(channel)
            session.channel = channel
            channel.add_on_close_callback(on_channel_closed)
            channel.add_on_return_callback(session.on_return)
            channel.confirm_delivery(session.on_confirm, callback=on_confirm_mode)

        def on_confirm_mode(_frame) -> None:
            session.alive = True
            if not opened.done():
                opened.set_result(None)

        def on_channel_closed(_channel, reason: Exception) -> None:
            session.fail_all(f"channel closed ({reason!r})")
            fail_open(repr(reason))
            connection = session.connection
            if connection is not None and not (connection.is_closing or connection.is_closed):
                connection.close()

        def on_connection_closed(_connection, reason: Exception) -> None:
            # `alive` is already false here when pika closed the channel first: whether the
            # session had opened says whether this is the loss of a working connection.
            was_open = opened.done() and not opened.cancelled() and opened.exception() is None
            if was_open and not self._closing and not session.retired:
                self._outage.failed(f"lost the connection ({reason!r})")
            session.fail_all(f"connection lost ({reason!r})")
            fail_open(repr(reason))
            if not session.closed.done():
                session.closed.set_result(None)

        def on_open_error(_connection, reason: Exception) -> None:
            on_connection_closed(_connection, reason)

        try:
            session.connection = AsyncioConnection(
                parameters,
                on_open_callback=on_connection_open,
                on_open_error_callback=on_open_error,
                on_close_callback=on_connection_closed,
                custom_ioloop=self._loop,
            )
            await opened
        except asyncio.CancelledError:
            if session.connection is not None and not (session.connection.is_closing or session.connection.is_closed):
                session.connection.close()
            raise
        except _PIKA_ERRORS as exc:
            raise PublishNotConfirmed(f"cannot open a RabbitMQ publisher: {exc!r}") from exc
        return session

"""Blocking consumer of several RabbitMQ queues (the inbound partitions) on one connection:
one channel per queue, every delivery into one buffer in arrival order, each ack sent on the
channel its delivery came from. One connection per worker instead of one per partition.

The partitions are single-active-consumer queues: a channel of a worker that is not the
partition's active consumer simply receives nothing until the active one goes; then the broker
makes the next subscriber active and hands it the partition from its head, in order."""
from __future__ import annotations

import itertools
import socket
import time
from collections import deque
from collections.abc import Sequence

import pika

from hub.broker.port import Consumer, Delivery, Waitable
from hub.broker.rabbit_consumer import PIKA_ERRORS, text_headers
from hub.errors import BrokerError


def _socket_of(connection: pika.BlockingConnection | None) -> socket.socket | None:
    """The connection's socket, which pika keeps to itself; None once pika dropped it, or
    with another kind of transport."""
    sock = getattr(getattr(getattr(connection, "_impl", None), "_transport", None), "_sock", None)
    return sock if isinstance(sock, socket.socket) else None


def _drop(connection: pika.BlockingConnection) -> None:
    """Shut the connection's socket; the broker sees the consumer go down, as after a crash."""
    sock = _socket_of(connection)
    try:
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
            sock.close()
            try:
                connection.process_data_events(time_limit=0)  # pika notices and cleans up
            except PIKA_ERRORS:
                pass
        else:  # another pika transport: a plain close (see `close` for what it costs)
            connection.close()
    except (*PIKA_ERRORS, OSError):
        pass


class RabbitPartitionConsumer(Consumer):
    """`Consumer` over `queues`, subscribed in the order given (on a fresh start the broker
    activates the first subscriber of each single-active-consumer queue)."""

    def __init__(self, nodes: list[pika.connection.Parameters], queues: Sequence[str],
                 prefetch: int) -> None:
        self._queues = tuple(queues)
        self._buffer: deque[Delivery] = deque()
        # Our delivery tag -> (channel, the channel's own tag): tags are per channel in AMQP.
        self._unacked: dict[int, tuple[object, int]] = {}
        self._tags = itertools.count(1)
        # Each channel's unacked channel tags, oldest first (a channel numbers its deliveries
        # in order): whether a batch holds a channel's oldest ones is a look at the first few.
        self._pending: dict[object, dict[int, None]] = {}
        self._connection: pika.BlockingConnection | None = None
        try:
            self._connection = pika.BlockingConnection(nodes)  # the next node when one is down
            for queue in self._queues:
                channel = self._connection.channel()
                channel.basic_qos(prefetch_count=prefetch)
                channel.basic_consume(queue, self._receiver(channel, queue), auto_ack=False)
        except PIKA_ERRORS as exc:
            self.close()
            raise BrokerError(f"cannot consume from the inbound partitions: {exc!r}") from exc

    def fetch(self, max_count: int, timeout: float) -> list[Delivery]:
        connection = self._open()
        deadline = time.monotonic() + timeout
        try:
            while True:
                if self._buffer:
                    if len(self._buffer) < max_count:
                        connection.process_data_events(time_limit=0)
                    break
                remaining = deadline - time.monotonic()
                connection.process_data_events(time_limit=max(0.0, remaining))
                if not self._buffer and remaining <= 0:
                    break
        except PIKA_ERRORS as exc:
            raise BrokerError(f"lost the consumer of the inbound partitions: {exc!r}") from exc
        return [self._buffer.popleft() for _ in range(min(max_count, len(self._buffer)))]

    def idle(self, seconds: float) -> None:
        try:
            self._open().process_data_events(time_limit=max(0.0, seconds))
        except PIKA_ERRORS as exc:
            raise BrokerError(f"lost the consumer of the inbound partitions: {exc!r}") from exc

    def waitable(self) -> Waitable | None:
        """The socket, and pika's next timer as the deadline: a BlockingConnection runs its
        timers (the heartbeat it sends every half timeout, the check that the broker's came)
        only inside `process_data_events`, which `fetch` and `idle` call. Input pika already
        took off the socket makes it due at once, as the socket will not signal it again:
        frames read during an ack and not yet handed to their channel, or bytes left in an SSL
        buffer (pika then queues a callback, which its next-timer figure counts as due)."""
        connection = self._connection
        sock = _socket_of(connection)
        next_timer = getattr(getattr(getattr(connection, "_impl", None), "ioloop", None),
                             "_get_remaining_interval", None)
        if connection is None or sock is None or next_timer is None or sock.fileno() < 0:
            return None
        unread = connection._channels_pending_dispatch or connection._ready_events
        return Waitable(fd=sock.fileno(), held=bool(self._buffer),
                        due=0.0 if unread else next_timer())

    def ack(self, deliveries: list[Delivery]) -> None:
        """One `multiple` ack per channel when the batch holds the channel's oldest unacked
        deliveries (the usual case: a batch is fetched in arrival order), else one per delivery."""
        held = self._outstanding(deliveries)
        by_channel: dict[object, list[int]] = {}
        for _, (channel, channel_tag) in held:
            by_channel.setdefault(channel, []).append(channel_tag)
        try:
            for channel, channel_tags in by_channel.items():
                pending = self._pending[channel]
                if set(itertools.islice(pending, len(channel_tags))) == set(channel_tags):
                    channel.basic_ack(max(channel_tags), multiple=True)  # type: ignore[attr-defined]
                else:
                    for channel_tag in channel_tags:
                        channel.basic_ack(channel_tag)  # type: ignore[attr-defined]
                for channel_tag in channel_tags:
                    del pending[channel_tag]
        except PIKA_ERRORS as exc:
            raise BrokerError(f"could not ack on the inbound partitions: {exc!r}") from exc
        for tag, _ in held:
            self._unacked.pop(tag, None)

    def reject(self, delivery: Delivery, *, requeue: bool) -> None:
        ((tag, (channel, channel_tag)),) = self._outstanding([delivery])
        try:
            channel.basic_nack(channel_tag, multiple=False, requeue=requeue)  # type: ignore[attr-defined]
        except PIKA_ERRORS as exc:
            raise BrokerError(f"could not reject on {delivery.queue}: {exc!r}") from exc
        self._unacked.pop(tag, None)
        self._pending[channel].pop(channel_tag, None)

    def close(self) -> None:
        """End the connection the way a crash does, never with AMQP close: measured on RabbitMQ
        3.10.8, a channel or connection close (with or without pika's basic.cancel) makes the
        standby active at once and hands it the partition's ready messages, and only then
        what we held unacked, after them: a patient's later message would be filed before an
        earlier one. A dropped socket makes the broker return what we held to the head of the
        queue first, in order (tests/integration/test_partition_consumers.py)."""
        connection, self._connection = self._connection, None
        self._buffer.clear()
        self._unacked.clear()
        self._pending.clear()
        if connection is not None and connection.is_open:
            _drop(connection)

    def _open(self) -> pika.BlockingConnection:
        if self._connection is None:
            raise BrokerError("the consumer of the inbound partitions is closed")
        return self._connection

    def _outstanding(self, deliveries: list[Delivery]) -> list[tuple[int, tuple[object, int]]]:
        # An unknown tag would make RabbitMQ close the channel, losing every other delivery.
        unknown = [d.tag for d in deliveries if d.tag not in self._unacked]
        if unknown:
            raise BrokerError(f"delivery tags {unknown} are not outstanding")
        return [(tag, self._unacked[tag]) for tag in dict.fromkeys(d.tag for d in deliveries)]

    def _receiver(self, channel, queue: str):
        def on_message(_channel, method, properties, body: bytes) -> None:
            tag = next(self._tags)
            self._unacked[tag] = (channel, method.delivery_tag)
            self._pending.setdefault(channel, {})[method.delivery_tag] = None
            self._buffer.append(Delivery(
                tag=tag, body=body, message_id=properties.message_id or "",
                headers=text_headers(properties.headers), redelivered=bool(method.redelivered),
                queue=queue,
            ))
        return on_message

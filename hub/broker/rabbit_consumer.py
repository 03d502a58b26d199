"""Blocking, pull-style consumer of one RabbitMQ queue, for one worker thread."""
from __future__ import annotations

import logging
import time
from collections import deque

import pika
import pika.exceptions

from hub.broker.broker_urls import node_name
from hub.broker.port import Consumer, Delivery
from hub.errors import BrokerError

log = logging.getLogger(__name__)

PIKA_ERRORS = (pika.exceptions.AMQPError, pika.exceptions.ChannelError, OSError)

# RabbitMQ's dead-letter reasons, spelled as the hub spells them (MemoryBroker uses the same).
_DEATH_REASONS = {"delivery_limit": "delivery-limit", "rejected": "rejected", "expired": "expired",
                  "maxlen": "maxlen"}


def text_headers(raw: dict | None) -> dict[str, str]:
    """AMQP headers as str -> str. Tables and arrays (such as `x-death`) are left out; the
    dead-letter reason they carry is exposed as `x-death-reason`."""
    headers: dict[str, str] = {}
    for key, value in (raw or {}).items():
        if isinstance(value, bytes):
            headers[key] = value.decode("utf-8", "replace")
        elif isinstance(value, (str, int, float, bool)):
            headers[key] = str(value)
    reason = headers.get("x-first-death-reason")
    if reason:
        headers["x-death-reason"] = _DEATH_REASONS.get(reason, reason)
    return headers


class RabbitConsumer(Consumer):
    """Consumes one queue on its own `BlockingConnection`, at most `prefetch` unacked at a time.

    `nodes` are a cluster's nodes (or the one node), tried in order until one accepts.
    Deliveries that arrive beyond what a `fetch` asked for stay buffered for the next one."""

    def __init__(self, nodes: list[pika.connection.Parameters], queue: str, prefetch: int) -> None:
        self._queue = queue
        self._buffer: deque[Delivery] = deque()
        self._unacked: set[int] = set()
        self._connection: pika.BlockingConnection | None = None
        try:
            self._connection = pika.BlockingConnection(nodes)
            # Which node, worth an INFO line only where there is a choice (a cluster).
            log.log(logging.INFO if len(nodes) > 1 else logging.DEBUG, "consuming %s on RabbitMQ "
                    "node %s", queue, node_name(self._connection._impl.params))
            self._channel = self._connection.channel()
            self._channel.basic_qos(prefetch_count=prefetch)
            self._channel.basic_consume(queue, self._on_message, auto_ack=False)
        except PIKA_ERRORS as exc:
            self.close()
            raise BrokerError(f"cannot consume from {queue}: {exc!r}") from exc

    def fetch(self, max_count: int, timeout: float) -> list[Delivery]:
        if self._connection is None:
            raise BrokerError(f"the consumer of {self._queue} is closed")
        deadline = time.monotonic() + timeout
        try:
            while True:
                if self._buffer:
                    if len(self._buffer) < max_count:
                        self._connection.process_data_events(time_limit=0)
                    break
                remaining = deadline - time.monotonic()
                self._connection.process_data_events(time_limit=max(0.0, remaining))
                if not self._buffer and remaining <= 0:
                    break
        except PIKA_ERRORS as exc:
            raise BrokerError(f"lost the consumer of {self._queue}: {exc!r}") from exc
        return [self._buffer.popleft() for _ in range(min(max_count, len(self._buffer)))]

    def idle(self, seconds: float) -> None:
        if self._connection is None:
            raise BrokerError(f"the consumer of {self._queue} is closed")
        try:
            # Deliveries that arrive meanwhile (up to the prefetch) wait in the buffer, unacked.
            self._connection.process_data_events(time_limit=max(0.0, seconds))
        except PIKA_ERRORS as exc:
            raise BrokerError(f"lost the consumer of {self._queue}: {exc!r}") from exc

    def ack(self, deliveries: list[Delivery]) -> None:
        tags = {delivery.tag for delivery in deliveries}
        if not tags:
            return
        self._check_outstanding(tags)
        top = max(tags)
        try:
            if all(tag in tags for tag in self._unacked if tag <= top):
                self._channel.basic_ack(top, multiple=True)
            else:
                for tag in sorted(tags):
                    self._channel.basic_ack(tag)
        except PIKA_ERRORS as exc:
            raise BrokerError(f"could not ack on {self._queue}: {exc!r}") from exc
        self._unacked -= tags

    def reject(self, delivery: Delivery, *, requeue: bool) -> None:
        self._check_outstanding({delivery.tag})
        try:
            self._channel.basic_nack(delivery.tag, multiple=False, requeue=requeue)
        except PIKA_ERRORS as exc:
            raise BrokerError(f"could not reject on {self._queue}: {exc!r}") from exc
        self._unacked.discard(delivery.tag)

    def close(self) -> None:
        connection, self._connection = self._connection, None
        self._buffer.clear()
        self._unacked.clear()
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except PIKA_ERRORS:
                pass  # the broker requeues our unacked deliveries whichever way the socket ends

    def _check_outstanding(self, tags: set[int]) -> None:
        # An unknown tag would make RabbitMQ close the channel, losing every other delivery.
        unknown = tags - self._unacked
        if unknown:
            raise BrokerError(f"delivery tags {sorted(unknown)} are not outstanding on {self._queue}")

    def _on_message(self, _channel, method, properties, body: bytes) -> None:
        self._unacked.add(method.delivery_tag)
        self._buffer.append(Delivery(
            tag=method.delivery_tag,
            body=body,
            message_id=properties.message_id or "",
            headers=text_headers(properties.headers),
            redelivered=bool(method.redelivered),
            queue=self._queue,
        ))

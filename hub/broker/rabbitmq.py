"""The RabbitMQ adapter of the broker port (pika): quorum queues, persistent messages,
publisher confirms, manual acks. pika's exceptions stop here, translated into `hub.errors`."""
from __future__ import annotations

import copy
import itertools
import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pika
import pika.exceptions

from hub.broker.broker_urls import node_name, parse_broker_url
from hub.broker.port import Broker, Consumer, Publisher, QueueStats
from hub.broker.rabbit_consumer import PIKA_ERRORS, RabbitConsumer
from hub.broker.rabbit_partitions import RabbitPartitionConsumer
from hub.broker.rabbit_publisher import CONTENT_TYPE, PERSISTENT, RabbitPublisher
from hub.broker.topology import Topology
from hub.errors import BrokerError, ConfigError, PublishNotConfirmed

log = logging.getLogger(__name__)

_NOT_FOUND = 404
_PRECONDITION_FAILED = 406


class RabbitBroker(Broker):
    """Opens publishers and consumers on one RabbitMQ node or a cluster of them, and manages the
    namespace's topology.

    `url` lists one node or several (hub/broker/broker_urls.py). Every connection tries the
    nodes in turn until one accepts it, so a node that is down costs a refused connection, not
    an outage. Constructing it connects to nothing; each operation opens what it needs."""

    def __init__(self, url: str, topology: Topology) -> None:
        self._nodes = parse_broker_url(url)
        # Consumers start at successive nodes, so that a cluster's nodes share the connections.
        self._turn = itertools.count()
        self._topology = topology
        self._blocking = threading.local()  # pika connections must not cross threads

    def declare_topology(self) -> None:
        topology = self._topology
        with self._admin_connection() as connection:
            self._refuse_other_partitions(connection)
            channel = connection.channel()
            channel.exchange_declare(topology.dead_letter_exchange, "direct", durable=True)
            for queue in topology.all_queues:
                try:
                    channel.queue_declare(queue, durable=True, arguments=topology.queue_arguments(queue))
                except pika.exceptions.ChannelClosedByBroker as exc:
                    if exc.reply_code != _PRECONDITION_FAILED:
                        raise
                    raise BrokerError(
                        f"queue {queue} already exists with other arguments than {topology.queue_arguments(queue)}"
                        f" ({exc.reply_text}); delete it or choose another HUB_NAMESPACE"
                    ) from None
            channel.queue_bind(topology.dead, topology.dead_letter_exchange, routing_key=topology.dead)

    def _refuse_other_partitions(self, connection: pika.BlockingConnection) -> None:
        """ConfigError when the broker holds inbound messages this hub's partitions would never
        read: the single queue of a hub before partitions (`{ns}.inbound`), or a partition past
        this hub's count (`[broker] partitions` lowered) in either name width. A higher count
        is not told apart: the README says to drain before changing it."""
        topology = self._topology
        count = topology.partitions
        suspects = [topology.inbound_stream, *{f"{topology.inbound_stream}.{count:02d}",
                                               f"{topology.inbound_stream}.{count:03d}"}]
        for queue in suspects:
            channel = connection.channel()
            try:
                depth = channel.queue_declare(queue, passive=True).method.message_count
            except pika.exceptions.ChannelClosedByBroker as exc:
                if exc.reply_code != _NOT_FOUND:
                    raise
                continue
            channel.close()
            if depth:
                raise ConfigError(
                    f"queue {queue} holds {depth} message(s) that this hub's {count} inbound "
                    "partitions never read: drain it with the [broker] partitions it was made "
                    "with (or the hub version before partitions) and delete it, then start "
                    "(README \"Workers and partitions\")")

    async def open_publisher(self) -> Publisher:
        publisher = RabbitPublisher(self._nodes)
        try:
            await publisher.connect()
        except PublishNotConfirmed as exc:
            await publisher.close()
            raise BrokerError(str(exc)) from None
        return publisher

    def open_consumer(self, queue: str, *, prefetch: int) -> Consumer:
        return RabbitConsumer(self._rotated(), queue, prefetch)

    def open_partition_consumer(self, queues: Sequence[str], *, prefetch: int) -> Consumer:
        """One connection, one channel per partition (hub/broker/rabbit_partitions.py)."""
        return RabbitPartitionConsumer(self._rotated(), queues, prefetch)

    def publish_blocking(
        self, queue: str, body: bytes, *, message_id: str, headers: dict[str, str], timeout: float = 10.0
    ) -> None:
        channel = self._blocking_channel(timeout)
        properties = pika.BasicProperties(
            content_type=CONTENT_TYPE, delivery_mode=PERSISTENT, message_id=message_id, headers=headers
        )
        try:
            channel.basic_publish("", queue, body, properties, mandatory=True)
        except pika.exceptions.UnroutableError:
            raise PublishNotConfirmed(f"RabbitMQ returned a publish to {queue}: no such queue") from None
        except pika.exceptions.NackError:
            raise PublishNotConfirmed(f"RabbitMQ nacked a publish to {queue}") from None
        except PIKA_ERRORS as exc:
            self._drop_blocking()
            raise PublishNotConfirmed(f"publish to {queue} not confirmed: {exc!r}") from exc

    def queue_stats(self) -> dict[str, QueueStats]:
        stats: dict[str, QueueStats] = {}
        with self._admin_connection() as connection:
            channel = connection.channel()
            for queue in self._topology.all_queues:
                try:
                    ok = channel.queue_declare(queue, passive=True).method
                except pika.exceptions.ChannelClosedByBroker as exc:
                    if exc.reply_code != _NOT_FOUND:
                        raise
                    stats[queue] = QueueStats(depth=0, consumers=0)
                    channel = connection.channel()  # the broker closed the one that asked
                    continue
                stats[queue] = QueueStats(depth=ok.message_count, consumers=ok.consumer_count)
        return stats

    def purge_topology(self) -> None:
        with self._admin_connection() as connection:
            channel = connection.channel()
            for queue in self._topology.all_queues:
                channel.queue_delete(queue)
            channel.exchange_delete(self._topology.dead_letter_exchange)

    def close(self) -> None:
        # Other threads' cached publish connections end with their thread (threading.local).
        self._drop_blocking()

    @contextmanager
    def _admin_connection(self) -> Iterator[pika.BlockingConnection]:
        """A short-lived connection for topology and statistics: rare calls, no state to keep."""
        connection = None
        try:
            connection = pika.BlockingConnection(self._nodes)
            log.debug("RabbitMQ admin connection opened to %s", connected_node(connection))
            yield connection
        except PIKA_ERRORS as exc:
            raise BrokerError(f"RabbitMQ operation failed: {exc!r}") from exc
        finally:
            if connection is not None and connection.is_open:
                try:
                    connection.close()
                except PIKA_ERRORS:
                    pass

    def _blocking_channel(self, timeout: float) -> pika.adapters.blocking_connection.BlockingChannel:
        """This thread's cached confirm-mode channel, reopened if the broker dropped it."""
        channel = getattr(self._blocking, "channel", None)
        if channel is not None:
            try:
                # Services heartbeats and notices a connection that died while idle.
                self._blocking.connection.process_data_events(time_limit=0)
                if channel.is_open:
                    return channel
            except PIKA_ERRORS:
                pass
            self._drop_blocking()
        nodes = [copy.copy(parameters) for parameters in self._nodes]
        for parameters in nodes:
            # pika's blocking confirm wait has no deadline of its own; a broker that blocks
            # publishers (memory or disk alarm) would otherwise hold us forever.
            parameters.blocked_connection_timeout = timeout
        try:
            connection = pika.BlockingConnection(nodes)
            log.log(logging.INFO if len(nodes) > 1 else logging.DEBUG,
                    "RabbitMQ publish connection opened to %s", connected_node(connection))
            channel = connection.channel()
            channel.confirm_delivery()
        except PIKA_ERRORS as exc:
            raise PublishNotConfirmed(f"cannot open a RabbitMQ connection to publish: {exc!r}") from exc
        self._blocking.connection, self._blocking.channel = connection, channel
        return channel

    def _rotated(self) -> list[pika.URLParameters]:
        """The nodes, starting one further each call (pika tries them in this order)."""
        start = next(self._turn) % len(self._nodes)
        return self._nodes[start:] + self._nodes[:start]

    def _drop_blocking(self) -> None:
        connection = getattr(self._blocking, "connection", None)
        self._blocking.connection = self._blocking.channel = None
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except PIKA_ERRORS:
                pass


def connected_node(connection: pika.BlockingConnection) -> str:
    """`host:port` of the node a blocking connection went to (pika keeps the parameters it used)."""
    return node_name(connection._impl.params)

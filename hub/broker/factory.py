"""Chooses the broker adapter from `HUB_BROKER_URL`; the composition root's one broker switch."""
from __future__ import annotations

from urllib.parse import urlsplit

from hub.broker.port import Broker
from hub.broker.topology import Topology
from hub.errors import ConfigError


def broker_from_url(url: str, topology: Topology) -> Broker:
    """`memory://` gives a `MemoryBroker`; `amqp://` or `amqps://` a `RabbitBroker` (one node, or
    a cluster's nodes as comma-separated URLs: hub/broker/broker_urls.py).
    Anything else is a `ConfigError` naming the setting. Connects to nothing."""
    scheme = urlsplit(url).scheme.lower() if url else ""
    if scheme == "memory":
        from hub.broker.memory import MemoryBroker

        return MemoryBroker(topology)
    if scheme in ("amqp", "amqps"):
        from hub.broker.rabbitmq import RabbitBroker  # pika is only imported when it is used

        return RabbitBroker(url, topology)
    # Only the scheme goes into the message: the URL may carry a password.
    raise ConfigError(
        f"HUB_BROKER_URL must start with memory://, amqp:// or amqps://, not {scheme + '://' if scheme else repr('')}"
    )

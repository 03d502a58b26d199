"""`HUB_BROKER_URL` with one RabbitMQ node or several: the nodes of a cluster, tried in turn.

The syntax is a comma-separated list of AMQP URLs, e.g.
`amqp://hub:secret@rabbit1:5672/,amqp://rabbit2:5672/,amqp://rabbit3:5672/`. Whole URLs rather
than one URL with several hosts, because each node may need its own port, scheme (amqps) or
query options, and because pika parses exactly one AMQP URL into one `URLParameters`: nothing
here re-implements URL parsing. A comma cannot appear in a host name; in a user name or
password it must be percent-encoded (%2C), as any reserved character of a URL must.

The credentials may be given once: an address without `user:password@` takes the first
address's. No message here ever contains a password.
"""
from __future__ import annotations

from urllib.parse import urlsplit

import pika

from hub.errors import ConfigError

_SCHEMES = ("amqp", "amqps")


def split_addresses(value: str) -> list[str]:
    """The node URLs of `HUB_BROKER_URL`, each with credentials (the first's where it had none)."""
    addresses = [part.strip() for part in value.split(",")]
    if not value.strip() or any(not part for part in addresses):
        raise ConfigError("HUB_BROKER_URL lists an empty address: give comma-separated amqp:// URLs "
                          "with nothing between two commas")
    userinfo = ""
    urls: list[str] = []
    for position, address in enumerate(addresses, 1):
        parts = urlsplit(address)
        if parts.scheme.lower() not in _SCHEMES:
            scheme = f"{parts.scheme}://" if parts.scheme else "no scheme"
            raise ConfigError(f"HUB_BROKER_URL address {position} must start with amqp:// or amqps://, "
                              f"not {scheme}")
        if not parts.hostname:
            raise ConfigError(f"HUB_BROKER_URL address {position} has no host")
        try:
            parts.port
        except ValueError:
            raise ConfigError(f"HUB_BROKER_URL address {position} ({parts.hostname}) has a port that is "
                              "not a number from 1 to 65535") from None
        if "@" in parts.netloc:
            if position == 1:
                userinfo = parts.netloc.rpartition("@")[0]
        elif userinfo:
            address = parts._replace(netloc=f"{userinfo}@{parts.netloc}").geturl()
        urls.append(address)
    return urls


def parse_broker_url(value: str) -> list[pika.URLParameters]:
    """One `pika.URLParameters` per node, in the order given; a `ConfigError` naming the address
    and the problem (never the password) for anything pika cannot use."""
    parameters = []
    for position, url in enumerate(split_addresses(value), 1):
        try:
            parameters.append(pika.URLParameters(url))
        except (ValueError, TypeError) as exc:
            password = urlsplit(url).password
            reason = str(exc).replace(password, "***") if password else str(exc)
            raise ConfigError(f"HUB_BROKER_URL address {position} ({describe_address(url)}) is not a "
                              f"usable AMQP URL: {reason}") from None
    return parameters


def describe_address(url: str) -> str:
    """`scheme://user@host:port/vhost` of one address: what a log line may say about it."""
    parts = urlsplit(url)
    user = f"{parts.username}@" if parts.username else ""
    try:
        port = parts.port or (5671 if parts.scheme == "amqps" else 5672)
    except ValueError:
        port = "?"
    return f"{parts.scheme}://{user}{parts.hostname}:{port}{parts.path or '/'}"


def describe_nodes(value: str) -> list[str]:
    """Every address of `HUB_BROKER_URL`, described without its password."""
    return [describe_address(url) for url in split_addresses(value)]


def node_name(parameters: pika.connection.Parameters) -> str:
    """`host:port` of the node a connection was opened with: the log says which node it went to."""
    return f"{parameters.host}:{parameters.port}"

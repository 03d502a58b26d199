"""HUB_BROKER_URL with several nodes: the syntax, credentials given once, and errors that name the
problem without the password."""
from __future__ import annotations

import pytest

from hub.broker.broker_urls import describe_nodes, parse_broker_url
from hub.errors import ConfigError
from hub.serve import _describe_broker

CLUSTER = "amqp://hub:s3cret@rabbit1:5672/,amqp://rabbit2:5673/, amqps://rabbit3/prod"


def test_one_url_is_one_node():
    [node] = parse_broker_url("amqp://guest:guest@127.0.0.1:5672/")
    assert (node.host, node.port, node.credentials.username) == ("127.0.0.1", 5672, "guest")


def test_nodes_come_in_order_and_take_the_first_address_credentials():
    nodes = parse_broker_url(CLUSTER)
    assert [(n.host, n.port) for n in nodes] == [("rabbit1", 5672), ("rabbit2", 5673), ("rabbit3", 5671)]
    assert {(n.credentials.username, n.credentials.password) for n in nodes} == {("hub", "s3cret")}
    assert nodes[2].virtual_host == "prod" and nodes[2].ssl_options is not None


def test_an_address_may_give_its_own_credentials():
    nodes = parse_broker_url("amqp://a:pa@h1/,amqp://b:pb@h2/")
    assert [(n.credentials.username, n.credentials.password) for n in nodes] == [("a", "pa"), ("b", "pb")]


def test_a_percent_encoded_comma_in_the_password_is_not_a_separator():
    nodes = parse_broker_url("amqp://hub:a%2Cb@h1/,amqp://h2/")
    assert [n.credentials.password for n in nodes] == ["a,b", "a,b"]


@pytest.mark.parametrize("url, problem", [
    ("amqp://hub:s3cret@h1/,", "empty address"),
    ("amqp://hub:s3cret@h1/,,amqp://h2/", "empty address"),
    ("amqp://hub:s3cret@h1/,redis://h2/", "address 2 must start with amqp://"),
    ("amqp://hub:s3cret@h1/,h2:5672", "address 2 must start with amqp://"),
    ("amqp://hub:s3cret@h1/,amqp:///", "address 2 has no host"),
    ("amqp://hub:s3cret@h1:99999/", "address 1 (h1) has a port"),
    ("amqp://hub:s3cret@h1/?heartbeat=s3cret", "address 1 (amqp://hub@h1:5672/) is not a usable"),
])
def test_bad_input_is_a_config_error_naming_the_problem_never_the_password(url, problem):
    with pytest.raises(ConfigError) as error:
        parse_broker_url(url)
    assert problem in str(error.value)
    assert "HUB_BROKER_URL" in str(error.value) and "s3cret" not in str(error.value)


def test_the_startup_line_lists_every_node_without_the_password():
    assert describe_nodes(CLUSTER) == ["amqp://hub@rabbit1:5672/", "amqp://hub@rabbit2:5673/",
                                       "amqps://hub@rabbit3:5671/prod"]
    line = _describe_broker(CLUSTER)
    assert "cluster of 3 nodes" in line and "rabbit3:5671" in line and "s3cret" not in line
    assert _describe_broker("amqp://hub:s3cret@rabbit1/") == "RabbitMQ at amqp://hub@rabbit1:5672/"

"""End-to-end fixtures: a real hub process per test, on real RabbitMQ and a real database."""
import os

import pytest

from hub.broker.rabbitmq import RabbitBroker
from hub.broker.topology import Topology
from tests.fixtures.hub_process import DEFAULT_AMQP_URL, HubEnv


@pytest.fixture
def hub_env(tmp_path, database_url):
    """A hub's settings (its own namespace, ports, keys, database); processes are the test's
    to start. Everything it started is stopped and its queues deleted afterwards."""
    env = HubEnv(tmp_path, database_url)
    yield env
    env.stop_all()
    broker = RabbitBroker(os.environ.get("HUB_TEST_AMQP_URL", DEFAULT_AMQP_URL), Topology(env.namespace))
    try:
        broker.purge_topology()
    finally:
        broker.close()


@pytest.fixture
def memory_env(tmp_path, database_url):
    """A hub's settings on the in-memory broker (no queues to clean up): for the roles and
    commands that need no RabbitMQ. Everything it started is stopped afterwards."""
    env = HubEnv(tmp_path, database_url, broker_url="memory://")
    yield env
    env.stop_all()

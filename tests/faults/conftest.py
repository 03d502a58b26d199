"""Fault-test fixtures: private services the tests may stop, kill and restart.

A private PostgreSQL cluster per test (tests/fixtures/private_postgres.py); the hub under test
uses the shared RabbitMQ in a namespace of its own, deleted afterwards, as the e2e tests do.
Every process a fixture starts is stopped in its finalizer, whether the test passed or not.
"""
import os

import pytest

from hub.broker.rabbitmq import RabbitBroker
from hub.broker.topology import Topology
from tests.fixtures.private_postgres import PrivatePostgres
from tests.fixtures.private_rabbitmq import PrivateRabbit
from tests.fixtures.hub_process import DEFAULT_AMQP_URL, HubEnv

_REPORTS = pytest.StashKey[list]()


@pytest.fixture
def fault_report(request):
    """`report(title, counts)`: prints a test's ledger counts now (seen with -s) and again in
    the run's summary, so they show in a plain `make test` output as well."""
    reports = request.config.stash.setdefault(_REPORTS, [])

    def report(title: str, counts: dict) -> None:
        line = f"{request.node.name} [{title}]: " + ", ".join(f"{k}={v}" for k, v in counts.items())
        print(line)
        reports.append(line)
    return report


def pytest_terminal_summary(terminalreporter, config):
    reports = config.stash.get(_REPORTS, [])
    if reports:
        terminalreporter.section("fault ledgers")
        for line in reports:
            terminalreporter.write_line(line)


@pytest.fixture
def private_postgres():
    """A started private PostgreSQL cluster; stopped and removed afterwards."""
    cluster = PrivatePostgres()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def fault_hub(tmp_path, private_postgres):
    """`(HubEnv, PrivatePostgres)`: a hub's settings on a database of the private cluster and
    its own namespace on the shared RabbitMQ; its processes and queues go afterwards."""
    url = private_postgres.create_database("hub")
    env = HubEnv(tmp_path, url)
    try:
        yield env, private_postgres
    finally:
        env.stop_all()
        broker = RabbitBroker(os.environ.get("HUB_TEST_AMQP_URL", DEFAULT_AMQP_URL),
                              Topology(env.namespace))
        try:
            broker.purge_topology()
        finally:
            broker.close()


@pytest.fixture
def private_rabbitmq():
    """A started private RabbitMQ node; stopped and removed afterwards."""
    node = PrivateRabbit()
    try:
        node.start()
        yield node
    finally:
        node.destroy()

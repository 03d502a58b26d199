"""The fault harness's private services do what the fault tests rely on: they go down when
told, come back with their data, and the machine's shared services stay up all along."""
from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from hub.broker.rabbitmq import RabbitBroker
from hub.broker.topology import Topology
from hub.errors import BrokerError
from tests.fixtures.databases import DEFAULT_PG_URL
from tests.fixtures.hub_process import DEFAULT_AMQP_URL


def test_private_postgres_stops_and_starts_again_with_its_data(private_postgres):
    engine = create_engine(private_postgres.create_database("harness"))
    shared = create_engine(os.environ.get("HUB_TEST_PG_URL", DEFAULT_PG_URL))
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE t (n int)"))
            connection.execute(text("INSERT INTO t VALUES (42)"))
        engine.dispose()
        private_postgres.stop()
        with pytest.raises(OperationalError):
            engine.connect()
        with shared.connect() as connection:  # the machine's own cluster was not touched
            assert connection.execute(text("SELECT 1")).scalar() == 1
        private_postgres.start()
        with engine.connect() as connection:
            assert connection.execute(text("SELECT n FROM t")).scalar() == 42
    finally:
        engine.dispose()
        shared.dispose()


def test_private_rabbitmq_keeps_its_messages_through_stop_app_and_kill9(private_rabbitmq):
    topology = Topology(f"harness-{uuid.uuid4().hex[:8]}")
    broker = RabbitBroker(private_rabbitmq.url, topology)
    shared = RabbitBroker(os.environ.get("HUB_TEST_AMQP_URL", DEFAULT_AMQP_URL), topology)
    try:
        broker.declare_topology()
        for n in range(3):
            broker.publish_blocking(topology.inbound, b"x", message_id=f"m{n}", headers={})
        broker.close()

        private_rabbitmq.stop_app()
        with pytest.raises(BrokerError):
            broker.queue_stats()
        assert shared.queue_stats()[topology.inbound].depth == 0  # the shared node answers
        private_rabbitmq.start_app()
        assert broker.queue_stats()[topology.inbound].depth == 3

        private_rabbitmq.kill9()
        with pytest.raises(BrokerError):
            broker.queue_stats()
        private_rabbitmq.start()
        assert broker.queue_stats()[topology.inbound].depth == 3
    finally:
        broker.close()
        shared.close()

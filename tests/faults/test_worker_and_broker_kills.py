"""Two worker processes SIGKILLed and restarted over and over, then the broker's application
stopped and started, then the broker's VM killed with -9 while a backlog waits in the inbound
queue: every AA'd message is stored once and none parked. All on a private RabbitMQ node.

A killed worker's unacked messages go back to the queue; a stopped or killed broker makes the
listener answer AE 207 (the senders resend) and the workers reconnect by themselves. What the
broker confirmed survives its kill -9 (quorum queues), so nothing AA'd may be missing after it.
"""
from __future__ import annotations

import time
import uuid

import pytest

from hub.broker.rabbitmq import RabbitBroker
from hub.broker.topology import Topology
from hub.errors import BrokerError
from tests.fixtures.kills import join_all, kill9, numbered_frames, replace, start_senders
from tests.fixtures.ledger import Ledger, StoreCount, poll
from tests.fixtures.hub_process import HubEnv

SENDERS = 4
PER_SENDER = 500
WORKER_KILLS = 8
KILL_EVERY_S = 1.5
BACKLOG = 300            # messages waiting in the inbound queue when the broker is killed
SETTLE_TIMEOUT_S = 120.0


@pytest.fixture
def env(tmp_path, private_postgres, private_rabbitmq):
    """A hub on a private PostgreSQL database and the private RabbitMQ node."""
    hub = HubEnv(tmp_path, private_postgres.create_database("hub"),
                 broker_url=private_rabbitmq.url)
    hub.env["HUB_MLLP__PUBLISH_TIMEOUT"] = "2"
    try:
        yield hub
    finally:
        hub.stop_all()


def test_worker_sigkills_and_broker_faults_lose_double_and_park_nothing(
        env, private_rabbitmq, fault_report):
    prefix = f"WKILL-{uuid.uuid4().hex[:6]}-"
    env.start("listener")
    workers = [env.start("worker"), env.start("worker")]
    ledger = Ledger()
    store = StoreCount(env.env["HUB_DATABASE_URL"], prefix)
    inbound = Topology(env.namespace).inbound_stream  # every partition
    broker = RabbitBroker(private_rabbitmq.url, Topology(env.namespace))
    try:
        senders = start_senders(env.mllp_port, numbered_frames(prefix, SENDERS, PER_SENDER),
                                ledger, pace=0.03, timeout=10.0, max_tries=60)
        for k in range(WORKER_KILLS):
            time.sleep(KILL_EVERY_S)
            workers[k % 2] = replace(env, workers[k % 2], "worker")

        private_rabbitmq.stop_app()
        time.sleep(3)
        private_rabbitmq.start_app()

        for worker in workers:  # a backlog builds up while no worker consumes
            kill9(worker)
        backlog = poll(lambda: _depth(broker, inbound) >= BACKLOG and _depth(broker, inbound), timeout=60,
                       every=0.2)
        private_rabbitmq.kill9()
        time.sleep(2)
        private_rabbitmq.start()
        restarted_at = time.monotonic()
        workers = [env.start("worker"), env.start("worker")]

        assert join_all(senders, timeout=300), f"senders still running: {ledger.counts()}"
        acked = ledger.acked()
        settled = poll(lambda: store.tally(acked)["lost"] == 0, timeout=SETTLE_TIMEOUT_S)
        recovered_s = time.monotonic() - restarted_at
        time.sleep(2)  # anything still moving (a double, a park) shows by now
        tally = store.tally(acked)
        reasons = store.parked_reasons()
    finally:
        store.close()
        broker.close()
    counts = {**ledger.counts(), **tally, "worker_kills": WORKER_KILLS,
              "backlog_at_kill9": backlog, "seconds_to_recover": round(recovered_s, 1)}
    fault_report("worker SIGKILLs, broker stop_app and kill -9", counts)

    assert counts["aa"] == counts["sent"] == SENDERS * PER_SENDER, counts
    assert backlog and backlog >= BACKLOG, counts
    assert settled, counts
    assert (tally["lost"], tally["doubled"], tally["healthy_parked"]) == (0, 0, 0), \
        f"{counts}; parked for {dict(reasons)}"
    assert tally["stored"] == SENDERS * PER_SENDER, counts


def _depth(broker: RabbitBroker, queue: str) -> int:
    """Depth of `queue`, or of every inbound partition when it names the inbound stream."""
    try:
        stats = broker.queue_stats()
        topology = Topology(queue.removesuffix(".inbound"))
        if queue == topology.inbound_stream:
            return sum(stats[name].depth for name in topology.inbound_queues)
        return stats[queue].depth
    except BrokerError:
        return 0

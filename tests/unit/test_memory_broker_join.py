"""The in-memory broker's join(): a test waits on it for a worker in another thread, so it
returns only once everything published to the queue was settled, and says why when it times out."""
import threading

import pytest

from hub.broker.memory import MemoryBroker
from hub.broker.topology import Topology
from hub.errors import BrokerError

TOPOLOGY = Topology("join")


def test_join_waits_for_the_ack_not_just_the_fetch():
    broker = MemoryBroker(TOPOLOGY)
    broker.declare_topology()
    broker.join(TOPOLOGY.inbound, timeout=0)  # empty: at once
    broker.publish_blocking(TOPOLOGY.inbound, b"one", message_id="1", headers={})
    consumer = broker.open_consumer(TOPOLOGY.inbound, prefetch=10)
    [delivery] = consumer.fetch(10, 1.0)
    with pytest.raises(BrokerError, match="0 ready, 1 unacknowledged"):
        broker.join(TOPOLOGY.inbound, timeout=0.05)

    threading.Timer(0.05, consumer.ack, args=([delivery],)).start()
    broker.join(TOPOLOGY.inbound, timeout=5)
    assert broker.queue_stats()[TOPOLOGY.inbound].depth == 0


def test_a_message_handed_back_is_still_to_be_done():
    broker = MemoryBroker(TOPOLOGY)
    broker.declare_topology()
    broker.publish_blocking(TOPOLOGY.inbound, b"one", message_id="1", headers={})
    consumer = broker.open_consumer(TOPOLOGY.inbound, prefetch=10)
    consumer.fetch(10, 1.0)
    consumer.close()
    with pytest.raises(BrokerError, match="1 ready, 0 unacknowledged"):
        broker.join(TOPOLOGY.inbound, timeout=0.05)
    again = broker.open_consumer(TOPOLOGY.inbound, prefetch=10)
    [delivery] = again.fetch(10, 1.0)
    again.reject(delivery, requeue=False)  # dead-lettered: settled as far as this queue goes
    broker.join(TOPOLOGY.inbound, timeout=0)
    assert broker.queue_stats()[TOPOLOGY.dead].depth == 1

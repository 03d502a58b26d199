"""Queue names and arguments: what keeps a quorum queue from dropping a message."""
from hub.broker.topology import DELIVERY_LIMIT, Topology


def test_every_name_carries_the_namespace():
    topology = Topology("hub-a")
    names = [*topology.all_queues, topology.dead_letter_exchange]
    assert all(name.startswith("hub-a.") for name in names)
    assert set(names).isdisjoint([*Topology("hub-b").all_queues, Topology("hub-b").dead_letter_exchange])


def test_inbound_is_a_work_queue_and_dead_is_not():
    topology = Topology("t")
    assert topology.inbound in topology.work_queues
    assert topology.dead not in topology.work_queues
    assert set(topology.all_queues) == {*topology.work_queues, topology.dead}


def test_every_queue_is_a_quorum_queue_that_refuses_rather_than_drops_when_full():
    topology = Topology("t")
    for queue in topology.all_queues:
        arguments = topology.queue_arguments(queue)
        assert arguments["x-queue-type"] == "quorum"
        assert arguments["x-overflow"] == "reject-publish"


def test_work_queues_dead_letter_at_least_once_into_the_dead_queue():
    topology = Topology("t")
    arguments = topology.queue_arguments(topology.inbound)
    assert arguments["x-dead-letter-exchange"] == topology.dead_letter_exchange
    assert arguments["x-dead-letter-routing-key"] == topology.dead
    assert arguments["x-dead-letter-strategy"] == "at-least-once"


def test_work_queues_have_a_delivery_limit():
    topology = Topology("t")
    assert topology.queue_arguments(topology.inbound)["x-delivery-limit"] == DELIVERY_LIMIT
    assert DELIVERY_LIMIT >= 1


def test_the_dead_queue_neither_dead_letters_nor_limits_deliveries():
    topology = Topology("t")
    arguments = topology.queue_arguments(topology.dead)
    assert "x-dead-letter-exchange" not in arguments
    assert "x-delivery-limit" not in arguments

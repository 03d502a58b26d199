"""The inbound partition of a message: one patient always to one partition, patients spread
over all of them, no patient to a partition of its own, and nothing of the matricule in the
queue name."""
from __future__ import annotations

from collections import Counter

import pytest

from hub.broker.partitions import PURPOSE, partition_of, router
from hub.broker.topology import Topology
from hub.inbound.intake import IntakePolicy
from hub.inbound.rerouting import body_router
from hub.store.keyring import Keyring
from tests.fixtures.matricules import reference_matricule
from tests.fixtures.messages import adt_a01, encoded, oru_r01, patient


@pytest.fixture
def keyring(tmp_path) -> Keyring:
    return Keyring.create(tmp_path / "keys.json")


def matricules(count: int) -> list[str]:
    return [patient(n).matricule for n in range(count)]


def test_one_matricule_always_gets_the_same_partition(keyring, tmp_path):
    number = reference_matricule("19800101123")
    first = partition_of(keyring, number, 16)
    assert all(partition_of(keyring, number, 16) == first for _ in range(10))
    # Another process loading the same key file chooses the same partition.
    again = Keyring.load(tmp_path / "keys.json")
    assert partition_of(again, number, 16) == first


def test_the_partition_follows_the_index_key_not_the_digits_alone(keyring, tmp_path):
    other = Keyring.create(tmp_path / "other.json")
    numbers = matricules(64)
    assert [partition_of(keyring, n, 256) for n in numbers] != \
        [partition_of(other, n, 256) for n in numbers]


def test_patients_spread_over_every_partition(keyring):
    counts = Counter(partition_of(keyring, number, 16) for number in matricules(800))
    assert set(counts) == set(range(16))
    assert max(counts.values()) < 3 * (800 / 16)  # no partition takes a crowd


def test_a_message_without_patient_goes_to_the_no_patient_partition(keyring):
    topology = Topology("t", partitions=4)
    route = router(keyring, topology)
    assert partition_of(keyring, None, 4) is None
    assert route(None) == topology.inbound
    assert route(patient(1).matricule) in topology.inbound_queues[:4]


def test_queue_names_hold_no_digits_of_the_matricule_or_its_hash(keyring):
    topology = Topology("t", partitions=256)
    number = patient(3).matricule
    name = router(keyring, topology)(number)
    assert name.startswith("t.inbound.") and len(name.removeprefix("t.inbound.")) == 3
    assert number not in name and keyring.lookup_hash(number, purpose=PURPOSE) not in name
    # The partition hash is its own purpose: it matches no hash the store keeps.
    assert keyring.lookup_hash(number, purpose=PURPOSE) != keyring.lookup_hash(number, purpose="patient")


def test_stored_bytes_go_again_to_their_patients_partition(keyring):
    topology = Topology("t", partitions=8)
    policy = IntakePolicy(supported_versions=frozenset({"2.5"}), identity_exempt=frozenset({"MFN"}),
                          authorities=frozenset())
    route = body_router(keyring, topology, policy)
    someone = patient(7)
    expected = router(keyring, topology)(someone.matricule)
    assert route(encoded(oru_r01(someone, "C1"))) == expected
    assert route(encoded(adt_a01(someone, "C2", event="A08"))) == expected
    assert route(b"not hl7") == topology.inbound


def test_partition_names_and_arguments():
    topology = Topology("t", partitions=3)
    assert topology.inbound_queues == ("t.inbound.00", "t.inbound.01", "t.inbound.02", "t.inbound.none")
    for queue in topology.inbound_queues:
        arguments = topology.queue_arguments(queue)
        assert arguments["x-single-active-consumer"] is True
        assert arguments["x-dead-letter-routing-key"] == topology.dead
    assert "x-single-active-consumer" not in topology.queue_arguments(topology.dead)
    with pytest.raises(ValueError):
        topology.partition_queue(3)


def test_status_sees_the_partitions_as_one_stream():
    from hub.broker.partitions import stream_stats
    from hub.broker.port import QueueStats

    topology = Topology("t", partitions=2)
    stats = {"t.inbound.00": QueueStats(3, 2), "t.inbound.01": QueueStats(4, 0),
             "t.inbound.none": QueueStats(1, 2), "t.dead": QueueStats(5, 1)}
    assert stream_stats(stats, topology) == {"t.inbound": QueueStats(8, 0), "t.dead": QueueStats(5, 1)}

"""Destination keys: `host:port`, IPv6 hosts bracketed, read back exactly."""
import pytest

from hub.domain.delivery import (
    DeliveryState, Lane, destination_key, lanes_of, parse_destination_key,
)


@pytest.mark.parametrize("host, port, key", [
    ("127.0.0.1", 2575, "127.0.0.1:2575"),
    ("mllp.chl.lu", 6661, "mllp.chl.lu:6661"),
    ("::1", 2575, "[::1]:2575"),
])
def test_keys_round_trip(host, port, key):
    assert destination_key(host, port) == key
    assert parse_destination_key(key) == (host, port)


@pytest.mark.parametrize("bad", ["", "host", "host:", ":2575", "host:port", "host:-1"])
def test_malformed_keys_are_refused(bad):
    with pytest.raises(ValueError):
        parse_destination_key(bad)


def test_states_are_the_status_contract():
    assert [s.value for s in DeliveryState] == ["pending", "delivered", "denied", "parked"]


@pytest.mark.parametrize("count", range(1, 17))
def test_every_patient_id_is_in_exactly_one_lane(count):
    ids = [f"{n:032x}" for n in range(64)] + ["ABCDEF", "p-1", "", "x", "0Z", "é"]
    for patient_id in ids:
        assert sum(lane.holds(patient_id) for lane in lanes_of(count)) == 1, patient_id
    # each hex digit's lane is its value modulo the count, in either case
    assert all(Lane(int(d, 16) % count, count).holds("0" * 31 + d)
               for d in "0123456789abcdefABCDEF")


def test_a_lane_is_named_for_its_destination_and_bounded():
    assert Lane().name("h:1") == "h:1" and Lane(2, 4).name("h:1") == "h:1#2"
    for index, count in [(0, 0), (0, 17), (4, 4), (-1, 2)]:
        with pytest.raises(ValueError):
            Lane(index, count)

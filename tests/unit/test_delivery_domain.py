"""Destination keys: `host:port`, IPv6 hosts bracketed, read back exactly."""
import pytest

from hub.domain.delivery import DeliveryState, destination_key, parse_destination_key


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

"""The connection caps and the once-a-minute log line, with a clock the test turns."""
from __future__ import annotations

import logging

from hub.inbound.admission import Admission, PeerLog
from hub.metrics import Metrics


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_peer_is_spoken_of_once_a_minute_and_the_next_line_counts_the_rest():
    clock = Clock()
    said = PeerLog(60.0, clock=clock)
    assert said.should_say("10.0.0.1") == 0
    assert [said.should_say("10.0.0.1") for _ in range(5)] == [None] * 5
    assert said.should_say("10.0.0.2") == 0  # another peer has its own minute
    clock.now += 59.9
    assert said.should_say("10.0.0.1") is None
    clock.now += 0.2
    assert said.should_say("10.0.0.1") == 6
    assert said.should_say("10.0.0.1") is None


def test_the_peer_log_forgets_old_peers_so_its_memory_is_bounded():
    clock = Clock()
    said = PeerLog(60.0, max_peers=100, clock=clock)
    for n in range(100):
        said.should_say(f"10.0.{n // 256}.{n % 256}")
    clock.now += 61
    for n in range(1000):  # many addresses, each new: memory stays bounded
        said.should_say(f"10.1.{n // 256}.{n % 256}")
        clock.now += 0.001
    assert len(said._said) <= 100


def test_caps_global_and_per_peer(caplog):
    metrics = Metrics()
    admission = Admission(max_connections=5, max_per_peer=3, metrics=metrics,
                          refusals=PeerLog(60.0, clock=Clock()))
    with caplog.at_level(logging.WARNING, logger="hub.inbound.listener"):
        assert [admission.admit("10.0.0.1") for _ in range(4)] == [True, True, True, False]
        assert [admission.admit("10.0.0.2") for _ in range(3)] == [True, True, False]
        admission.release("10.0.0.1")
        assert admission.admit("10.0.0.2") and admission.open == 5
        assert not admission.admit("10.0.0.3")
    sample = metrics.registry.get_sample_value
    assert sample("hub_mllp_connections_refused_total", {"reason": "max_connections_per_peer"}) == 1
    assert sample("hub_mllp_connections_refused_total", {"reason": "max_connections"}) == 2
    # one line per refused peer
    assert sorted(r.getMessage().split()[2] for r in caplog.records) == [
        "10.0.0.1", "10.0.0.2", "10.0.0.3"]

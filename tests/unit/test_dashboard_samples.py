"""The overview's status ring: bounded to the history it keeps, rates between samples."""
from __future__ import annotations

import threading

from hub.dashboard.samples import Sampler, StatusRing


def status(received: int, stored: int, delivered: int, *depths: int) -> dict:
    return {"messages": {"received": received, "stored": stored},
            "deliveries": {"delivered": delivered},
            "queues": {f"q{n}": {"depth": d, "consumers": 1} for n, d in enumerate(depths)}}


def test_the_ring_keeps_one_history_of_samples_and_no_more():
    ring = StatusRing(interval=10, history=60)
    for n in range(100):
        ring.add(1000.0 + 10 * n, status(n, n, 0))
    points = ring.series()
    assert len(points) == 7  # an hour of 10 s samples would be 361: the ring is bounded
    assert [p["at"] for p in points] == [1000.0 + 10 * n for n in range(93, 100)]
    assert ring.latest()["status"]["messages"]["received"] == 99


def test_rates_are_the_count_differences_over_the_time_between_samples():
    ring = StatusRing(interval=5, history=3600)
    ring.add(100.0, status(10, 8, 1, 3, 4))
    ring.add(105.0, status(60, 18, 1, 0, 2))
    ring.add(115.0, status(60, 18, 11, 0, 0))
    first, second, third = ring.series()
    assert (first["received_rate"], first["depth"]) == (0.0, 7)
    assert (second["received_rate"], second["stored_rate"], second["delivered_rate"]) == (10.0, 2.0, 0.0)
    assert second["depth"] == 2
    assert (third["received_rate"], third["delivered_rate"]) == (0.0, 1.0)


def test_a_counter_that_went_down_gives_no_negative_rate():
    ring = StatusRing(interval=5, history=3600)
    ring.add(100.0, status(10, 10, 0))
    ring.add(105.0, status(4, 4, 0))  # e.g. a database swapped under a test hub
    assert ring.series()[1]["received_rate"] == 0.0


def test_the_sampler_keeps_sampling_after_a_failure_and_stops_with_the_hub():
    ring, stop, calls = StatusRing(interval=0.01, history=10), threading.Event(), []

    def collect() -> dict:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("database away for a moment")
        if len(calls) >= 5:
            stop.set()
        return status(len(calls), 0, 0)

    sampler = Sampler(ring, collect, stop)
    sampler.start()
    assert stop.wait(5)
    assert sampler.join(5)
    assert [p["received"] for p in ring.series()] == [1, 3, 4, 5]

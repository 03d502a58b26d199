"""The health line of `hub status` (hub/ops/health.py): each problem named, each threshold a
setting, and a hub with nothing wrong called healthy."""
from __future__ import annotations

from hub.ops.health import assess
from hub.settings import StatusSettings

LIMITS = StatusSettings(max_queue_depth=100, max_pending_age=60.0, max_parked_messages=0,
                        max_parked_deliveries=0)
DEST = "127.0.0.1:7001"


def document(*, reachable=True, queues=None, parked=0, by_destination=None, ages=None) -> dict:
    """A status document with only what assess() reads."""
    by_destination = by_destination or {}
    ages = ages or {}
    return {
        "broker": {"reachable": reachable, "error": None if reachable else "refused"},
        "queues": queues if queues is not None else {"hub.inbound": {"depth": 0, "consumers": 1}},
        "messages": {"received": 10, "stored": 10 - parked, "parked": parked},
        "deliveries_by_destination": by_destination,
        "destinations": {name: {"oldest_pending_age_s": ages.get(name)}
                         for name in {*by_destination, *ages}},
    }


def test_nothing_wrong_is_healthy():
    health = assess(document(by_destination={DEST: {"delivered": 4, "parked": 0}},
                             ages={DEST: 59.0}), LIMITS)
    assert health == {"healthy": True, "summary": "healthy", "problems": []}


def test_a_queue_with_messages_and_no_consumer_is_named():
    health = assess(document(queues={"hub.inbound": {"depth": 120, "consumers": 0},
                                     "hub.dead": {"depth": 0, "consumers": 0}}), LIMITS)
    assert health["summary"] == "unhealthy: queue hub.inbound has 120 messages and no consumer"


def test_a_queue_deeper_than_the_limit_is_named_even_with_consumers():
    over = assess(document(queues={"hub.inbound": {"depth": 101, "consumers": 2}}), LIMITS)
    at = assess(document(queues={"hub.inbound": {"depth": 100, "consumers": 2}}), LIMITS)
    assert over["problems"] == ["queue hub.inbound has 101 messages waiting (more than 100)"]
    assert at["healthy"] is True


def test_every_problem_in_one_line_broker_first():
    health = assess(document(reachable=False, queues={}, parked=1,
                             by_destination={DEST: {"parked": 3}}), LIMITS)
    assert health["healthy"] is False
    assert health["summary"] == ("unhealthy: broker unreachable; 1 message parked; "
                                 f"3 deliveries parked for {DEST}")


def test_parked_counts_are_judged_against_their_settings():
    doc = document(parked=2, by_destination={DEST: {"parked": 1}})
    lenient = StatusSettings(max_parked_messages=2, max_parked_deliveries=1)
    assert assess(doc, lenient)["healthy"] is True
    assert assess(doc, LIMITS)["problems"] == ["2 messages parked",
                                               f"1 delivery parked for {DEST}"]


def test_a_pending_delivery_older_than_the_limit_names_its_destination():
    health = assess(document(by_destination={DEST: {"pending": 1}}, ages={DEST: 61.4}), LIMITS)
    assert health["problems"] == [f"oldest pending delivery for {DEST} waiting 61 s "
                                  "(more than 60)"]


def test_a_queue_the_watchdog_flagged_is_named_while_it_still_holds_messages():
    flagged = {"hub.inbound": {"depth": 40, "consumers": 1, "still_checks": 5,
                               "since": "2026-11-26T04:00:00+00:00",
                               "checked_at": "2026-11-26T04:05:00+00:00"}}
    stuck = document(queues={"hub.inbound": {"depth": 42, "consumers": 1}})
    drained = document(queues={"hub.inbound": {"depth": 0, "consumers": 1}})
    assert assess({**stuck, "stalled_queues": flagged}, LIMITS)["problems"] == [
        "queue hub.inbound has 42 messages and made no progress in 5 checks"]
    assert assess({**drained, "stalled_queues": flagged}, LIMITS)["healthy"] is True
    assert assess(stuck, LIMITS)["healthy"] is True


def test_a_destination_unreachable_past_its_threshold_is_named():
    doc = document(by_destination={DEST: {"pending": 3}})
    figures = doc["destinations"][DEST]
    limits = StatusSettings(max_unreachable=300.0)
    figures.update(unreachable_s=300.0, connection_failures=7)
    assert assess(doc, limits)["healthy"] is True
    figures.update(unreachable_s=301.0, connection_failures=8)
    assert assess(doc, limits)["problems"] == [
        f"destination {DEST} unreachable for 301 s (8 connection attempts failed in a row)"]

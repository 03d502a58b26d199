"""The verdict of `hub status`: healthy, or one line naming what is not.

A pure function of the status document (hub/ops/status.py) and the `[status]` thresholds, so
the CLI, the dashboard and the tests judge the same numbers the same way.
"""
from __future__ import annotations

from hub.settings import StatusSettings


def assess(document: dict, limits: StatusSettings) -> dict:
    """`{"healthy": bool, "summary": "healthy" | "unhealthy: …; …", "problems": [...]}` for a
    status document. Unhealthy when the broker is unreachable; a queue holds messages and has
    no consumer, or holds more than `max_queue_depth`, or holds messages and the queue watchdog
    (hub/jobs/watchdog.py) flagged it as making no progress; the inbound queue
    (`inbound_queue`) has no consumer even while empty (no worker runs); more parked messages
    are open (no replay filed for them yet) than `max_parked_messages`; a destination has more
    parked deliveries than `max_parked_deliveries`, or its oldest pending delivery waited
    longer than `max_pending_age` seconds, or every connection to it failed for longer than
    `max_unreachable` seconds."""
    problems: list[str] = []
    if not document["broker"]["reachable"]:
        problems.append("broker unreachable")
    stalled = document.get("stalled_queues", {})
    for name, queue in document["queues"].items():
        depth, consumers = queue["depth"], queue["consumers"]
        if depth > 0 and consumers == 0:
            problems.append(f"queue {name} has {_count(depth, 'message')} and no consumer")
        elif consumers == 0 and name == document.get("inbound_queue"):
            # Empty, but whatever arrives next waits: no hub with the worker role is running.
            problems.append(f"no worker consumes queue {name}")
        elif depth > limits.max_queue_depth:
            problems.append(f"queue {name} has {_count(depth, 'message')} waiting "
                            f"(more than {limits.max_queue_depth})")
        elif depth > 0 and name in stalled:
            # The watchdog's flag counts only while the queue still holds messages now.
            problems.append(f"queue {name} has {_count(depth, 'message')} and made no progress "
                            f"in {stalled[name]['still_checks']} checks")
    parked = document.get("dlq", {}).get("open", document["messages"].get("parked", 0))
    if parked > limits.max_parked_messages:
        problems.append(f"{_count(parked, 'message')} parked")
    for destination, states in document["deliveries_by_destination"].items():
        if states.get("parked", 0) > limits.max_parked_deliveries:
            problems.append(f"{_count(states['parked'], 'delivery')} parked for {destination}")
    for destination, figures in document["destinations"].items():
        age = figures["oldest_pending_age_s"]
        if age is not None and age > limits.max_pending_age:
            problems.append(f"oldest pending delivery for {destination} waiting {age:.0f} s "
                            f"(more than {limits.max_pending_age:g})")
        down = figures.get("unreachable_s")
        if down is not None and down > limits.max_unreachable:
            failures = _count(figures.get("connection_failures", 0), "connection attempt")
            problems.append(f"destination {destination} unreachable for {down:.0f} s "
                            f"({failures} failed in a row)")
    summary = "unhealthy: " + "; ".join(problems) if problems else "healthy"
    return {"healthy": not problems, "summary": summary, "problems": problems}


def _count(n: int, noun: str) -> str:
    if n == 1:
        return f"1 {noun}"
    return f"{n} {noun[:-1]}ies" if noun.endswith("y") else f"{n} {noun}s"

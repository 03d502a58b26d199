"""When to try a delivery again: exponential backoff with full jitter and a cap, as dramatiq's
retries do. The state (attempts, next attempt) lives in the store; this is only the arithmetic.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Protocol


class Jitter(Protocol):
    """Anything with `uniform(a, b)`: the `random` module or a seeded `random.Random`."""

    def uniform(self, a: float, b: float) -> float: ...


def retry_ceiling(attempts: int, *, base: float = 2.0, cap: float = 300.0) -> float:
    """The longest wait, in seconds, after `attempts` failed attempts: base ** attempts, capped."""
    if attempts < 1:
        return 0.0
    try:
        return min(cap, base ** attempts)
    except OverflowError:
        return cap


def next_attempt(
    attempts: int,
    now: datetime,
    *,
    base: float = 2.0,
    cap: float = 300.0,
    jitter: Jitter = random,
) -> datetime:
    """The time of the next attempt after `attempts` failed ones, counted from `now`.

    Full jitter (a uniform draw between zero and the ceiling) spreads the retries of many
    deliveries that failed together, so a recipient coming back is not hit by all at once.
    """
    delay = jitter.uniform(0.0, retry_ceiling(attempts, base=base, cap=cap))
    return now + timedelta(seconds=delay)


def should_park(attempts: int, max_attempts: int) -> bool:
    """Whether a delivery that failed `attempts` times has used up its `max_attempts`."""
    return attempts >= max_attempts

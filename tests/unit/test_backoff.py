"""Retry timing: exponential, fully jittered, capped."""
import random
from datetime import UTC, datetime, timedelta

import pytest

from hub.outbound.backoff import next_attempt, retry_ceiling, should_park

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


class Highest:
    """Jitter that always draws the top of the range."""

    def uniform(self, a, b):
        return b


@pytest.mark.parametrize("attempts, seconds", [(1, 2), (2, 4), (3, 8), (8, 256), (9, 300),
                                               (50, 300), (5000, 300)])
def test_ceiling_doubles_up_to_the_cap(attempts, seconds):
    assert next_attempt(attempts, NOW, jitter=Highest()) == NOW + timedelta(seconds=seconds)


def test_huge_bases_and_attempts_do_not_overflow():
    assert retry_ceiling(10_000, base=1e10, cap=60) == 60


def test_no_failure_yet_means_now():
    assert next_attempt(0, NOW) == NOW


def test_full_jitter_stays_within_zero_and_the_ceiling_and_spreads():
    rng = random.Random(7)
    delays = [(next_attempt(4, NOW, jitter=rng) - NOW).total_seconds() for _ in range(2000)]
    assert all(0 <= d <= 16 for d in delays)
    assert min(delays) < 1 and max(delays) > 15  # spread over the whole range
    assert 7 < sum(delays) / len(delays) < 9


def test_base_and_cap_are_parameters():
    assert next_attempt(3, NOW, base=3, cap=10, jitter=Highest()) == NOW + timedelta(seconds=10)
    assert next_attempt(2, NOW, base=3, cap=10, jitter=Highest()) == NOW + timedelta(seconds=9)


def test_should_park_once_attempts_reach_the_maximum():
    assert not should_park(4, 5)
    assert should_park(5, 5)
    assert should_park(6, 5)

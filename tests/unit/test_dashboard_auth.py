"""The dashboard's login: scrypt hashes from settings, HTTP Basic checked against them."""
from __future__ import annotations

import base64
import subprocess
import sys

import pytest

from hub.dashboard.auth import (BasicAuth, FailureLimiter, Verdict, check_hash_format, hash_password,
                                 verify_password)

FAST = {"n": 2**10}  # the format carries its parameters; the default cost is for real hashes


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_a_hash_verifies_its_password_only_and_is_salted():
    stored = hash_password("correct horse battery", **FAST)
    assert stored.startswith("scrypt$1024$8$1$")
    assert verify_password("correct horse battery", stored)
    assert not verify_password("correct horse batterY", stored)
    assert hash_password("correct horse battery", **FAST) != stored  # a fresh salt each time


def test_the_default_cost_is_scrypts_recommended_floor():
    stored = hash_password("correct horse battery")
    assert stored.split("$")[1:4] == ["16384", "8", "1"]
    assert verify_password("correct horse battery", stored)


@pytest.mark.parametrize("bad", ["", "plaintext-password", "pbkdf2$1$2$3$YQ$YQ",
                                 "scrypt$1000$8$1$YWJj$YWJj", "scrypt$1024$8$1$!!$YWJj",
                                 "scrypt$1024$x$1$YWJj$YWJj"])
def test_a_malformed_hash_is_refused_without_repeating_it(bad):
    with pytest.raises(ValueError) as caught:
        check_hash_format(bad)
    assert "dashboard.password_hash" in str(caught.value)
    assert not bad or bad not in str(caught.value)


def test_basic_auth_needs_the_user_and_the_password():
    auth = BasicAuth("ops", hash_password("correct horse battery", **FAST))
    assert auth.allows(basic("ops", "correct horse battery"))
    assert auth.allows(basic("ops", "correct horse battery"))  # remembered, still right
    assert not auth.allows(basic("ops", "correct horse"))
    assert not auth.allows(basic("root", "correct horse battery"))
    assert not auth.allows(None)
    assert not auth.allows("Bearer abc")
    assert not auth.allows("Basic !!!not-base64")
    assert not auth.allows("Basic " + base64.b64encode(b"no colon here").decode())


def test_a_password_with_a_colon_is_split_at_the_first_one():
    auth = BasicAuth("ops", hash_password("pass:with:colons", **FAST))
    assert auth.allows(basic("ops", "pass:with:colons"))


def test_the_hash_command_reads_a_password_from_a_pipe_and_prints_its_hash():
    done = subprocess.run([sys.executable, "-m", "hub.dashboard.auth"], input="long enough secret\n",
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert verify_password("long enough secret", done.stdout.strip())
    short = subprocess.run([sys.executable, "-m", "hub.dashboard.auth"], input="short\n",
                           capture_output=True, text=True, timeout=60)
    assert short.returncode == 1 and short.stdout == "" and "12 characters" in short.stderr


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def counting_hashes(monkeypatch) -> list[str]:
    """Every scrypt check BasicAuth runs, by password."""
    import hub.dashboard.auth as auth_module

    seen: list[str] = []
    real = auth_module.verify_password

    def verify(password, stored):
        seen.append(password)
        return real(password, stored)

    monkeypatch.setattr(auth_module, "verify_password", verify)
    return seen


def test_failed_logins_are_limited_per_client_and_a_good_password_still_works_after_one():
    clock = Clock()
    auth = BasicAuth("ops", hash_password("correct horse battery", **FAST),
                     limiter=FailureLimiter(burst=3, rate=0.5, clock=clock), clock=clock)
    assert auth.check(basic("ops", "wrong"), "10.0.0.1") == Verdict(False)
    assert auth.check(basic("ops", "correct horse battery"), "10.0.0.1") == Verdict(True)
    assert auth.check(basic("ops", "wrong"), "10.0.0.1") == Verdict(False)
    assert auth.check(basic("ops", "wrong"), "10.0.0.1") == Verdict(False)
    refused = auth.check(basic("ops", "wrong"), "10.0.0.1")
    assert not refused.allowed and refused.retry_after == 2  # one token every 2 s
    assert auth.check(basic("ops", "wrong"), "10.0.0.2") == Verdict(False)  # another client
    # A remembered login still passes; no header, no cost, no limit: a 401, not a 429.
    assert auth.check(basic("ops", "correct horse battery"), "10.0.0.1") == Verdict(True)
    assert auth.check(None, "10.0.0.1") == Verdict(False)
    clock.now += 2
    assert auth.check(basic("ops", "wrong"), "10.0.0.1") == Verdict(False)
    assert auth.check(basic("ops", "wrong"), "10.0.0.1").retry_after == 2


def test_a_limited_client_gets_no_hash_computed(monkeypatch):
    seen = counting_hashes(monkeypatch)
    auth = BasicAuth("ops", hash_password("correct horse battery", **FAST),
                     limiter=FailureLimiter(burst=2, rate=0.01))
    verdicts = [auth.check(basic("ops", f"wrong {n}"), "10.0.0.9") for n in range(20)]
    assert len(seen) == 2
    assert [v.retry_after is not None for v in verdicts] == [False] * 2 + [True] * 18


def test_concurrent_wrong_passwords_from_one_client_cost_its_burst_of_hashes(monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    seen = counting_hashes(monkeypatch)
    auth = BasicAuth("ops", hash_password("correct horse battery", **FAST),
                     limiter=FailureLimiter(burst=5, rate=0.01))
    with ThreadPoolExecutor(50) as pool:
        verdicts = list(pool.map(lambda n: auth.check(basic("ops", f"wrong {n}"), "10.0.0.3"),
                                 range(100)))
    assert len(seen) <= 5 and not any(v.allowed for v in verdicts)
    assert sum(v.retry_after is not None for v in verdicts) >= 95


def test_the_limiter_follows_a_bounded_number_of_clients():
    limiter = FailureLimiter(burst=1, rate=0.001, clients=10)
    for n in range(1000):
        assert limiter.take(f"10.1.{n // 256}.{n % 256}") == 0
    assert len(limiter._buckets) == 10
    assert limiter.take("10.1.3.231") > 0  # the most recent are still followed


def test_a_verified_login_is_not_hashed_again_until_its_time_is_up(monkeypatch):
    seen = counting_hashes(monkeypatch)
    clock = Clock()
    auth = BasicAuth("ops", hash_password("correct horse battery", **FAST), ttl=60, clock=clock)
    for _ in range(10):
        assert auth.allows(basic("ops", "correct horse battery"), "10.0.0.1")
    assert len(seen) == 1
    clock.now += 61
    assert auth.allows(basic("ops", "correct horse battery"), "10.0.0.1")
    assert len(seen) == 2


def test_a_remembered_login_is_forgotten_when_the_password_changes():
    auth = BasicAuth("ops", hash_password("correct horse battery", **FAST))
    assert auth.allows(basic("ops", "correct horse battery"))
    auth.set_password_hash(hash_password("a brand new passphrase", **FAST))
    assert not auth.allows(basic("ops", "correct horse battery"))
    assert auth.allows(basic("ops", "a brand new passphrase"))
    with pytest.raises(ValueError):
        auth.set_password_hash("plaintext")
    assert auth.allows(basic("ops", "a brand new passphrase"))


def test_what_is_remembered_is_a_keyed_hash_never_the_header():
    auth = BasicAuth("ops", hash_password("correct horse battery", **FAST))
    header = basic("ops", "correct horse battery")
    assert auth.allows(header)
    [key] = auth._good
    import hashlib

    assert key != hashlib.sha256(header.encode()).digest() and header.encode() not in key

"""The dashboard's login: scrypt hashes from settings, HTTP Basic checked against them."""
from __future__ import annotations

import base64
import subprocess
import sys

import pytest

from hub.dashboard.auth import BasicAuth, check_hash_format, hash_password, verify_password

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

"""The dashboard's login: HTTP Basic checked against a scrypt hash from the settings.

The hash has the form `scrypt$N$r$p$SALT$KEY` (salt and key in unpadded base64), made by
`python -m hub.dashboard.auth` so that no password is ever written to a file of the repo.
"""
from __future__ import annotations

import base64
import binascii
import getpass
import hashlib
import hmac
import logging
import math
import secrets
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

SCHEME = "scrypt"
# 2**14 x 8: about 16 MiB and a few tens of milliseconds per check, OWASP's floor for scrypt.
DEFAULT_N, DEFAULT_R, DEFAULT_P = 2**14, 8, 1
_KEY_LENGTH = 32
log = logging.getLogger(__name__)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def hash_password(password: str, *, n: int = DEFAULT_N, r: int = DEFAULT_R, p: int = DEFAULT_P) -> str:
    """A salted scrypt hash of `password`, in the form the `dashboard.password_hash` setting takes."""
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=_KEY_LENGTH,
                         maxmem=256 * n * r + 1024 * 1024)
    return f"{SCHEME}${n}${r}${p}${_b64(salt)}${_b64(key)}"


def check_hash_format(stored: str) -> None:
    """ValueError (naming what is wrong, never the value) unless `stored` is a usable hash."""
    _parse(stored)


def _parse(stored: str) -> tuple[int, int, int, bytes, bytes]:
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        raise ValueError("dashboard.password_hash is not of the form scrypt$N$r$p$SALT$KEY")
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, key = _unb64(parts[4]), _unb64(parts[5])
    except (ValueError, binascii.Error):
        raise ValueError("dashboard.password_hash has a bad number or base64 part") from None
    if n < 2 or n & (n - 1) or r < 1 or p < 1 or not salt or not key:
        raise ValueError("dashboard.password_hash has bad scrypt parameters")
    return n, r, p, salt, key


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` matches the hash `stored` (compared in constant time)."""
    n, r, p, salt, key = _parse(stored)
    candidate = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=len(key),
                               maxmem=256 * n * r + 1024 * 1024)
    return hmac.compare_digest(candidate, key)


@dataclass(frozen=True)
class Verdict:
    """A login check's answer: allowed, or refused; `retry_after` (seconds) when refused for
    too many failures from the client (answered 429) rather than for a wrong credential (401)."""

    allowed: bool
    retry_after: int | None = None


class FailureLimiter:
    """Failed logins per client address, as a token bucket: `burst` failures at once, then one
    every `1 / rate` seconds. A try takes a token before the hash is computed (so a hundred
    concurrent tries from one address cost `burst` hashes, not a hundred) and a success gives
    it back. At most `clients` addresses are followed, the least recently seen forgotten first
    (a forgotten address starts again with a full bucket)."""

    def __init__(self, burst: int = 5, rate: float = 0.2, clients: int = 4096,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._burst, self._rate, self._clients, self._clock = burst, rate, clients, clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, client: str) -> float:
        """0 when `client` may try (a token taken), else the seconds until it may."""
        now = self._clock()
        with self._lock:
            tokens, then = self._buckets.pop(client, (float(self._burst), now))
            tokens = min(float(self._burst), tokens + (now - then) * self._rate)
            wait = 0.0 if tokens >= 1 else (1 - tokens) / self._rate
            if not wait:
                tokens -= 1
                if tokens < 1:
                    log.warning("dashboard: failed logins from %s are now limited to one every "
                                "%g s", client or "an unknown address", 1 / self._rate)
            self._buckets[client] = (tokens, now)
            while len(self._buckets) > self._clients:
                self._buckets.popitem(last=False)
        return wait

    def give_back(self, client: str) -> None:
        """The try was a success (or never checked): its token returns."""
        with self._lock:
            if client in self._buckets:
                tokens, then = self._buckets[client]
                self._buckets[client] = (min(float(self._burst), tokens + 1), then)


class BasicAuth:
    """Checks an `Authorization: Basic …` header against one user and its password hash.

    Each check costs a bounded amount: a header that passed is remembered for `ttl` seconds by
    a keyed hash (HMAC with a key of this process, bound to the password hash: a new hash
    forgets every one), at most `remember` of them, so the overview's polling does not pay for
    scrypt every few seconds; failed tries are limited per client address (FailureLimiter);
    and scrypt (16 MiB each at the default cost) runs on `hashers` threads of its own, with at
    most `queue` checks waiting, so concurrent logins cannot take memory beyond that.
    """

    def __init__(self, user: str, password_hash: str, remember: int = 64, ttl: float = 60.0,
                 limiter: FailureLimiter | None = None, hashers: int = 2, queue: int = 8,
                 clock: Callable[[], float] = time.monotonic) -> None:
        check_hash_format(password_hash)
        self._user = user
        self._hash = password_hash
        self._remember, self._ttl, self._clock = remember, ttl, clock
        self._good: OrderedDict[bytes, float] = OrderedDict()
        self._secret = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._limiter = limiter or FailureLimiter()
        self._hashing = ThreadPoolExecutor(hashers, thread_name_prefix="dashboard-scrypt")
        self._admitted = threading.BoundedSemaphore(hashers + queue)

    def set_password_hash(self, password_hash: str) -> None:
        """Check against `password_hash` from now on; every remembered credential is forgotten."""
        check_hash_format(password_hash)
        with self._lock:
            self._hash = password_hash
            self._good.clear()

    def allows(self, header: str | None, client: str = "") -> bool:
        """Whether the request's Authorization header names the user with the right password."""
        return self.check(header, client).allowed

    def check(self, header: str | None, client: str = "") -> Verdict:
        """`allows`, with the reason of a refusal: a wrong credential, or too many failures
        from `client` (the request's address) or too many checks in progress (retry_after)."""
        if not header or not header.startswith("Basic "):
            return Verdict(False)
        with self._lock:
            stored = self._hash
        key = hmac.new(self._secret, stored.encode() + b"\0" + header.encode("latin-1", "replace"),
                       hashlib.sha256).digest()
        if self._remembered(key):
            return Verdict(True)
        try:
            user, sep, password = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return Verdict(False)
        wait = self._limiter.take(client)
        if wait:
            return Verdict(False, retry_after=math.ceil(wait))
        if not self._admitted.acquire(blocking=False):
            self._limiter.give_back(client)  # the server's load, not this client's fault
            return Verdict(False, retry_after=1)
        try:
            # The hash is computed whatever the user name, so timing does not tell a good name.
            password_ok = self._hashing.submit(verify_password, password, stored).result()
        finally:
            self._admitted.release()
        user_ok = hmac.compare_digest(user.encode(), self._user.encode())
        if not (sep and user_ok and password_ok):
            return Verdict(False)
        self._limiter.give_back(client)
        with self._lock:
            if stored == self._hash:  # not changed while hashing
                self._good[key] = self._clock() + self._ttl
                while len(self._good) > self._remember:
                    self._good.popitem(last=False)
        return Verdict(True)

    def _remembered(self, key: bytes) -> bool:
        with self._lock:
            until = self._good.get(key)
            if until is None:
                return False
            if until <= self._clock():
                del self._good[key]
                return False
            return True


def main() -> int:
    """Read a password (twice, without echo; or one line from a pipe) and print its hash."""
    if sys.stdin.isatty():
        password = getpass.getpass("dashboard password: ")
        if password != getpass.getpass("again: "):
            print("the two passwords differ", file=sys.stderr)
            return 1
    else:
        password = sys.stdin.readline().rstrip("\n")
    if len(password) < 12:
        print("a dashboard password has at least 12 characters", file=sys.stderr)
        return 1
    print(hash_password(password))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

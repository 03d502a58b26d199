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
import secrets
import sys
import threading

SCHEME = "scrypt"
# 2**14 x 8: about 16 MiB and a few tens of milliseconds per check, OWASP's floor for scrypt.
DEFAULT_N, DEFAULT_R, DEFAULT_P = 2**14, 8, 1
_KEY_LENGTH = 32


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


class BasicAuth:
    """Checks an `Authorization: Basic …` header against one user and its password hash.

    A header that passed once is remembered by its SHA-256 (bounded), so the overview's polling
    does not pay for scrypt every few seconds; a wrong one is checked afresh each time.
    """

    def __init__(self, user: str, password_hash: str, remember: int = 64) -> None:
        check_hash_format(password_hash)
        self._user = user
        self._hash = password_hash
        self._remember = remember
        self._good: set[bytes] = set()
        self._lock = threading.Lock()

    def allows(self, header: str | None) -> bool:
        """Whether the request's Authorization header names the user with the right password."""
        if not header or not header.startswith("Basic "):
            return False
        digest = hashlib.sha256(header.encode("latin-1", "replace")).digest()
        with self._lock:
            if digest in self._good:
                return True
        try:
            user, sep, password = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        user_ok = hmac.compare_digest(user.encode(), self._user.encode())
        # The hash is computed whatever the user name, so timing does not tell a good name.
        password_ok = verify_password(password, self._hash)
        if not (sep and user_ok and password_ok):
            return False
        with self._lock:
            if len(self._good) >= self._remember:
                self._good.clear()
            self._good.add(digest)
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

"""The hub's keys: AES-256-GCM data keys (rotatable) and one HMAC key for lookup hashes.

The key file is JSON::

    {"version": 1, "current": "k1", "keys": {"k1": "<base64 32 bytes>"}, "index_key": "<base64>"}

Errors name the file but never print key material.
"""
from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import tempfile
from collections.abc import Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hub.errors import ConfigError, DecryptionError

KEY_BYTES = 32
NONCE_BYTES = 12
FILE_VERSION = 1


def _decode_key(encoded: object, what: str, path: Path) -> bytes:
    if not isinstance(encoded, str):
        raise ConfigError(f"key file {path}: {what} is not a base64 string")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"key file {path}: {what} is not valid base64") from None
    if len(raw) != KEY_BYTES:
        raise ConfigError(f"key file {path}: {what} must be {KEY_BYTES} bytes, not {len(raw)}")
    return raw


def _write_atomically(path: Path, document: dict, *, exclusive: bool = False) -> None:
    """Write with mode 0600 through a temporary file and a rename: a crash leaves the old file.
    With `exclusive`, the file is linked into place instead, which fails with FileExistsError
    when another process created it first: a key file is never replaced by a new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        if exclusive:
            os.link(tmp, path)
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Keyring:
    """Data keys by id, the current key id, and the index (HMAC) key, loaded from one file."""

    def __init__(self, path: Path, keys: dict[str, bytes], current: str, index_key: bytes):
        if current not in keys:
            raise ConfigError(f"key file {path}: current key id {current!r} is not among the keys")
        self._path = path
        self._keys = dict(keys)
        self._current = current
        self._index_key = index_key
        # One AESGCM per key, not one per value: a batch encrypts a dozen values a message.
        # Kept by the key's bytes, so a key id that came to name other bytes gets its own.
        self._aeads: dict[bytes, AESGCM] = {}

    @classmethod
    def load(cls, path: str | os.PathLike) -> Keyring:
        """Read a key file; ConfigError (naming the file) when it is missing or malformed."""
        path = Path(path)
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"key file {path} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"key file {path} cannot be read: {type(exc).__name__}") from None
        except json.JSONDecodeError:
            raise ConfigError(f"key file {path} is not valid JSON") from None
        if not isinstance(document, dict):
            raise ConfigError(f"key file {path}: expected a JSON object")
        if document.get("version") != FILE_VERSION:
            raise ConfigError(f"key file {path}: unsupported version {document.get('version')!r}")
        keys = document.get("keys")
        if not isinstance(keys, dict) or not keys:
            raise ConfigError(f"key file {path}: 'keys' must be a non-empty object")
        current = document.get("current")
        if not isinstance(current, str):
            raise ConfigError(f"key file {path}: 'current' must be a key id")
        decoded = {str(kid): _decode_key(val, f"key {kid!r}", path) for kid, val in keys.items()}
        index_key = _decode_key(document.get("index_key"), "index_key", path)
        return cls(path, decoded, current, index_key)

    @classmethod
    def create(cls, path: str | os.PathLike) -> Keyring:
        """Create a key file with one random data key and a random index key. An existing file
        is never replaced (the rows written under its keys would be lost): FileExistsError."""
        path = Path(path)
        keyring = cls(path, {"k1": secrets.token_bytes(KEY_BYTES)}, "k1",
                      secrets.token_bytes(KEY_BYTES))
        keyring._save(exclusive=True)
        return keyring

    @classmethod
    def load_or_create(cls, path: str | os.PathLike) -> Keyring:
        """Load the key file, creating it first when it does not exist. Processes starting
        side by side on a fresh install all end up with the one file the first of them wrote."""
        if Path(path).exists():
            return cls.load(path)
        try:
            return cls.create(path)
        except FileExistsError:
            return cls.load(path)

    @property
    def path(self) -> Path:
        """The key file this keyring lives in."""
        return self._path

    @property
    def current_key_id(self) -> str:
        """The key id new ciphertexts are written under."""
        return self._current

    def key_ids(self) -> list[str]:
        """Every key id that can still decrypt."""
        return list(self._keys)

    def add_key(self) -> str:
        """Add a random data key, make it current, save the file; return the new key id.

        The file is re-read under an exclusive lock first: a rotation run elsewhere since this
        keyring was loaded must not have its key overwritten by a different one of the same id
        (the rows re-encrypted under it would be lost)."""
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with open(self._path.with_name(f".{self._path.name}.lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
            if self._path.exists():
                self.reload()
            number = 1 + max((int(k[1:]) for k in self._keys if k[1:].isdigit()), default=0)
            key_id = f"k{number}"
            self._keys[key_id] = secrets.token_bytes(KEY_BYTES)
            self._current = key_id
            self._save()
        return key_id

    def reload(self) -> None:
        """Adopt the key file's keys and current key (`hub keys rotate` adds one while hubs
        run); keys this keyring already knows are kept even if the file lost them."""
        fresh = Keyring.load(self._path)
        self._keys = {**self._keys, **fresh._keys}
        self._current = fresh._current

    def encrypt(self, plaintext: bytes, *, table: str, row_id: str) -> tuple[str, bytes]:
        """Encrypt under the current key; return (key_id, nonce || ciphertext)."""
        key_id = self._current
        nonce = os.urandom(NONCE_BYTES)  # what secrets.token_bytes returns, without its two calls
        sealed = self._aead(self._keys[key_id]).encrypt(nonce, plaintext,
                                                        _aad(table, row_id, key_id))
        return key_id, nonce + sealed

    def encrypt_many(self, plaintexts: Sequence[bytes], *, table: str,
                     row_ids: Sequence[str]) -> tuple[str, list[bytes]]:
        """`encrypt` for many rows of one table: (key_id, [nonce || ciphertext, ...]) in the
        order of `plaintexts`, each bound to its row id. Each value still gets its own random
        nonce; they are read from the system's randomness in one call, not one call each (a
        filed message's ten entries made ten)."""
        key_id = self._current
        seal = self._aead(self._keys[key_id]).encrypt
        nonces = os.urandom(NONCE_BYTES * len(plaintexts))
        blobs = []
        for start, plaintext, row_id in zip(range(0, len(nonces), NONCE_BYTES), plaintexts,
                                            row_ids, strict=True):
            nonce = nonces[start:start + NONCE_BYTES]
            blobs.append(nonce + seal(nonce, plaintext, _aad(table, row_id, key_id)))
        return key_id, blobs

    def decrypt(self, blob: bytes, *, table: str, row_id: str, key_id: str) -> bytes:
        """Decrypt a value written by `encrypt` for this table and row; DecryptionError if not."""
        key = self._keys.get(key_id)
        if key is None and self._path.exists():
            # Another process rotated keys and re-encrypted this row: the file has the new key.
            self.reload()
            key = self._keys.get(key_id)
        if key is None:
            raise DecryptionError(f"unknown key id {key_id!r} for {table} row {row_id}")
        blob = bytes(blob)
        if len(blob) < NONCE_BYTES + 16:
            raise DecryptionError(f"ciphertext too short for {table} row {row_id}")
        try:
            return self._aead(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:],
                                           _aad(table, row_id, key_id))
        except InvalidTag:
            raise DecryptionError(f"ciphertext of {table} row {row_id} failed authentication") \
                from None

    def _aead(self, key: bytes) -> AESGCM:
        aead = self._aeads.get(key)
        if aead is None:
            aead = self._aeads[key] = AESGCM(key)
        return aead

    def lookup_hash(self, value: bytes | str, *, purpose: str) -> str:
        """Keyed hash (hex HMAC-SHA256) to find or compare a value without storing it in clear."""
        data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        message = purpose.encode("utf-8") + b"\0" + data
        # hmac.digest: the one-shot C path, the same bytes as hmac.new(...).digest() at a
        # fraction of the cost (the listener hashes every message's matricule for its partition).
        return hmac.digest(self._index_key, message, hashlib.sha256).hex()

    def _save(self, *, exclusive: bool = False) -> None:
        document = {
            "version": FILE_VERSION,
            "current": self._current,
            "keys": {kid: base64.b64encode(key).decode("ascii") for kid, key in self._keys.items()},
            "index_key": base64.b64encode(self._index_key).decode("ascii"),
        }
        try:
            _write_atomically(self._path, document, exclusive=exclusive)
        except FileExistsError:
            raise
        except OSError as exc:
            raise ConfigError(f"key file {self._path} cannot be written: {exc.strerror}") from None

    def __repr__(self) -> str:
        return f"Keyring(path={str(self._path)!r}, current={self._current!r}, keys={len(self._keys)})"


def _aad(table: str, row_id: str, key_id: str) -> bytes:
    return f"{table}|{row_id}|{key_id}".encode("utf-8")

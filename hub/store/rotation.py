"""Key rotation: re-encrypt the rows still under older keys with the keyring's current key.

Work goes in small batches, one transaction each: a row is rewritten whole (new key id and
new ciphertext in one UPDATE), so an interrupted rotation leaves every row either under its
old key or under the new one, and the next run simply continues. Each UPDATE also checks the
row still holds the ciphertext that was read (compare-and-swap), so a worker that rewrote a
row meanwhile is never overwritten with older data: that row is picked up again later.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Table, and_, bindparam, func, select, update
from sqlalchemy.engine import Engine

from hub.store.keyring import Keyring
from hub.store.repository import translated_errors
from hub.store.tables import (
    PURGED_KEY_ID, deliveries, entries, messages, patients, representatives,
)


@dataclass(frozen=True)
class Encrypted:
    """A table's encrypted column and the key id column beside it."""

    table: Table
    key_column: str
    ct_column: str


ENCRYPTED = (
    Encrypted(patients, "key_id", "data_ct"),
    Encrypted(messages, "raw_key_id", "raw_ct"),
    Encrypted(entries, "key_id", "payload_ct"),
    Encrypted(deliveries, "payload_key_id", "payload_ct"),
    Encrypted(representatives, "key_id", "name_ct"),
)


class KeyRotation:
    """Re-encrypts, under `keyring`'s current key, what older keys still protect."""

    def __init__(self, engine: Engine, keyring: Keyring) -> None:
        self._engine = engine
        self._keyring = keyring

    def counts(self) -> dict[str, dict[str, int]]:
        """Rows per key id in each encrypted table (purged raw copies left out)."""
        found: dict[str, dict[str, int]] = {}
        with translated_errors("counting rows per key"), self._engine.connect() as connection:
            for spec in ENCRYPTED:
                key = spec.table.c[spec.key_column]
                query = (select(key, func.count()).where(key != PURGED_KEY_ID).group_by(key))
                found[spec.table.name] = {row[0]: row[1] for row in connection.execute(query)}
        return found

    def pending(self) -> int:
        """How many rows are still under a key other than the current one."""
        current = self._keyring.current_key_id
        return sum(n for per_key in self.counts().values()
                   for key_id, n in per_key.items() if key_id != current)

    def rotate_batch(self, batch_size: int = 200) -> int:
        """Re-encrypt up to `batch_size` rows in one transaction (the first table with rows
        left first); return how many were rewritten, 0 when nothing is left."""
        current = self._keyring.current_key_id
        for spec in ENCRYPTED:
            done = self._rotate_in(spec, current, batch_size)
            if done:
                return done
        return 0

    def run(self, batch_size: int = 200, *, keep_going: Callable[[], bool] = lambda: True,
            on_batch: Callable[[int], object] = lambda n: None) -> int:
        """Rotate batch after batch until nothing is left or `keep_going()` says stop (asked
        before each batch); `on_batch(n)` after each commit. Return the rows rewritten."""
        total = 0
        while keep_going():
            done = self.rotate_batch(batch_size)
            if not done:
                break
            total += done
            on_batch(done)
        return total

    def _rotate_in(self, spec: Encrypted, current: str, batch_size: int) -> int:
        table, name = spec.table, spec.table.name
        key, ct, row_id = table.c[spec.key_column], table.c[spec.ct_column], table.c.id
        query = (select(row_id, key, ct)
                 .where(key != current, key != PURGED_KEY_ID).order_by(row_id).limit(batch_size))
        swap = (update(table)
                .where(and_(row_id == bindparam("b_id"), key == bindparam("b_old_key"),
                            ct == bindparam("b_old_ct")))
                .values({spec.key_column: bindparam("b_key"), spec.ct_column: bindparam("b_ct")}))
        with translated_errors(f"re-encrypting {name}"), self._engine.begin() as connection:
            rows = connection.execute(query).all()
            if not rows:
                return 0
            changes = []
            for row in rows:
                plain = self._keyring.decrypt(row[2], table=name, row_id=row[0], key_id=row[1])
                key_id, sealed = self._keyring.encrypt(plain, table=name, row_id=row[0])
                changes.append({"b_id": row[0], "b_old_key": row[1], "b_old_ct": row[2],
                                "b_key": key_id, "b_ct": sealed})
            connection.execute(swap, changes)
        return len(rows)

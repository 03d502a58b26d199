"""What every repository shares: one connection, the keyring, and SQLAlchemy errors translated
into hub.errors at the boundary (with no parameters or ciphertexts in the message)."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import String, insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError

from hub.errors import DatabaseUnavailable, StoreConflict, StoreError
from hub.store.engine import unreachable
from hub.store.keyring import Keyring

# Stays under SQLite's and PostgreSQL's bound-parameter limits for `IN (...)` lists.
IN_CHUNK = 500


def describe(exc: SQLAlchemyError) -> str:
    """A short description of a database error: its kind and the driver's first line only.

    Drivers append details such as PostgreSQL's "Failing row contains (...)", which would print
    ciphertexts; the first line names the constraint, which is what an operator needs.
    """
    origin = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    first_line = (str(origin).strip().splitlines() or [""])[0]
    return f"{type(origin).__name__}: {first_line}"[:300]


@contextmanager
def translated_errors(doing: str) -> Iterator[None]:
    """Turn SQLAlchemy exceptions raised inside the block into StoreConflict / StoreError, or
    DatabaseUnavailable when the database is away rather than refusing (store.engine.unreachable).

    A Ctrl-C inside a statement leaves the driver mid-transaction, and the rollback on the way
    out then fails too: that failure is dropped and the KeyboardInterrupt goes on, so the
    command says it was interrupted rather than naming a database error."""
    try:
        yield
    except SQLAlchemyError as exc:
        if isinstance(exc.__context__, KeyboardInterrupt):
            raise exc.__context__ from None
        if isinstance(exc, IntegrityError):
            raise StoreConflict(f"{doing}: {describe(exc)}") from None
        if unreachable(exc):
            raise DatabaseUnavailable(f"database unreachable while {doing}: {describe(exc)}") from None
        raise StoreError(f"{doing}: {describe(exc)}") from None


def chunks(items: Sequence[Any], size: int = IN_CHUNK) -> Iterator[Sequence[Any]]:
    """Consecutive slices of at most `size` items."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


# json.dumps with options builds an encoder at each call; the filing of a batch makes hundreds.
# The documents are trees built from parsed messages and settings, never cyclic: the check for
# cycles (a dict of the ids of every container) cost 15 % of the encoding and changed nothing.
_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)


def to_json_bytes(document: Any) -> bytes:
    """Compact UTF-8 JSON, the plaintext of every encrypted document."""
    return _COMPACT.encode(document).encode("utf-8")


def from_json_bytes(data: bytes, what: str) -> Any:
    """Parse a decrypted JSON document; StoreError when it is not one."""
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise StoreError(f"{what}: decrypted document is not valid JSON") from None


class Repository:
    """Base of the store's repositories: they run on the unit of work's connection.

    `on_failure` is called when a statement fails, so that the unit of work can refuse to
    commit a transaction that PostgreSQL has already aborted.
    """

    def __init__(self, connection: Connection, keyring: Keyring,
                 on_failure: Callable[[], None] | None = None):
        self._connection = connection
        self._keyring = keyring
        self._on_failure = on_failure

    def _insert_rows(self, doing: str, table, rows: list[dict]) -> None:
        """Insert `rows` (each with the same keys) into `table` in one round trip: a COPY on
        PostgreSQL, where it costs a fraction of an executemany's client CPU and server time,
        an executemany elsewhere. The COPY is binary: the text form escapes every byte of a
        ciphertext, which cost four times the client CPU (the bytes stored are the same). The values go to the driver as they are, so they must be what
        the column types would bind (timezone-aware datetimes, no Python-side defaults)."""
        if not rows:
            return
        if self._connection.dialect.name != "postgresql":
            self._execute(doing, insert(table), rows)
            return
        import psycopg  # the PostgreSQL driver, present wherever a PostgreSQL URL works

        columns = list(rows[0])
        statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
        try:
            with translated_errors(doing):
                try:
                    driver = self._connection.connection.driver_connection
                    with driver.cursor() as cursor:
                        with cursor.copy(statement) as copy:
                            copy.set_types(_copy_types(driver, self._connection.dialect,
                                                       table, tuple(columns)))
                            for row in rows:
                                copy.write_row([row[name] for name in columns])
                except psycopg.Error as exc:  # as SQLAlchemy would have raised it
                    raise DBAPIError.instance(statement, None, exc, psycopg.Error,
                                              hide_parameters=True) from None
        except StoreError:
            if self._on_failure is not None:
                self._on_failure()
            raise

    def _insert_returning_ids(self, doing: str, table, rows: list[dict], conflict: str,
                              statement) -> set[str]:
        """Insert `rows` (each with the same keys) into `table`, `conflict` being the SQL of
        the ON CONFLICT clause, and return the ids of the rows inserted; elsewhere than on
        PostgreSQL, SQLAlchemy's `statement` (the same insert, with RETURNING id) does it.

        On PostgreSQL the rows go as one array per column through unnest(), in their order: the
        statement's text is the same whatever the number of rows, so psycopg converts it once
        (it does not cache a VALUES list of a batch, whose placeholders it parsed again at each
        batch: 150 us a message for the worker's messages and deliveries). The columns' bind
        processors (UTCDateTime refusing a naive time) still apply; strings are cast to text,
        so that a value too long for its column is refused by the insert, not truncated."""
        if not rows:
            return set()
        connection = self._connection
        if connection.dialect.name != "postgresql":
            return set(self._execute(doing, statement, rows).scalars())
        import psycopg  # the PostgreSQL driver, present wherever a PostgreSQL URL works

        columns = list(rows[0])
        sql, processors = _unnest_insert(connection.dialect, table, tuple(columns), conflict)
        arrays = []
        for name, process in zip(columns, processors):
            values = [row[name] for row in rows]
            arrays.append(values if process is None else [process(v) for v in values])
        try:
            with translated_errors(doing):
                try:
                    with connection.connection.driver_connection.cursor() as cursor:
                        cursor.execute(sql, arrays)
                        return {row[0] for row in cursor.fetchall()}
                except psycopg.Error as exc:  # as SQLAlchemy would have raised it
                    raise DBAPIError.instance(sql, None, exc, psycopg.Error,
                                              hide_parameters=True) from None
        except StoreError:
            if self._on_failure is not None:
                self._on_failure()
            raise

    def _execute(self, doing: str, statement, parameters=None):
        try:
            with translated_errors(doing):
                return self._connection.execute(statement, parameters)
        except StoreError:
            if self._on_failure is not None:
                self._on_failure()
            raise


_COPY_TYPES: dict[tuple, list[int]] = {}


def _copy_types(driver, dialect, table, columns: tuple[str, ...]) -> list[int]:
    """The PostgreSQL type oids of `columns`, that a binary COPY needs, found once per table
    and columns from the columns' SQL types ("VARCHAR(32)" is a varchar)."""
    key = (table.name, columns)
    oids = _COPY_TYPES.get(key)
    if oids is None:
        names = [table.c[name].type.compile(dialect=dialect).split("(")[0].lower()
                 for name in columns]
        oids = _COPY_TYPES[key] = [driver.adapters.types[name].oid for name in names]
    return oids


_UNNEST: dict[tuple, tuple[str, list]] = {}


def _unnest_insert(dialect, table, columns: tuple[str, ...], conflict: str) -> tuple[str, list]:
    """The INSERT ... SELECT FROM unnest(...) of `_insert_returning_ids` and the columns' bind
    processors, made once per table, columns and conflict clause. Every array goes in the binary
    form (%b): in the text form psycopg escapes every byte of a ciphertext (2 ms a batch of 50
    messages, ten times the binary form) and quotes and formats every id, string and time in
    Python, about four times the binary form's cost (a timestamp array nine times); the values
    stored are the same. An array of nothing but NULLs goes as text all the same (psycopg cannot
    tell its element type), which the cast reads alike."""
    key = (table.name, columns, conflict)
    made = _UNNEST.get(key)
    if made is None:
        types = [table.c[name].type for name in columns]
        casts = ", ".join("%b::text[]" if isinstance(type_, String)
                          else f"%b::{type_.compile(dialect=dialect)}[]" for type_ in types)
        sql = (f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT * FROM unnest({casts}) "
               f"{conflict} RETURNING id")
        made = _UNNEST[key] = (sql, [type_.bind_processor(dialect) for type_ in types])
    return made

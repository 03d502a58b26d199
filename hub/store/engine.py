"""Engines for SQLite (one machine, CLI reads beside a running hub) and PostgreSQL (production)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, NoSuchModuleError, OperationalError

from hub.errors import ConfigError

# A CLI command reading while a worker commits waits this long for the lock instead of failing.
SQLITE_BUSY_TIMEOUT_MS = 10_000
POSTGRES_POOL_SIZE = 10
POSTGRES_MAX_OVERFLOW = 10
POSTGRES_POOL_RECYCLE_S = 1800
# A server that does not answer at all (a partition, not a refusal) fails a connect this soon.
POSTGRES_CONNECT_TIMEOUT_S = 10
# No JIT compilation: the hub's statements are short and run every batch, and JIT starts once a
# plan's estimated cost passes jit_above_cost, which a growing table's estimates soon do (its
# statistics stale, or none where autovacuum is off): compiling then cost 10-55 ms a statement
# that ran in 1 ms, so each run of the end-to-end bench was slower than the one before.
POSTGRES_SESSION_OPTIONS = "-c jit=off"
# SQLite's operational errors that pass by themselves; the others (no such table...) do not.
_SQLITE_TRANSIENT = ("database is locked", "database is busy", "disk i/o error",
                     "unable to open database file")
# PostgreSQL's SQLSTATE classes that are the surroundings': connection exception, insufficient
# resources (disk full, too many connections), transaction rollback (deadlock, serialization),
# operator intervention by shutdown (57P, not 57014 a cancelled statement), system error.
_PG_TRANSIENT_SQLSTATES = ("08", "53", "40", "57P", "58")


def make_engine(url: str) -> Engine:
    """Build an engine for `url` (SQLite or PostgreSQL); nothing connects until first use."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError("database URL cannot be parsed") from None
    backend = parsed.get_backend_name()
    try:
        if backend == "sqlite":
            return _sqlite_engine(parsed)
        if backend == "postgresql":
            return _postgres_engine(parsed)
    except NoSuchModuleError as exc:
        raise ConfigError(f"database driver not available: {exc}") from None
    raise ConfigError(f"unsupported database backend {backend!r} (use sqlite or postgresql)")


def unreachable(exc: BaseException) -> bool:
    """Whether a database error is the surroundings' (server down, connection lost, SQLite's
    lock held too long) rather than the statement's: those pass, and the same work will go
    through later. A refused row (a constraint, a value) is never one of them.

    psycopg raises OperationalError with no SQLSTATE for a refused or lost connection; the
    server's SQLSTATE says the rest (an index row too large is OperationalError too, and is
    the row's fault). sqlite3 raises OperationalError for schema mistakes too, so only its
    transient texts count.
    """
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if not isinstance(exc, (OperationalError, InterfaceError)):
        return False
    origin = exc.orig
    module = type(origin).__module__ or ""
    if module.startswith("psycopg"):
        sqlstate = getattr(origin, "sqlstate", None)
        return sqlstate is None or sqlstate.startswith(_PG_TRANSIENT_SQLSTATES)
    if module.startswith("sqlite3"):
        text = str(origin).lower()
        return any(transient in text for transient in _SQLITE_TRANSIENT)
    return False


def _sqlite_engine(url) -> Engine:
    database = url.database or ""
    in_memory = database in ("", ":memory:") or url.query.get("mode") == "memory"
    if not in_memory and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, hide_parameters=True)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        try:
            if not in_memory:
                # WAL lets readers (the CLI) proceed while a writer (the hub) holds the lock.
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()

    return engine


def _postgres_engine(url) -> Engine:
    if url.drivername == "postgresql":
        # psycopg 3 is the installed driver; a bare "postgresql://" would ask for psycopg2.
        url = url.set(drivername="postgresql+psycopg")
    given = url.query.get("options")  # the URL's own session options are kept, ours added
    options = f"{given} {POSTGRES_SESSION_OPTIONS}" if isinstance(given, str) else \
        POSTGRES_SESSION_OPTIONS
    engine = create_engine(
        url,
        pool_size=POSTGRES_POOL_SIZE,
        max_overflow=POSTGRES_MAX_OVERFLOW,
        pool_pre_ping=True,
        # Parameters hold ciphertexts and hashes: keep them out of error messages and logs.
        hide_parameters=True,
        pool_recycle=POSTGRES_POOL_RECYCLE_S,
        connect_args={"application_name": "dsp-hub",
                      "connect_timeout": POSTGRES_CONNECT_TIMEOUT_S,
                      "options": options},
    )

    @event.listens_for(engine, "connect")
    def _configure_lists(dbapi_connection: Any, _record: object) -> None:
        # A list parameter (the `= ANY(:ids)` arrays of hub.store.one_of: a worker's batch
        # reads about 400 ids through them) goes in psycopg's binary form, not the text form,
        # which quoted and escaped each element in Python at ten times the cost. The statements
        # cast them to their column's array type, so the rows read are the same.
        from psycopg.types.array import ListBinaryDumper  # the driver of this URL

        dbapi_connection.adapters.register_dumper(list, ListBinaryDumper)

    return engine

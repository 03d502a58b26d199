"""Schema migrations, run from code: `hub db upgrade` and the tests need no alembic.ini."""
from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from hub.errors import DatabaseUnavailable, StoreError
from hub.store.engine import make_engine, unreachable
from hub.store.repository import describe

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Serialises concurrent `upgrade` calls (several hub processes starting at once) on PostgreSQL.
_PG_MIGRATION_LOCK = 0x6875625F6462  # "hub_db"


def alembic_config() -> Config:
    """An alembic Config pointing at this package's migrations, whatever the working directory."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    """The newest revision the code knows."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database at `database_url` up to `revision` (idempotent)."""
    engine = make_engine(database_url)
    config = alembic_config()
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                                   {"k": _PG_MIGRATION_LOCK})
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    except SQLAlchemyError as exc:
        if unreachable(exc):
            raise DatabaseUnavailable(f"database unreachable: {describe(exc)}") from exc
        raise StoreError(f"schema upgrade failed: {describe(exc)}") from exc
    except CommandError as exc:
        raise StoreError(f"schema upgrade failed: {exc}") from exc
    finally:
        engine.dispose()


def current_revision(database_url: str) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as exc:
        if unreachable(exc):  # an outage, not a wrong database: `hub status` says so (exit 1)
            raise DatabaseUnavailable(f"database unreachable: {describe(exc)}") from exc
        raise StoreError(f"cannot read the schema revision: {describe(exc)}") from exc
    finally:
        engine.dispose()


def require_schema(database_url: str) -> None:
    """Raise StoreError unless the database exists and holds the hub's schema, changing
    nothing: a SQLite file is looked at without the engine (its connect would create a
    missing file, and its WAL pragma would write to an empty one), and an empty database is
    said to be empty. The message names the file, or the URL without its password. Only
    `upgrade` (`hub serve`, `hub db upgrade`) creates a database or a schema."""
    parsed = make_url(database_url)
    database = parsed.database or ""
    if parsed.get_backend_name() == "sqlite" and database not in ("", ":memory:") \
            and not database.startswith("file:") and parsed.query.get("mode") != "memory":
        path = Path(database).expanduser()
        if not path.is_file():
            raise StoreError(f"no database at {path}: `hub serve` creates it on first start "
                             "(or run `hub db upgrade`); check HUB_DATABASE_URL and HUB_HOME")
        migrated, where = _sqlite_has_schema(path), str(path)
    else:
        migrated = current_revision(database_url) is not None
        where = parsed.render_as_string(hide_password=True)
    if not migrated:
        raise StoreError(f"database {where} holds no hub schema: start `hub serve` or run "
                         "`hub db upgrade` first; check HUB_DATABASE_URL and HUB_HOME")


def _sqlite_has_schema(path: Path) -> bool:
    # mode=rw never creates the file; a plain read writes nothing, and as the last connection
    # to close it leaves no -wal/-shm files behind (a read-only one would).
    try:
        with closing(sqlite3.connect(f"{path.absolute().as_uri()}?mode=rw", uri=True)) as db:
            return db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                              "AND name = 'alembic_version'").fetchone() is not None
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read the database {path}: {exc}") from exc


def holds_encrypted_rows(engine) -> bool:
    """Whether the database already keeps a dossier or a message: data that only the key file
    it was written with can read. False for a database never migrated (a fresh install)."""
    try:
        with engine.connect() as connection:
            if MigrationContext.configure(connection).get_current_revision() is None:
                return False
            return any(connection.execute(text(f"SELECT 1 FROM {table} LIMIT 1")).first()
                       for table in ("patients", "messages"))
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot read the database: {describe(exc)}") from exc

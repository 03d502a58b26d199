"""A database that is away is told apart from one that refuses a statement, on real errors of
both databases: only the first is DatabaseUnavailable (the worker then holds its batch), the
second stays a StoreError (the message's own fault)."""
from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine, text

from hub.errors import DatabaseUnavailable, StoreError
from hub.store.engine import make_engine
from hub.store.repository import translated_errors
from tests.fixtures.databases import DEFAULT_PG_URL
from tests.fixtures.hub_process import free_port

PG_URL = os.environ.get("HUB_TEST_PG_URL", DEFAULT_PG_URL)


def _raised(engine, statement: str) -> StoreError:
    with pytest.raises(StoreError) as caught:
        with translated_errors("testing"):
            with engine.connect() as connection:
                connection.execute(text(statement))
    return caught.value


@pytest.mark.postgres
def test_postgres_away_is_unavailable_and_a_refused_value_is_not():
    away = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none")
    here = make_engine(PG_URL)
    try:
        assert isinstance(_raised(away, "SELECT 1"), DatabaseUnavailable)
        refused = _raised(here, "SELECT 1 / 0")  # division_by_zero, SQLSTATE 22012
        assert not isinstance(refused, DatabaseUnavailable) and "DivisionByZero" in str(refused)
    finally:
        away.dispose()
        here.dispose()


@pytest.mark.postgres
def test_a_connection_the_server_terminates_is_unavailable():
    engine = make_engine(PG_URL)
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with pytest.raises(DatabaseUnavailable):
            with translated_errors("testing"):
                with engine.connect() as connection:
                    pid = connection.execute(text("SELECT pg_backend_pid()")).scalar()
                    with admin.connect() as other:
                        other.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
                    connection.execute(text("SELECT 1"))
    finally:
        engine.dispose()
        admin.dispose()


def test_sqlite_locked_is_unavailable_and_a_missing_table_is_not(tmp_path):
    url = f"sqlite:///{tmp_path / 'locked.db'}"
    holder = create_engine(url)
    waiter = create_engine(url, connect_args={"timeout": 0.1})
    try:
        with holder.connect() as held:
            held.exec_driver_sql("BEGIN EXCLUSIVE")
            assert isinstance(_raised(waiter, "SELECT 1 FROM sqlite_master"), DatabaseUnavailable)
            held.exec_driver_sql("ROLLBACK")
        missing = _raised(waiter, "SELECT * FROM no_such_table")
        assert not isinstance(missing, DatabaseUnavailable) and "no such table" in str(missing)
    finally:
        holder.dispose()
        waiter.dispose()

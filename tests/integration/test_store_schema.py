"""Migrations and engine settings on real databases."""
import socket
import sqlite3
import threading
from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
import pytest
from sqlalchemy import inspect, text

from hub.domain.models import MessageRecord, MessageState
from hub.errors import DatabaseUnavailable
from hub.store.engine import make_engine
from hub.store.schema import current_revision, head_revision, require_schema, upgrade
from hub.store.tables import metadata, new_id
from hub.store.unit_of_work import UnitOfWork
from tests.fixtures.databases import KINDS


def test_a_postgresql_nobody_answers_is_unreachable_not_a_wrong_database():
    # `hub status` in an outage must say "database unreachable" (exit 1), as it did before
    # read commands checked the schema first: a port that refuses is an outage.
    with socket.socket() as probe:  # a port nothing listens on once this socket is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/test?connect_timeout=2"
    with pytest.raises(DatabaseUnavailable, match="^database unreachable"):
        require_schema(url)
    with pytest.raises(DatabaseUnavailable, match="^database unreachable"):
        current_revision(url)


@pytest.mark.parametrize("database_url", [k for k in KINDS if k != "sqlite"], indirect=True)
def test_postgresql_sessions_run_without_jit_and_keep_the_url_options(database_url):
    # JIT compiled every batch's short statements for 10-55 ms once a growing table's estimates
    # passed jit_above_cost (hub/store/engine.py): the hub's sessions turn it off.
    for url, work_mem in ((database_url, None), (f"{database_url}?options=-c%20work_mem%3D7MB",
                                                 "7MB")):
        engine = make_engine(url)
        try:
            with engine.connect() as connection:
                assert connection.execute(text("SHOW jit")).scalar_one() == "off"
                if work_mem:
                    assert connection.execute(text("SHOW work_mem")).scalar_one() == work_mem
        finally:
            engine.dispose()


def test_upgrade_on_empty_database_then_again(database_url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # alembic must find its scripts from any working directory
    assert current_revision(database_url) is None
    upgrade(database_url)
    assert current_revision(database_url) == head_revision()
    upgrade(database_url)
    assert current_revision(database_url) == head_revision()
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            names = set(inspect(connection).get_table_names())
            differences = compare_metadata(MigrationContext.configure(connection), metadata)
    finally:
        engine.dispose()
    assert {"messages", "patients", "entries", "alembic_version"} <= names
    assert differences == []


def test_relative_sqlite_url_creates_its_directory_and_sets_pragmas(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert sqlite3.sqlite_version_info >= (3, 24)  # ON CONFLICT DO NOTHING needs 3.24
    upgrade("sqlite:///var/hub.db")
    assert (tmp_path / "var" / "hub.db").is_file()
    engine = make_engine("sqlite:///var/hub.db")
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert connection.execute(text("PRAGMA busy_timeout")).scalar() >= 1000
    finally:
        engine.dispose()


def test_sqlite_reader_is_not_blocked_by_an_open_write(tmp_path, keyring):
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    upgrade(url)
    writer_engine, reader_engine = make_engine(url), make_engine(url)
    try:
        with UnitOfWork(writer_engine, keyring) as writer:
            writer.messages.add(MessageRecord(new_id(), "LAB^ACME", "C1", "ORU^R01", "2.5",
                                              MessageState.RECEIVED, datetime.now(UTC)), b"x")
            # A CLI process reading meanwhile sees the last committed state, without waiting.
            seen = {}
            thread = threading.Thread(target=lambda: seen.update(
                counts=_counts(reader_engine, keyring)))
            thread.start()
            thread.join(timeout=5)
            assert seen["counts"]["received"] == 0
            writer.commit()
        assert _counts(reader_engine, keyring)["received"] == 1
    finally:
        writer_engine.dispose()
        reader_engine.dispose()


def _counts(engine, keyring):
    with UnitOfWork(engine, keyring) as uow:
        return uow.messages.count_by_state()


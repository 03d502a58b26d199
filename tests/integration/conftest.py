"""Store fixtures: every store test runs on a fresh SQLite file and a fresh PostgreSQL database.

PostgreSQL comes from HUB_TEST_PG_URL (a database the tests may create databases from); when it
cannot be reached the tests fail, they are never skipped.
"""
import os
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from hub.store.engine import make_engine
from hub.store.keyring import Keyring
from hub.store.schema import upgrade
from hub.store.unit_of_work import UnitOfWork

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _pg_admin_engine():
    base = make_url(os.environ.get("HUB_TEST_PG_URL", DEFAULT_PG_URL))
    return base, create_engine(base, isolation_level="AUTOCOMMIT")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    """URL of an empty database: a SQLite file under tmp_path, or `hub_test_<uuid8>` on
    PostgreSQL (dropped afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hub.db'}"
        return
    base, admin = _pg_admin_engine()
    name = f"hub_test_{uuid.uuid4().hex[:8]}"
    failure = None
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except SQLAlchemyError as exc:
        failure = f"{type(exc).__name__}: {str(getattr(exc, 'orig', exc)).strip()}"
    if failure is not None:
        admin.dispose()
        pytest.fail(
            f"PostgreSQL is unreachable at {base.render_as_string(hide_password=True)} "
            f"({failure}); start it (pg_ctlcluster --skip-systemctl-redirect 15 main start) "
            f"or set HUB_TEST_PG_URL", pytrace=False)
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def keyring(tmp_path):
    """A fresh keyring in a key file under tmp_path."""
    return Keyring.create(tmp_path / "keys" / "hub-keys.json")


@pytest.fixture
def engine(database_url):
    """An engine on the migrated database."""
    upgrade(database_url)
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def uow_factory(engine, keyring):
    """Makes units of work on the migrated database: `with uow_factory() as uow: ...`."""
    return lambda: UnitOfWork(engine, keyring)

"""Store fixtures on `database_url` (tests/conftest.py): a fresh SQLite file and a fresh
PostgreSQL database for every test."""
import pytest

from hub.store.engine import make_engine
from hub.store.keyring import Keyring
from hub.store.schema import upgrade
from hub.store.unit_of_work import UnitOfWork


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

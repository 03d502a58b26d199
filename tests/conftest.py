"""Fixtures shared by every tier."""
import pytest

from hub.store.engine import make_engine
from hub.store.keyring import Keyring
from hub.store.schema import upgrade
from tests.fixtures.corpus import corpus_files
from tests.fixtures.databases import KINDS, fresh_database
from tests.fixtures.hub_process import HubEnv


@pytest.fixture(params=KINDS)
def database_url(request, tmp_path):
    """URL of an empty database: a SQLite file under tmp_path, or `hub_test_<uuid8>` on
    PostgreSQL (dropped afterwards). PostgreSQL unreachable: the test fails, never skips."""
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def cli_hub(tmp_path, database_url):
    """`(HubEnv, engine, keyring)`: a hub's settings on a migrated database whose key file
    exists, for `hub` commands and processes that need no broker (memory://); the test reads
    and writes the same rows through the engine and keyring. What it started is stopped."""
    upgrade(database_url)
    env = HubEnv(tmp_path, database_url, broker_url="memory://")
    engine = make_engine(database_url)
    keyring = Keyring.create(env.env["HUB_KEY_FILE"])
    yield env, engine, keyring
    env.stop_all()
    engine.dispose()


# Tests over the shared corpus read it in place (its licences travel with it); where it is
# absent they are not collected at all, rather than reported as skipped.
collect_ignore = [] if corpus_files() else [
    "e2e/test_corpus_conformance.py", "unit/test_mapping_corpus.py", "unit/test_corpus_table.py"]

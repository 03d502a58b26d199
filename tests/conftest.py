"""Fixtures shared by every tier."""
import pytest

from tests.fixtures.databases import KINDS, fresh_database


@pytest.fixture(params=KINDS)
def database_url(request, tmp_path):
    """URL of an empty database: a SQLite file under tmp_path, or `hub_test_<uuid8>` on
    PostgreSQL (dropped afterwards). PostgreSQL unreachable: the test fails, never skips."""
    with fresh_database(request.param, tmp_path) as url:
        yield url

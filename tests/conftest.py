"""Fixtures shared by every tier."""
import pytest

from tests.fixtures.corpus import corpus_files
from tests.fixtures.databases import KINDS, fresh_database


@pytest.fixture(params=KINDS)
def database_url(request, tmp_path):
    """URL of an empty database: a SQLite file under tmp_path, or `hub_test_<uuid8>` on
    PostgreSQL (dropped afterwards). PostgreSQL unreachable: the test fails, never skips."""
    with fresh_database(request.param, tmp_path) as url:
        yield url


# Tests over the shared corpus read it in place (its licences travel with it); where it is
# absent they are not collected at all, rather than reported as skipped.
collect_ignore = [] if corpus_files() else [
    "e2e/test_corpus_conformance.py", "unit/test_mapping_corpus.py"]

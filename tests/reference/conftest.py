"""The corpus messages of a mapped type, read once per session by the references (hl7apy takes
about 50 ms a message, so every test of this folder shares one reading)."""
from __future__ import annotations

import pytest

from tests.fixtures.corpus import corpus_files
from tests.fixtures.reference_reader import mapped_corpus, mappings, read_with_references

# Without the corpus there is nothing to compare: not collected rather than reported as skipped.
collect_ignore = [] if corpus_files() else ["test_parsing.py", "test_corpus_escapes.py",
                                               "test_header_reference.py",
                                               "test_corpus_confidentiality.py"]


@pytest.fixture(scope="session")
def mapping_set():
    """The shipped mappings."""
    return mappings()


@pytest.fixture(scope="session")
def corpus_read(mapping_set):
    """Every well-formed corpus message of a mapped type, decoded and parsed by the references."""
    return [read_with_references(message) for message in mapped_corpus(mapping_set)]

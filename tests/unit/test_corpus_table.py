"""README's table of message types and corpus outcomes is generated, not typed: it must be what
scripts/corpus_table.py makes of the corpus and mappings as they are now. Collected only where
the corpus is (tests/conftest.py)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_readme_table_matches_the_corpus_and_mappings():
    run = subprocess.run([sys.executable, str(REPO / "scripts" / "corpus_table.py"), "--check"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr

"""The shipped mappings over the real sample corpus (ADT^A01/A04/A08 and ORU^R01).

The corpus lives outside the repository: $HUB_CORPUS, else ../shared/corpus beside the repo
root. Without it the tests below have no parameters. Files that index.tsv marks MALFORMED are left
out; batch files are kept when every message in them is one of the mapped types.
"""
from __future__ import annotations

import csv
import os
import re
from pathlib import Path

import pytest

from hub.mapping.loader import load_mappings
from hub.mapping.preview import preview

REPO = Path(__file__).resolve().parents[2]
MAPPED = ("ADT^A01", "ADT^A03", "ADT^A04", "ADT^A08", "ADT^A28", "ADT^A31", "ADT^A40", "ORU^R01",
          "MDM^T02", "DFT^P03")
MINIMUM_OK = 0.95


def _index() -> Path | None:
    root = Path(os.environ.get("HUB_CORPUS") or REPO.parent / "shared" / "corpus")
    for candidate in (root / "index.tsv", root.parent / "index.tsv"):
        if candidate.is_file():
            return candidate
    return None


def _batch_of_mapped_types(notes: str) -> bool:
    kinds = re.findall(r"\b([A-Z0-9]{3}\^[A-Z0-9]{3})(?:\^[A-Z0-9_]+)? x\d+", notes)
    return bool(kinds) and all(kind in MAPPED for kind in kinds)


def corpus_files() -> list[Path]:
    """Every corpus file of a mapped type that index.tsv does not mark MALFORMED."""
    index = _index()
    if index is None:
        return []
    files = []
    with index.open(encoding="utf-8", newline="") as rows:
        for row in csv.DictReader(rows, delimiter="\t"):
            type_ = "^".join(row["message_type"].split("^")[:2])
            if "MALFORMED" in row["notes"]:
                continue
            if type_ in MAPPED or (type_ == "BATCH" and _batch_of_mapped_types(row["notes"])):
                files.append(index.parent / row["file"])
    return files


FILES = corpus_files()


@pytest.fixture(scope="module")
def mappings():
    return load_mappings(REPO / "mappings")


def run(mappings, file: Path) -> list[dict]:
    return preview(file, file.read_bytes(), mappings, fallback_charset="utf-8",
                   authorities=frozenset())


@pytest.mark.parametrize("file", FILES, ids=[file.name for file in FILES])
def test_preview_never_raises_and_reports_each_message(mappings, file):
    results = run(mappings, file)
    assert results
    for result in results:
        assert isinstance(result["ok"], bool)
        assert result["ok"] or result["error"]


@pytest.mark.parametrize("files", [FILES], ids=["corpus"])
def test_most_real_messages_map(mappings, files, capsys):
    results = [result for file in files for result in run(mappings, file)
               if result["type"] in MAPPED]
    failed = [result for result in results if not result["ok"]]
    with capsys.disabled():
        print(f"\n{len(results) - len(failed)} of {len(results)} corpus messages mapped")
        for result in failed:
            print(f"  not mapped: {result['file']} ({result['type']}): {result['error']}")
    assert len(results) >= len(files)
    assert len(results) - len(failed) >= MINIMUM_OK * len(results)

"""What the worker decides for every corpus message and every fixture message, pinned by digest.

The mapper is a hot path that gets rewritten for speed (issue 16); a rewrite must not change
one entry, value, error or order. Each message's outcome (state, reason, patient, entries with
their payloads in order, candidates, actions) is reduced to a SHA-256 kept in
mapping_digests.json. The corpus is read in place ($HUB_CORPUS, else ../shared/corpus), one
test per file; without it those tests have no parameters, as every corpus test here. When a mapping changes on purpose, regenerate:

    .venv/bin/python -m tests.unit.test_mapping_digests
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from hub.broker import headers as h
from hub.broker.port import Delivery
from hub.hl7.header import read_header
from hub.hl7.split import split_messages
from hub.mapping.interpret import interpret
from hub.mapping.loader import MappingSet, load_mappings
from hub.mapping.sensitive import load_sensitive_codes
from hub.routing.outcome import RoutingPolicy, decide
from hub.routing.routes import load_routes
from tests.fixtures import messages as m
from tests.fixtures.corpus import corpus_files

REPO = Path(__file__).resolve().parents[2]
DIGESTS = Path(__file__).with_name("mapping_digests.json")


def _fixture_messages() -> dict[str, bytes]:
    """The project's sample files and synthetic messages, including the mapper's harder
    cases: a sensitive code, ORC-28 codes, an ED document, escapes, repetitions, bad dates."""
    out = {f"samples/{f.name}#{n}": raw
           for f in sorted((REPO / "tests" / "fixtures" / "samples").glob("*.hl7"))
           for n, raw in enumerate(split_messages(f.read_bytes())[0])}
    p, q = m.patient(1), m.patient(2)
    texts = {
        "oru10": m.oru_r01(p, "C1"),
        "oru1_latin1": m.oru_r01(q, "C2", n_obx=1, charset="8859/1"),
        "oru_sensitive": m.oru_r01(p, "C3", n_obx=2).replace("2093-1^", "56888-1^"),
        "oru_sensitive_obr": m.oru_r01(p, "C4", n_obx=2).replace("24331-1^Lipid panel^LN",
                                                                  "56888-1^HIV^LOINC"),
        "oru_orc28": m.oru_r01(p, "C5", n_obx=2).replace(
            "Reuter^Marc\rOBR", "Reuter^Marc" + "|" * 16 + "V\rOBR", 1),
        "oru_orc28_unknown": m.oru_r01(p, "C6", n_obx=1).replace(
            "Reuter^Marc\rOBR", "Reuter^Marc" + "|" * 16 + "zz\rOBR", 1),
        "oru_ed": m.oru_r01(p, "C7", n_obx=1) + "OBX|2|ED|11502-2^Report^LN||^AP^PDF^Base64^"
                  "SGVs\\X0A\\bG8=~^AP^PDF^Base64^QQ==||||||F|||20261125093000\r",
        "oru_coded_escapes": m.oru_r01(p, "C8", n_obx=1) + "OBX|2|CWE|5778-6^Colour^LN||"
                             "Y^Yellow \\T\\ clear^L~^^^^^^^^Amber|||A~H||F|||2026112509\r",
        "oru_bad_time": m.oru_r01(p, "C9", n_obx=1).replace("20261125093000", "20260231"),
        "oru_no_obx": m.oru_r01(p, "C10", n_obx=0),
        "oru_two_orders": m.oru_r01(p, "C11", n_obx=2) + "OBR|2|PLX|FIX|1-8^Other^LN|||2026\r"
                          "OBX|1|SN|1-8^x^LN||>^10|||||F\r",
        "adt_a01": m.adt_a01(p, "C12"),
        "adt_a08_8859_15": m.adt_a01(q, "C13", event="A08", charset="8859/15"),
        "adt_a40": m.adt_a40(p, q, "C14"),
        "adt_a40_bad": m.adt_a40(p, None, "C15", mrg="123"),
        "dft_p03": m.dft_p03(p, "C16", [("20261101", "CG", "C1", "45.5", "123456-78"),
                                        ("2026110", "CG", "C2", "x", "")]),
        "dft_p03_ok": m.dft_p03(q, "C20", [("20261101", "CG", "C1", "45.5", "123456-78")]),
        "adt_a31": m.adt_a31(p, "C17", pd1="123456-78",
                             rol=["AD|PP^Primary care provider^HL70443|123456-78^Weber^Paul|"
                                  "20261101"]),
        "mdm_t02": m.mdm_t02(p, "C18", author="123456-78"),
        "mdm_t02_other": m.mdm_t02(q, "C19", author="", document_type="11488-4^Consult^LN"),
    }
    charsets = {"oru1_latin1": "8859/1", "adt_a08_8859_15": "8859/15"}
    out.update({f"synthetic/{name}": m.encoded(text, charsets.get(name, "UNICODE UTF-8"))
                for name, text in texts.items()})
    return out


def _corpus_messages() -> dict[str, bytes]:
    """Every message of every corpus file index.tsv lists, malformed ones included."""
    out: dict[str, bytes] = {}
    for file in corpus_files():
        if file.path.is_file():
            for n, raw in enumerate(split_messages(file.path.read_bytes())[0]):
                out[f"corpus/{file.name}#{n}"] = raw
    return out


def _setting() -> tuple[MappingSet, RoutingPolicy]:
    sensitive = load_sensitive_codes(REPO / "config" / "sensitive_codes.toml")
    policy = RoutingPolicy(routes=load_routes(REPO / "config" / "routing.toml"),
                           authorities=frozenset({"CNS"}))
    return load_mappings(REPO / "mappings", sensitive), policy


def digest(raw: bytes, mappings: MappingSet, policy: RoutingPolicy) -> str:
    """SHA-256 of what decide makes of `raw` (everything but the record's clock) and of what
    interpret reads of it, stage by stage."""
    header = read_header(raw)
    sender = f"{header.sending_application}^{header.sending_facility}" if header else ""
    delivery = Delivery(1, raw, "m1", {
        h.RECEIVED_AT: "2026-11-25T10:15:00+00:00", h.SENDER: sender,
        h.TYPE: header.type if header else "", h.VERDICT: h.ACCEPTED})
    outcome = decide(delivery, mappings, policy)
    # A message the worker parks for its identity is still mapped: its entries count too.
    reading = interpret(raw, mappings, policy)
    refusals = [(r.stage, r.reason) if r else None
                for r in (reading.unreadable, reading.unmapped, reading.identity, reading.mapping)]
    text = repr((outcome.record.state, outcome.record.reason, outcome.patient, outcome.entries,
                 outcome.candidates, outcome.actions, reading.type, reading.control_id,
                 reading.registry, reading.verdict, reading.patient, reading.entries,
                 reading.mapped, reading.actions, refusals))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _digests(found: dict[str, bytes]) -> dict[str, str]:
    mappings, policy = _setting()
    return {name: digest(raw, mappings, policy) for name, raw in found.items()}


@pytest.fixture(scope="module")
def pinned() -> dict[str, str]:
    return json.loads(DIGESTS.read_text(encoding="utf-8"))


def test_fixture_outcomes_unchanged(pinned):
    found = _digests(_fixture_messages())
    assert found == {name: pinned.get(name) for name in found}


@pytest.fixture(scope="module")
def setting() -> tuple[MappingSet, RoutingPolicy]:
    return _setting()


# One test per corpus file; without the corpus there are no parameters (tests/fixtures/corpus.py).
@pytest.mark.parametrize("file", corpus_files(), ids=lambda file: file.name)
def test_corpus_outcomes_unchanged(file, pinned, setting):
    mappings, policy = setting
    prefix = f"corpus/{file.name}#"
    found = {f"{prefix}{n}": digest(raw, mappings, policy)
             for n, raw in enumerate(split_messages(file.path.read_bytes())[0])}
    # Every message pinned for the file, and no other: one lost or gained by the split fails too.
    assert found == {name: value for name, value in pinned.items() if name.startswith(prefix)}


if __name__ == "__main__":
    DIGESTS.write_text(json.dumps(_digests({**_fixture_messages(), **_corpus_messages()}),
                                  indent=0, sort_keys=True) + "\n", encoding="utf-8")

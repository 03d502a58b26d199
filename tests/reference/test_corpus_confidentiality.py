"""The senders' confidentiality fields in the corpus: every ORU^R01 (ORC-28, HL7 table 0177)
and MDM^T02 (TXA-18, table 0272) a mapping serves, the field read by python-hl7 (not the hub's
parser), and the level each of its entries is filed at by `interpret` with the shipped
mappings and sensitive codes. The code sets come from hl7apy's copy of the standard's tables,
not from the mapping files.

Figures, printed by the test (measured 2026-12-07): 183 ORU^R01, none carrying ORC-28; 8
MDM^T02, 3 carrying TXA-18 (2 × R filed restricted, 1 × U filed normal); no ORU entry of the
corpus is restricted by the shipped sensitive codes (none of them is in it).
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import hl7
import pytest
from hl7apy.v2_5.tables import TABLES

from hub.domain.models import Confidentiality
from hub.mapping.interpret import interpret
from hub.mapping.loader import load_mappings
from hub.mapping.policy import ReadingPolicy
from hub.mapping.sensitive import load_sensitive_codes
from tests.fixtures.reference_reader import mapped_corpus

REPO = Path(__file__).resolve().parents[2]
# Where each type carries its confidentiality code, and the HL7 table of its values.
FIELDS = {"ORU^R01": ("ORC", 28, "HL70177"), "MDM^T02": ("TXA", 18, "HL70272")}
USUAL = {"U"}                    # "usual control": the only standard code that is normal
V3_NORMAL = {"N", "L", "M"}      # HL7 v3 normal, low, moderate, written by some senders


@pytest.fixture(scope="module")
def shipped():
    return load_mappings(REPO / "mappings",
                         load_sensitive_codes(REPO / "config" / "sensitive_codes.toml"))


def expected(code: str) -> Confidentiality:
    """The level the standard's meaning of `code` calls for; anything else fails closed."""
    code = code.split("^", 1)[0].strip().upper()
    if not code or code == '""' or code in USUAL | V3_NORMAL:
        return Confidentiality.NORMAL
    return Confidentiality.RESTRICTED


def reference_codes(raw: bytes, segment: str, number: int) -> list[str]:
    """The field in every `segment` of the message, as python-hl7 reads it."""
    text = raw.decode("utf-8", "replace").replace("\r\n", "\r").replace("\n", "\r")
    found = []
    for seg in hl7.parse(text):
        if str(seg[0]) == segment:
            found.append(str(seg[number]) if len(seg) > number else "")
    return found


@pytest.mark.parametrize("type_", sorted(FIELDS))
def test_every_standard_code_is_mapped_explicitly_and_only_usual_control_is_normal(shipped,
                                                                                  type_):
    segment, number, table = FIELDS[type_]
    standard = set(TABLES[table][1])
    for rule in shipped.for_type(type_).entries:
        assert rule.confidentiality_source[:2] == (segment, number)
        mapped = dict(rule.confidentiality_map)
        assert standard <= set(mapped), f"{table} codes left to `unknown`"
        assert {code: mapped[code] for code in standard} == {
            code: expected(code) for code in standard}
        assert rule.confidentiality_unknown is Confidentiality.RESTRICTED
        assert Confidentiality.SECRET not in mapped.values()


def test_corpus_messages_are_filed_at_the_level_their_confidentiality_code_means(shipped,
                                                                                 capsys):
    figures: Counter[str] = Counter()
    examined = 0
    for message in mapped_corpus(shipped):
        reading = interpret(message.raw, shipped, ReadingPolicy())
        if reading.type not in FIELDS or not reading.mapped:
            continue
        examined += 1
        segment, number, _ = FIELDS[reading.type]
        codes = [c for c in reference_codes(message.raw, segment, number) if c.strip()]
        figures[f"{reading.type} messages"] += 1
        levels = {entry.confidentiality for entry in reading.entries}
        if not codes:
            figures[f"{reading.type} without {segment}-{number}"] += 1
            if Confidentiality.RESTRICTED in levels:
                figures[f"{reading.type} restricted by a sensitive code"] += 1
            continue
        # One code per message in this corpus; several ORC would each decide their own group.
        assert len(set(codes)) == 1, (message.name, codes)
        figures[f"{reading.type} {segment}-{number}={codes[0]} -> "
                f"{'/'.join(sorted(level.value for level in levels))}"] += 1
        assert levels <= {expected(codes[0]), Confidentiality.RESTRICTED}, message.name
        assert expected(codes[0]) in levels, message.name
    with capsys.disabled():
        print("\ncorpus confidentiality codes:")
        for line, count in sorted(figures.items()):
            print(f"  {line}: {count}")
    assert examined >= 100  # the corpus is there and was read
    assert any("TXA-18=" in line for line in figures)

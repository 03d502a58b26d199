"""Sensitivity at the source: the sensitive codes list (hub/mapping/sensitive.py) and the
senders' confidentiality fields (TXA-18 in mappings/MDM_T02.toml, ORC-28 in ORU_R01.toml) set
the level an entry is filed at, and read through `interpret` (the worker's and `hub map`'s one
way of reading) so a preview shows what the worker files."""
from __future__ import annotations

from pathlib import Path

import pytest

from hub.domain.models import Confidentiality
from hub.errors import ConfigError
from hub.mapping.interpret import interpret
from hub.mapping.loader import load_mappings
from hub.mapping.policy import ReadingPolicy
from hub.mapping.sensitive import load_sensitive_codes
from tests.fixtures.messages import mdm_t02, patient

REPO = Path(__file__).resolve().parents[2]
SHIPPED_CODES = REPO / "config" / "sensitive_codes.toml"
N, R = Confidentiality.NORMAL, Confidentiality.RESTRICTED

CODES = """
[systems]
LN = ["LOINC", "2.16.840.1.113883.6.1"]

[[code]]
system = "LN"
code = "56888-1"
topic = "hiv"
on = ["OBX-3", "OBR-4"]

[[code]]
system = "LN"
code = "25836-8"
topic = "hiv"

[[code]]
system = "99LAB"
code = "gen-brca"
topic = "genetics"
"""


@pytest.fixture(scope="module")
def codes_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("codes") / "sensitive_codes.toml"
    path.write_text(CODES, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def mappings(codes_file):
    return load_mappings(REPO / "mappings", load_sensitive_codes(codes_file))


def oru(*, obr4: str = "24331-1^Lipid panel^LN", orc28: str = "", obx3s=("2093-3^Chol^LN",)):
    orc = "ORC|RE|PL1|FI1" + "|" * 9 + "123456-78^Reuter^Marc" + "|" * 16 + orc28
    segments = [
        "MSH|^~\\&|LAB|CHL|HUB|DSP|20261125100000||ORU^R01^ORU_R01|C1|P|2.5",
        f"PID|1||{patient(1).matricule}^^^CNS^NN||Test^Anne||19890312|F",
        orc,
        f"OBR|1|PL1|FI1|{obr4}|||20261125080000",
        *(f"OBX|{i}|ST|{code}||value {i}||||||F" for i, code in enumerate(obx3s, 1)),
    ]
    return ("\r".join(segments) + "\r").encode()


def levels(mappings, raw: bytes) -> list[Confidentiality]:
    reading = interpret(raw, mappings, ReadingPolicy())
    assert reading.refusal is None, reading.refusal
    return [entry.confidentiality for entry in reading.entries]


# -- the codes list ----------------------------------------------------------------------------

@pytest.mark.parametrize(("obx3", "level"), [
    ("56888-1^HIV 1+2 Ab+Ag^LN", R),
    ("56888-1^HIV^LOINC", R),                        # an alias of LN
    ("56888-1^HIV^2.16.840.1.113883.6.1", R),        # LOINC's OID
    (" 56888-1 ^HIV^ ln ", R),                       # spaces and case do not matter
    ("56888-1^HIV", R),                              # no coding system said: fail closed
    ("X1^local HIV^L^25836-8^HIV RNA^LN", R),        # the alternate code counts too
    ("GEN-BRCA^BRCA^99LAB", R),                      # a lab's local code
    ("56888-1^not LOINC^99LAB", N),                  # same digits in another system
    ("GEN-BRCA^BRCA^98OTHER", N),
    ("2093-3^Cholesterol^LN", N),
    ("", N),
])
def test_an_obx_carrying_a_listed_code_is_restricted(mappings, obx3, level):
    assert levels(mappings, oru(obx3s=(obx3 or "^no code",))) == [level]


def test_only_the_matching_obx_of_a_message_is_restricted(mappings):
    raw = oru(obx3s=("2093-3^Chol^LN", "25836-8^HIV 1 RNA^LN", "2085-9^HDL^LN"))
    assert levels(mappings, raw) == [N, R, N]


def test_an_order_code_restricts_every_result_of_its_order_only_when_listed_for_obr_4(mappings):
    assert levels(mappings, oru(obr4="56888-1^HIV screen^LN",
                                obx3s=("X-1^Ag^L", "X-2^Ab^L"))) == [R, R]
    # 25836-8 is listed for OBX-3 only: as an order code it restricts nothing by itself.
    assert levels(mappings, oru(obr4="25836-8^HIV RNA^LN", obx3s=("X-1^copies^L",))) == [N]


def test_a_document_obx_and_an_mdm_are_checked_too(mappings):
    ed = "56888-1^HIV report^LN"
    raw = oru(obx3s=(ed,)).replace(b"|ST|56888-1", b"|ED|56888-1")
    reading = interpret(raw, mappings, ReadingPolicy())
    assert [(e.kind, e.confidentiality) for e in reading.entries] == [("document", R)]
    mdm = mdm_t02(patient(2), "D1", author="123456-78").replace(
        "OBX|1|TX|60591-5^Patient summary^LN", "OBX|1|TX|56888-1^HIV^LN")
    assert levels(mappings, mdm.encode()) == [R]


def test_without_a_list_nothing_is_restricted_by_its_code():
    plain = load_mappings(REPO / "mappings")
    assert levels(plain, oru(obx3s=("56888-1^HIV^LN",))) == [N]


# -- the senders' confidentiality fields ---------------------------------------------------------

@pytest.mark.parametrize(("orc28", "level"), [
    ("", N), ('""', N), ("U", N), ("N", N), ("L", N), ("u^usual control^HL70177", N),
    ("R", R), ("V", R),                             # very restricted files restricted, not secret
    ("HIV", R), ("PSY", R), ("ETH", R), ("AID", R), ("VIP", R), ("EMP", R), ("UWM", R),
    ("ZZ", R), ("R V", R), ("?", R),                 # unknown or garbled: fail closed
])
def test_orc_28_confidentiality_code_sets_the_level_of_the_orders_results(mappings, orc28, level):
    assert levels(mappings, oru(orc28=orc28, obx3s=("2093-3^Chol^LN", "2085-9^HDL^LN"))) == [
        level, level]


def test_a_listed_code_wins_over_a_usual_control_flag(mappings):
    assert levels(mappings, oru(orc28="U", obx3s=("56888-1^HIV^LN", "2093-3^Chol^LN"))) == [R, N]


@pytest.mark.parametrize(("txa18", "level"), [
    ("", N), ("U", N), ("N", N), ("R", R), ("V", R), ("Q", R), ("%%", R)])
def test_txa_18_sets_the_documents_level_and_never_secret(mappings, txa18, level):
    text = mdm_t02(patient(3), "D2", author="123456-78")
    text = text.replace("|||||AU||AV", f"|||||AU|{txa18}|AV")
    assert levels(mappings, text.encode()) == [level]


# -- the file ----------------------------------------------------------------------------------

def test_the_shipped_list_loads_and_restricts_an_hiv_screen():
    codes = load_sensitive_codes(SHIPPED_CODES)
    assert len(codes) >= 10
    shipped = load_mappings(REPO / "mappings", codes)
    assert levels(shipped, oru(obx3s=("56888-1^HIV 1+2 Ab+Ag^LN",))) == [R]


@pytest.mark.parametrize(("text", "said"), [
    ('[[code]]\nsystem = "LN"\ncode = "56888-1"\n', "code 1 ('56888-1') field topic"),
    ('[[code]]\nsystem = "LN"\ncode = "1"\ntopic = "x"\n[[code]]\nsystem = "LN"\n'
     'code = "2"\ntopic = "x"\non = ["PID-3"]\n', "code 2 ('2') field on"),
    ('[[code]]\nsystem = "LN"\ncode = "a b"\ntopic = "x"\n', "code 1 ('a b') field code"),
    ('[[code]]\nsystem = "LN"\ncode = "1"\ntopic = "x"\ncolour = "red"\n',
     "code 1 ('1') field colour"),
    ('[systems]\nLN = ["X"]\nSCT = ["X"]\n', "'X' is an alias of both"),
    ("[[code]\n", "cannot read"),
])
def test_a_bad_entry_is_a_config_error_naming_the_file_and_the_entry(tmp_path, text, said):
    path = tmp_path / "codes.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_sensitive_codes(path)
    assert str(path) in str(raised.value) and said in str(raised.value)


def test_a_missing_file_is_an_error_and_an_empty_setting_lists_none(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_sensitive_codes(tmp_path / "nowhere.toml")
    assert len(load_sensitive_codes(None)) == 0

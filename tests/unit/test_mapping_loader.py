"""The mapping loader: shipped mappings load; every mistake names file, line and field."""
from __future__ import annotations

from pathlib import Path

import pytest

from hub.errors import ConfigError
from hub.mapping.loader import load_mappings

SHIPPED = Path(__file__).resolve().parents[2] / "mappings"

BASE = """\
types = ["ORU^R01"]

[patient]
family_name = "PID-5.1.1"
birth_date = "PID-7"

[[entries]]
kind = "lab_result"
each = "OBX"
group = ["ORC", "OBR"]
effective_at = ["OBX-14", "OBR-7"]

[entries.fields]
code = "OBX-3.1"
unit = ["OBX-6.1", "OBX-6.2"]
value = "OBX-5"
doctor = ["ORC-12", "OBR-16"]

[entries.types]
value = { type = "varies", datatype = "OBX-2" }
doctor = "xcn"
"""


def write(directory: Path, text: str, name: str = "ORU_R01.toml") -> Path:
    file = directory / name
    file.write_text(text, encoding="utf-8")
    return file


def line_of(text: str, needle: str) -> int:
    return next(number for number, line in enumerate(text.splitlines(), 1) if needle in line)


def load_error(directory: Path, text: str) -> str:
    write(directory, text)
    with pytest.raises(ConfigError) as caught:
        load_mappings(directory)
    return str(caught.value)


def test_shipped_mappings_load_and_serve_their_types():
    mappings = load_mappings(SHIPPED)
    for type_ in ("ADT^A01", "ADT^A04", "ADT^A08", "ORU^R01"):
        assert type_ in mappings.for_type(type_).types
    assert mappings.for_type("ORU^R01^ORU_R01").types == ("ORU^R01",)
    assert mappings.for_type("SIU^S12") is None


def test_a_mapping_can_serve_a_structure_as_fallback(tmp_path):
    write(tmp_path, BASE.replace('types = ["ORU^R01"]', 'types = ["ORU_R01"]'))
    mappings = load_mappings(tmp_path)
    assert mappings.for_type("ORU^R30", "ORU_R01") is not None
    assert mappings.for_type("ORU^R30") is None


@pytest.mark.parametrize("bad, field, says", [
    ('"OBX-66"', "unit", "OBX-66 does not exist (OBX has 19 fields in v2.5)"),
    ('"OBX-6.9"', "unit", "OBX-6.9 does not exist (OBX-6 is CE with 6 components in v2.5)"),
    ('"OBX-6.1.2"', "unit", "OBX-6.1.2 does not exist (OBX-6.1 is ST, which has no subcomponents"),
    ('"OXB-6.1"', "unit", "segment OXB does not exist in v2.5"),
    ('"OBX6.1"', "unit", "not an HL7 path"),
])
def test_a_typo_in_a_path_names_file_line_and_field(tmp_path, bad, field, says):
    text = BASE.replace('"OBX-6.1"', bad)
    message = load_error(tmp_path, text)
    assert message.startswith(f"{tmp_path / 'ORU_R01.toml'}:{line_of(text, bad)}: ")
    assert f'field "{field}"' in message
    assert says in message


def test_a_typo_in_a_patient_path_points_at_the_patient_section(tmp_path):
    text = BASE.replace('"PID-7"', '"PID-7.3"')
    message = load_error(tmp_path, text)
    assert f":{line_of(text, 'PID-7.3')}: " in message
    assert 'field "birth_date"' in message and "PID-7 is TS with 2 components" in message


def test_an_unknown_key_is_refused_with_its_line(tmp_path):
    text = BASE.replace('each = "OBX"', 'each = "OBX"\nrepeat = true')
    message = load_error(tmp_path, text)
    assert f":{line_of(text, 'repeat')}: " in message
    assert '"repeat"' in message and "unknown key" in message


def test_an_unknown_patient_field_is_refused(tmp_path):
    text = BASE.replace('birth_date = "PID-7"', 'nickname = "PID-5.2"')
    message = load_error(tmp_path, text)
    assert f":{line_of(text, 'nickname')}: " in message and '"nickname"' in message


def test_a_wrong_type_is_refused_rather_than_coerced(tmp_path):
    text = BASE.replace('each = "OBX"', 'each = "OBX"\nrequired = "yes"')
    message = load_error(tmp_path, text)
    assert f":{line_of(text, 'required')}: " in message and '"required"' in message


def test_a_field_path_that_is_not_a_string_is_refused(tmp_path):
    text = BASE.replace('code = "OBX-3.1"', "code = 3")
    message = load_error(tmp_path, text)
    assert f":{line_of(text, 'code = 3')}: " in message and 'field "code"' in message


def test_two_files_claiming_one_type_are_refused(tmp_path):
    write(tmp_path, BASE, "A.toml")
    write(tmp_path, BASE, "B.toml")
    with pytest.raises(ConfigError) as caught:
        load_mappings(tmp_path)
    assert f"{tmp_path / 'B.toml'}:1: " in str(caught.value)
    assert '"ORU^R01"' in str(caught.value) and str(tmp_path / "A.toml") in str(caught.value)


def test_a_z_segment_needs_declaring_and_its_declared_size(tmp_path):
    text = BASE.replace('code = "OBX-3.1"', 'code = "ZLU-2"')
    assert "declare it under [custom_segments]" in load_error(tmp_path, text)
    declared = 'custom_segments = { ZLU = 3 }\n' + text
    write(tmp_path, declared)
    assert load_mappings(tmp_path).for_type("ORU^R01") is not None
    message = load_error(tmp_path, declared.replace('"ZLU-2"', '"ZLU-4"'))
    assert "ZLU-4 does not exist (ZLU is declared with 3 fields)" in message


@pytest.mark.parametrize("change, says", [
    (('doctor = "xcn"', 'doctor = "pl"'), "type pl cannot read ORC-12, which is XCN"),
    (('doctor = "xcn"', 'code = "xcn"'), "type xcn reads a whole field, not OBX-3.1"),
    (('doctor = "xcn"', 'dose = "number"'), "is not one of this entry's [fields]"),
    (('code = "OBX-3.1"', 'kind = "OBX-3.1"'), "reserved"),
    (('datatype = "OBX-2"', 'datatype = "OBX-2.4"'), "OBX-2.4 does not exist"),
    (('each = "OBX"', 'each = "OBY"'), "each: segment OBY does not exist"),
])
def test_inconsistent_field_rules_are_refused(tmp_path, change, says):
    text = BASE.replace(*change)
    message = load_error(tmp_path, text)
    assert says in message
    assert f":{line_of(text, change[1])}: " in message


def test_a_group_without_each_is_refused(tmp_path):
    text = BASE.replace('each = "OBX"\n', "")
    assert "only an entry with `each` has a group" in load_error(tmp_path, text)


def test_broken_toml_names_its_line(tmp_path):
    text = BASE.replace('kind = "lab_result"', 'kind = "lab_result')
    message = load_error(tmp_path, text)
    assert f":{line_of(text, 'kind =')}: not valid TOML" in message


def test_an_unknown_hl7_version_is_refused(tmp_path):
    message = load_error(tmp_path, 'version = "9.9"\n' + BASE)
    assert ":1: " in message and "9.9" in message


ISSUE_4_SHAPES = {
    "DFT_P03.toml": """\
types = ["DFT^P03"]
[[entries]]
kind = "cns_prestation"
each = "FT1"
require = ["code"]
effective_at = "FT1-4"
[entries.fields]
code = "FT1-7.1"
quantity = "FT1-10"
amount = "FT1-11.1.1"
performed_by = "FT1-20"
[entries.types]
quantity = "number"
performed_by = "xcn"
""",
    "MDM_T02.toml": """\
types = ["MDM^T02"]
[[entries]]
kind = "document"
effective_at = ["TXA-4", "TXA-6"]
confidentiality = { path = "TXA-18", map = { V = "secret", R = "restricted" } }
[entries.fields]
document_type = "TXA-2"
document_id = "TXA-12.1"
content_type = "OBX-5.3"
content = "OBX-5"
[entries.types]
content = { type = "varies", datatype = "OBX-2" }
""",
}


def test_issue_4_message_shapes_fit_the_format(tmp_path):
    for name, text in ISSUE_4_SHAPES.items():
        write(tmp_path, text, name)
    mappings = load_mappings(tmp_path)
    assert mappings.for_type("DFT^P03").entries[0].each == "FT1"
    assert mappings.for_type("MDM^T02").entries[0].confidentiality_source == ("TXA", 18, None,
                                                                               None, 0)


@pytest.mark.parametrize("change, says", [
    (('value = { type = "varies", datatype = "OBX-2" }', 'value = { type = "varies" }'),
     "type varies needs a datatype path"),
    (('value = { type = "varies", datatype = "OBX-2" }',
      'value = { type = "text", datatype = "OBX-2" }'), "datatype is for type varies, not text"),
    (('doctor = "xcn"', 'doctor = { type = "xcn", all = true }'), "all = true joins text"),
    (('doctor = "xcn"', 'unit = { type = "text", all = true }'), "all = true reads one segment"),
])
def test_inconsistent_type_tables_are_refused(tmp_path, change, says):
    text = BASE.replace(*change).replace('unit = ["OBX-6.1", "OBX-6.2"]',
                                         'unit = ["OBX-6.1", "OBR-4.1"]')
    assert says in load_error(tmp_path, text)


def test_a_condition_is_compiled_and_its_path_checked(tmp_path):
    text = BASE.replace('each = "OBX"\n',
                        'each = "OBX"\nunless = { path = "OBX-2", in = ["ed "] }\n')
    write(tmp_path, text)
    [rule] = load_mappings(tmp_path).for_type("ORU^R01").entries
    assert rule.conditions == ((("OBX", 2, None, None, 0), frozenset({"ED"}), False),)
    bad = BASE.replace('each = "OBX"\n', 'each = "OBX"\nwhen = { path = "OBX-99", in = ["ED"] }\n')
    message = load_error(tmp_path, bad)
    assert "OBX-99" in message and f":{line_of(bad, 'OBX-99')}: " in message
    empty = BASE.replace('each = "OBX"\n', 'each = "OBX"\nwhen = { path = "OBX-2", in = [] }\n')
    assert f':{line_of(empty, "when =")}: key "in": List should have at least 1 item' in \
        load_error(tmp_path, empty)


def test_mapping_set_lists_the_types_it_serves():
    served = load_mappings(SHIPPED).types()
    assert {"ORU^R01", "MDM^T02", "ADT^A01"} <= served

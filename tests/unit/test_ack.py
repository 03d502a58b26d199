"""ACK building: mirrored MSH, original vs enhanced mode, ERR per version, charsets, parsers."""

from datetime import datetime, timedelta, timezone

import hl7
import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from hub.inbound.ack import build_ack, wants_ack
from hub.inbound.sniff import Header, Rejection, sniff

NOW = datetime(2024, 3, 5, 14, 7, 9, tzinfo=timezone(timedelta(hours=1)))
MISSING = Rejection("AE", 101, "PID^1^3", "no matricule in PID-3 (identifier type NN)")


def header(msh: str = "MSH|^~\\&|LAB^1.2.3^ISO|HOSP|HUB|DSP|20240101||ORU^R01^ORU_R01|C-9|P|2.5",
           encoding: str = "ascii") -> Header:
    raw = (msh + "\rPID|1\r").encode(encoding)
    found = sniff(raw, supported_versions=frozenset({"2.5"}), identity_exempt=frozenset(),
                  authorities=frozenset()).header
    assert found is not None
    return found


def ack(h: Header | None, code: str = "AA", error: Rejection | None = None, **kw) -> str:
    return build_ack(h, code, error=error, control_id="ACK-1", now=NOW, **kw).decode("latin-1")


def segments(text: str) -> list[str]:
    assert text.endswith("\r")
    return text[:-1].split("\r")


def test_accept_in_original_mode():
    assert segments(ack(header())) == [
        "MSH|^~\\&|HUB|DSP|LAB^1.2.3^ISO|HOSP|20240305140709+0100||ACK^R01^ACK|ACK-1|P|2.5",
        "MSA|AA|C-9",
    ]


@pytest.mark.parametrize("field", ["|||AL", "||||NE", "|||NE|AL"])
@pytest.mark.parametrize("code, enhanced", [("AA", "CA"), ("AE", "CE"), ("AR", "CR")])
def test_enhanced_mode_when_msh15_or_msh16_is_set(field, code, enhanced):
    h = header("MSH|^~\\&|LAB|HOSP|HUB|DSP|20240101||ORU^R01|C-9|P|2.5" + field)
    assert segments(ack(h, code))[1].startswith(f"MSA|{enhanced}|C-9")
    assert segments(ack(header(), code))[1].startswith(f"MSA|{code}|C-9")


@pytest.mark.parametrize("mode, on_success, on_error", [
    ("", True, True), ("AL", True, True), ("NE", False, False),
    ("ER", False, True), ("SU", True, False),
])
def test_wants_ack_honours_msh15(mode, on_success, on_error):
    h = header(f"MSH|^~\\&|LAB|HOSP|HUB|DSP|20240101||ORU^R01|C-9|P|2.5|||{mode}")
    assert (wants_ack(h, "AA"), wants_ack(h, "AE"), wants_ack(h, "AR")) == (
        on_success, on_error, on_error)
    assert wants_ack(None, "AR")


def test_mirrors_delimiters_truncation_char_processing_id_and_charset():
    h = header("MSH#!@%*#SEND#FAC#RCV#RFAC#20240101##ADT!A01#C-7#T!T#2.5######8859/1")
    lines = segments(ack(h, "AE", MISSING))
    assert lines[0] == "MSH#!@%*#RCV#RFAC#SEND#FAC#20240305140709+0100##ACK!A01!ACK#ACK-1#T!T#2.5" \
        "######8859/1"
    assert lines[2] == "ERR##PID!1!3#101!Required field missing!HL70357#E####" + MISSING.text
    truncating = header("MSH|^~\\&#|LAB|HOSP|HUB|DSP|20240101||ORU^R01|C-9|P|2.5")
    assert ack(truncating).startswith("MSH|^~\\&#|HUB|DSP|LAB|HOSP|")


def test_hub_names_fill_an_empty_msh5_and_msh6_and_naive_time_has_no_offset():
    h = header("MSH|^~\\&|LAB|HOSP|||20240101||ORU^R01|C-9|P|2.5")
    text = build_ack(h, "AA", control_id="X", now=datetime(2024, 1, 2, 3, 4, 5),
                     hub_app="MY-HUB", hub_facility="LU").decode()
    assert text.startswith("MSH|^~\\&|MY-HUB|LU|LAB|HOSP|20240102030405||ACK^R01^ACK|X|P|2.5\r")


def test_err_segment_from_v2_5_and_before():
    v25 = segments(ack(header(), "AE", MISSING))
    assert v25[1] == f"MSA|AE|C-9|{MISSING.text}"
    assert v25[2] == f"ERR||PID^1^3|101^Required field missing^HL70357|E||||{MISSING.text}"
    v23 = segments(ack(header("MSH|^~\\&|LAB|HOSP|HUB|DSP|20240101||ORU^R01|C-9|P|2.3"),
                       "AE", MISSING))
    assert v23[0].split("|")[8] == "ACK^R01"  # MSH-9.3 only exists from v2.3.1
    assert v23[2] == "ERR|PID^1^3^101&Required field missing&HL70357"


def test_delimiters_in_texts_are_escaped():
    error = Rejection("AR", 207, "", "a|b^c~d\\e&f")
    lines = segments(ack(header(), "AR", error, hub_app="HUB|1"))
    assert lines[0].split("|")[2] == "HUB"  # MSH-5 was given, so hub_app is not used there
    assert lines[1] == "MSA|AR|C-9|a\\F\\b\\S\\c\\R\\d\\E\\e\\T\\f"
    assert lines[2].startswith("ERR|||207^Application internal error^HL70357|E|")
    garbage = segments(ack(None, "AR", error, hub_app="HUB|1"))
    assert garbage[0].split("|")[2] == "HUB\\F\\1"


def test_garbage_frame_gets_a_standard_ack():
    error = Rejection("AR", 100, "", "no MSH segment")
    assert segments(ack(None, "AR", error)) == [
        "MSH|^~\\&|DSP-HUB|DSP|||20240305140709+0100||ACK^^ACK|ACK-1|P|2.5",
        "MSA|AR||no MSH segment",
        "ERR|||100^Segment sequence error^HL70357|E||||no MSH segment",
    ]


def test_encoded_in_the_message_charset():
    h = header("MSH|^~\\&|LAB|HOSP|HÔPITAL|DSP|20240101||ORU^R01|C-9|P|2.5||||||8859/1", "latin-1")
    raw = build_ack(h, "AA", control_id="A", now=NOW)
    assert b"|H\xd4PITAL|" in raw
    utf8 = header("MSH|^~\\&|LAB|HOSP|HÔPITAL|DSP|20240101||ORU^R01|C-9|P|2.5||||||UNICODE UTF-8",
                  "utf-8")
    assert "|HÔPITAL|".encode() in build_ack(utf8, "AA", control_id="A", now=NOW)


@pytest.mark.parametrize("version", ["2.3", "2.5", "2.5.1"])
@pytest.mark.parametrize("error", [None, MISSING])
def test_parsers_read_the_ack(version, error):
    h = header(f"MSH|^~\\&|LAB|HOSP|HUB|DSP|20240101||ORU^R01^ORU_R01|C-9|P|{version}|||AL")
    text = ack(h, "AE" if error else "AA", error)
    parsed = hl7.parse(text)
    assert str(parsed.segment("MSA")[1]) == ("CE" if error else "CA")
    assert str(parsed.segment("MSA")[2]) == "C-9"
    msg = parse_message(text, find_groups=False)
    assert msg.msh.msh_12.to_er7() == version
    assert msg.msa.msa_2.to_er7() == "C-9"
    if error:
        assert "101" in msg.err.to_er7()
    if version != "2.3":  # hl7apy knows no v2.3 ACK structure for strict mode
        strict = parse_message(text, find_groups=True, validation_level=VALIDATION_LEVEL.STRICT)
        assert strict.validate()
    garbage = ack(None, "AR", Rejection("AR", 102, "", "binary content"))
    assert parse_message(garbage, find_groups=False).msa.msa_1.to_er7() == "AR"
    assert str(hl7.parse(garbage).segment("ERR")[3][0][0]) == "102"


@pytest.mark.parametrize("version, expected", [("2.5", "ACK^^ACK"), ("2.3.1", "ACK^^ACK"),
                                               ("2.3", "ACK")])
def test_msh9_names_the_ack_structure_even_without_a_trigger_event(version, expected):
    # v2.5 MSG.3 (message structure) is required: hl7apy's strict validation cannot place an
    # ACK whose MSH-9 is only "ACK" (tests/reference/test_acks.py).
    h = header(f"MSH|^~\\&|LAB|HOSP|HUB|DSP|20240101||ORU|C-9|P|{version}")
    assert segments(ack(h))[0].split("|")[8] == expected

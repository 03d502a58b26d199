"""The one MSH reader, against headers as the standard allows and as senders send them.

Expectations follow HL7 v2.5 section 2.14.9 (MSH): MSH-1 is the character right after "MSH",
MSH-2 the encoding characters up to the next field separator (component, repetition, escape,
subcomponent, and from v2.7 the truncation character), MSH-n the (n-1)th field after "MSH".
"""
from __future__ import annotations

import pytest

from hub.hl7.header import msh_line, msh_span, read_header, split_fields

STANDARD = ("MSH|^~\\&|LAB^1.2.3^ISO|CHL|HUB|DSP|20240115083000+0100||ORU^R01^ORU_R01|C1|P|"
            "2.5^LUX|||AL|NE||8859/1")


def test_the_standard_header_field_by_field():
    header = read_header(STANDARD.encode() + b"\rPID|1\r")
    assert (header.field_sep, header.encoding_chars) == ("|", "^~\\&")
    assert header.sending_application == "LAB^1.2.3^ISO" and header.sending_facility == "CHL"
    assert header.timestamp == "20240115083000+0100"
    assert (header.message_code, header.trigger_event, header.structure) == (
        "ORU", "R01", "ORU_R01")
    assert (header.type, header.control_id, header.version, header.charset) == (
        "ORU^R01", "C1", "2.5", "8859/1")


def test_the_truncation_character_is_part_of_msh2_not_a_field():
    header = read_header(b"MSH|^~\\&#|A|B|C|D|20240115||ADT^A01|X1|P|2.5\r")
    assert header.encoding_chars == "^~\\&#"
    assert (header.type, header.control_id, header.version) == ("ADT^A01", "X1", "2.5")


def test_any_field_separator_and_encoding_characters():
    header = read_header("MSH*:#!@*A*B*C*D*20240115**ADT:A08:ADT_A01*X2*P*2.4:x")
    assert (header.field_sep, header.encoding_chars) == ("*", ":#!@")
    assert (header.type, header.structure, header.control_id, header.version) == (
        "ADT^A08", "ADT_A01", "X2", "2.4")
    star = read_header(b"MSH*^~\\&*A*B*C*D*20240115**ORU^R01*X3*P*2.5\r")
    assert (star.field_sep, star.type, star.control_id) == ("*", "ORU^R01", "X3")


def test_a_repeated_msh9_is_read_in_its_first_repetition():
    header = read_header(b"MSH|^~\\&|A|B|C|D|20240115||ORU^R01~ADT^A01|X|P|2.5\r")
    assert header.type == "ORU^R01"


def test_a_truncated_header_reads_empty_fields():
    header = read_header(b"MSH|^~\\&|A|B|C|D|20240115||ORU^R01\r")
    assert (header.type, header.control_id, header.version, header.charset) == (
        "ORU^R01", "", "", "")
    assert read_header(b"MSH|").encoding_chars == "" and read_header(b"MSH|").type == ""


def test_an_empty_event_gives_the_code_alone():
    assert read_header(b"MSH|^~\\&|A|B|C|D|20240115||ACK|X|P|2.5").type == "ACK"


def test_missing_msh12_and_msh18():
    header = read_header(b"MSH|^~\\&|A|B|C|D|20240115||ADT^A01|X|P\r")
    assert (header.version, header.charset) == ("", "")


def test_a_byte_order_mark_and_file_line_ends():
    header = read_header(b"\xef\xbb\xbf" + STANDARD.encode() + b"\r\nPID|1\r\n")
    assert (header.type, header.charset) == ("ORU^R01", "8859/1")
    assert msh_line("\ufeff" + STANDARD + "\n") == STANDARD


def test_msh_is_found_at_a_line_start_only():
    text = f"FHS|^~\\&|X\rBHS|^~\\&|MSH\n{STANDARD}\rPID|1\r"
    start, end = msh_span(text)
    assert text[start:end] == STANDARD
    assert read_header(b"PID|1||MSH|x\r") is None


@pytest.mark.parametrize("raw", [b"", b"MSH", b"MSH\rPID|1\r", b"no header at all"])
def test_no_header_is_none_not_an_error(raw):
    assert read_header(raw) is None


def test_bytes_beyond_ascii_are_read_one_to_one():
    header = read_header("MSH|^~\\&|LABÖ|CHL|||||ORU^R01|C1|P|2.5".encode("latin-1"))
    assert header.sending_application == "LABÖ"


def test_split_fields_puts_field_n_at_index_n():
    fields = split_fields("BHS|^~\\&|APP|FAC", "|", 6)
    assert fields == ["BHS", "|", "^~\\&", "APP", "FAC", ""]

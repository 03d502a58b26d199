"""Reading recipients' ACKs: only an ACK echoing the MSH-10 sent is ever credited."""
import pytest

from hub.outbound.ack_reader import MISMATCH, NO_ANSWER, UNREADABLE, no_answer, read_ack


def _ack(code: str, control_id: str = "OUT1", *, msa3: str = "", err: str = "",
         charset: str = "") -> bytes:
    text = (f"MSH|^~\\&|REC|FAC|DSP|HUB|20261125||ACK|A1|P|2.5|||||{charset}\r"
            f"MSA|{code}|{control_id}|{msa3}\r{err}")
    return text.encode("latin-1" if charset == "8859/1" else "utf-8")


@pytest.mark.parametrize("code, accepted, retryable", [
    ("AA", True, False), ("CA", True, False),
    ("AE", False, True), ("CE", False, True),
    ("AR", False, False), ("CR", False, False),
])
def test_codes_of_both_acknowledgement_modes(code, accepted, retryable):
    result = read_ack(_ack(code), "OUT1")
    assert (result.code, result.accepted, result.retryable) == (code, accepted, retryable)
    assert result.correlated and not result.drop_connection


@pytest.mark.parametrize("code", ["AA", "CA", "AE", "AR"])
def test_an_ack_for_another_message_is_never_credited(code):
    result = read_ack(_ack(code, "OUT0"), "OUT1")
    assert result.code == MISMATCH
    assert not result.accepted and result.retryable and result.drop_connection
    assert not result.correlated


def test_a_prefix_or_padded_control_id_is_a_mismatch():
    assert read_ack(_ack("AA", "OUT"), "OUT1").code == MISMATCH
    assert read_ack(_ack("AA", "OUT1 "), "OUT1").code == MISMATCH
    assert read_ack(_ack("AA", ""), "OUT1").code == MISMATCH


@pytest.mark.parametrize("payload", [
    b"", b"\x00\x01binary", b"hello", b"MSH|^~\\&|REC|FAC\rPID|1\r", b"MSH|",
    b"MSH|^~\\&|REC|FAC|DSP|HUB|x||ACK|A1|P|2.5\rMSA|ZZ|OUT1\r",
])
def test_unreadable_responses_are_retryable_and_drop_the_connection(payload):
    result = read_ack(payload, "OUT1")
    assert result.code == UNREADABLE
    assert not result.accepted and result.retryable and result.drop_connection


def test_error_code_and_text_are_read_but_reason_names_codes_only():
    err = "ERR||PID^1^5|207^Application error^HL70357|E||||Patient Weydert unknown\r"
    result = read_ack(_ack("AE", err=err), "OUT1")
    assert result.error_code == "207"
    assert result.text == "Patient Weydert unknown"
    assert result.reason == "AE (ERR-3 207)"
    assert "Weydert" not in result.reason


def test_msa3_text_and_v2_3_error_location():
    err = "ERR|PID^1^3^101&Required field missing&HL70357\r"
    result = read_ack(_ack("AR", msa3="rejected", err=err), "OUT1")
    assert (result.code, result.text, result.error_code) == ("AR", "rejected", "101")


def test_free_text_in_the_error_code_field_is_not_kept():
    err = "ERR|||Müller is not a code at all|E\r"
    result = read_ack(_ack("AE", err=err), "OUT1")
    assert result.error_code == "" and result.reason == "AE"


def test_latin1_ack_and_stray_bytes_in_free_text():
    result = read_ack(_ack("AA", msa3="reçu", charset="8859/1"), "OUT1")
    assert result.accepted and result.text == "reçu"
    # Declared UTF-8 but a Latin-1 byte in MSA-3: the acknowledgement itself is still plain.
    stray = _ack("AA", charset="UNICODE UTF-8").replace(b"OUT1|", b"OUT1|re\xe7u")
    assert read_ack(stray, "OUT1").accepted


def test_no_answer_is_retryable_and_drops_the_connection():
    result = no_answer("timed out")
    assert result.code == NO_ANSWER and result.retryable and result.drop_connection
    assert result.reason == "no answer: timed out"

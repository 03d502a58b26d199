"""Re-addressing: five MSH fields change, every other byte stays the sender's."""
import pytest

from hub.errors import HL7Error
from hub.hl7.message import Message
from hub.outbound.readdress import CONTROL_ID_LENGTH, new_control_id, readdress
from tests.fixtures.messages import encoded, oru_r01, patient

HUB = {"sending_application": "DSP", "sending_facility": "HUB"}


def _readdress(raw: bytes, **overrides) -> bytes:
    values = {"control_id": "OUT0001", "receiving_application": "CABINET",
              "receiving_facility": "REUTER", **HUB, **overrides}
    return readdress(raw, **values)


def _split_header(raw: bytes) -> tuple[bytes, bytes]:
    end = raw.index(b"\r")
    return raw[:end], raw[end:]


@pytest.mark.parametrize("charset, codec", [("UNICODE UTF-8", "utf-8"), ("8859/1", "latin-1")])
def test_only_the_header_changes_and_the_body_keeps_its_bytes(charset, codec):
    p = patient(3)  # Müller-3: ü is one byte in 8859/1, two in UTF-8
    raw = encoded(oru_r01(p, "LAB42", charset=charset), charset)
    out = _readdress(raw)
    old_header, old_body = _split_header(raw)
    new_header, new_body = _split_header(out)
    assert new_body == old_body
    assert p.family_name.encode(codec) in new_body
    message = Message.parse(out.decode(codec))
    assert message.value("MSH-3") == "DSP" and message.value("MSH-4") == "HUB"
    assert message.value("MSH-5") == "CABINET" and message.value("MSH-6") == "REUTER"
    assert message.control_id == "OUT0001"
    old_fields, new_fields = old_header.split(b"|"), new_header.split(b"|")
    changed = [i + 1 for i, (a, b) in enumerate(zip(old_fields, new_fields)) if a != b]
    assert changed == [3, 4, 5, 6, 10]  # MSH-n is at index n - 1, so i + 1 is n
    assert len(old_fields) == len(new_fields)
    assert message.value("MSH-18") == charset


def test_non_ascii_values_in_the_header_are_written_in_the_message_charset():
    raw = encoded(oru_r01(patient(1), "L1", charset="8859/1"), "8859/1")
    out = _readdress(raw, receiving_facility="Clinique Sainte-Thérèse")
    header, _ = _split_header(out)
    assert "Thérèse".encode("latin-1") in header
    assert Message.parse(out.decode("latin-1")).value("MSH-6") == "Clinique Sainte-Thérèse"


def test_a_value_the_charset_cannot_hold_is_refused():
    raw = encoded(oru_r01(patient(1), "L1", charset="8859/1"), "8859/1")
    with pytest.raises(HL7Error, match="latin-1"):
        _readdress(raw, receiving_facility="Łódź")


def test_truncation_character_is_kept_and_escaped_in_new_values():
    text = oru_r01(patient(2), "T1").replace("MSH|^~\\&|", "MSH|^~\\&#|", 1)
    raw = text.encode("utf-8")
    out = _readdress(raw, receiving_application="A#B", receiving_facility="F|G^H~I&J\\K")
    header, body = _split_header(out)
    assert header.startswith(b"MSH|^~\\&#|DSP|HUB|A\\P\\B|F\\F\\G\\S\\H\\R\\I\\T\\J\\E\\K|")
    assert body == _split_header(raw)[1]
    message = Message.parse(out.decode("utf-8"))
    assert message.separators.truncation == "#"
    assert message.segments[0].components(5) == ["A#B"]
    assert message.segments[0].components(6) == ["F|G^H~I&J\\K"]


def test_escape_sequences_elsewhere_are_left_as_received():
    text = oru_r01(patient(4), "E1", n_obx=1) + "NTE|1||line one\\.br\\line two \\X0D\\\\F\\ end\r"
    raw = text.encode("utf-8")
    out = _readdress(raw)
    assert out.endswith(b"NTE|1||line one\\.br\\line two \\X0D\\\\F\\ end\r")
    assert _split_header(out)[1] == _split_header(raw)[1]


def test_other_separators_and_line_feeds_are_the_senders():
    text = oru_r01(patient(5), "S1", n_obx=2).replace("|", "!").replace("^", "@")
    raw = text.replace("\r", "\n").encode("utf-8")
    out = _readdress(raw, receiving_application="X!Y")
    assert out.startswith(b"MSH!@~\\&!DSP!HUB!X\\F\\Y!REUTER!")
    assert out[out.index(b"\n"):] == raw[raw.index(b"\n"):]


def test_a_short_header_is_padded_up_to_msh_10():
    raw = b"MSH|^~\\&|LAB|CHL\rPID|1||x\r"
    out = _readdress(raw)
    assert out == b"MSH|^~\\&|DSP|HUB|CABINET|REUTER||||OUT0001\rPID|1||x\r"


def test_byte_order_mark_and_leading_blank_lines_are_kept():
    raw = b"\xef\xbb\xbf\r\n" + oru_r01(patient(6), "B1", n_obx=1).encode("utf-8")
    out = _readdress(raw)
    assert out.startswith(b"\xef\xbb\xbf\r\nMSH|^~\\&|DSP|HUB|CABINET|REUTER|")


def test_undecodable_or_headerless_messages_are_hl7_errors():
    bad = encoded(oru_r01(patient(1), "U1"), "UNICODE UTF-8").replace(b"\xc3", b"\xff", 1)
    with pytest.raises(HL7Error, match="MSH-18"):
        _readdress(bad)
    with pytest.raises(HL7Error, match="no MSH"):
        _readdress(b"PID|1||x\r")


def test_new_control_ids_fit_msh_10_and_do_not_repeat():
    ids = {new_control_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) == CONTROL_ID_LENGTH and i.isalnum() for i in ids)

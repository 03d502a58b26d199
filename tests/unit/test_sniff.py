"""The header sniff: every rejection, in order, and the header it still returns."""

import csv
from datetime import datetime
import os
import subprocess
import sys
from pathlib import Path

import hl7
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.errors import HL7Error
from hub.hl7.message import Message, Separators
from hub.inbound.ack import build_ack
from hub.inbound import sniff as sniff_module
from hub.inbound.sniff import Rejection, sniff

VERSIONS = frozenset({"2.3", "2.3.1", "2.4", "2.5", "2.5.1"})
MATRICULE = "1893120105732"
MSH = "MSH|^~\\&|LAB^1.2.3^ISO|HOSP|DSP-HUB|DSP|20240101120000||ORU^R01^ORU_R01|CTRL-1|P|2.5"
PID = f"PID|1||12345^^^HOSP^MR~{MATRICULE}^^^CNS^NN||Muller^Jean"
OBX = "OBX|1|NM|2345-7^Glucose^LN||95|mg/dL|70-100|N|||F"


def run(raw: bytes, **overrides) -> "sniff_module.Sniffed":
    options = dict(supported_versions=VERSIONS, identity_exempt=frozenset({"ACK"}),
                   authorities=frozenset())
    return sniff(raw, **{**options, **overrides})


def frame(msh: str = MSH, *segments: str) -> bytes:
    return ("\r".join([msh, *(segments or (PID, OBX))]) + "\r").encode()


def msh_with(field: int, value: str, msh: str = MSH) -> str:
    """MSH with MSH-`field` (n >= 3) replaced."""
    fields = msh.split("|")
    fields += [""] * (field - len(fields))
    fields[field - 1] = value
    return "|".join(fields)


def rejected(raw: bytes, **overrides) -> Rejection:
    assert (rejection := run(raw, **overrides).rejection) is not None
    return rejection


def test_a_good_message_is_accepted_with_its_header():
    sniffed = run(frame(msh_with(18, "UNICODE UTF-8", msh_with(15, "al", msh_with(16, "NE")))))
    assert sniffed.rejection is None
    assert isinstance(sniffed.message, Message)
    h = sniffed.header
    assert (h.field_sep, h.encoding_chars) == ("|", "^~\\&")
    assert (h.sending_app, h.sending_facility) == ("LAB^1.2.3^ISO", "HOSP")
    assert (h.receiving_app, h.receiving_facility) == ("DSP-HUB", "DSP")
    assert (h.message_code, h.trigger_event, h.structure) == ("ORU", "R01", "ORU_R01")
    assert (h.control_id, h.processing_id, h.version) == ("CTRL-1", "P", "2.5")
    assert (h.accept_ack_type, h.app_ack_type) == ("AL", "NE")
    assert (h.charset, h.codec) == ("UNICODE UTF-8", "utf-8")
    assert (h.sender, h.type) == ("LAB^HOSP", "ORU^R01")


@pytest.mark.parametrize("raw", [b"", b"\r\n \r", b"\xef\xbb\xbf", b"\xef\xbb\xbf\r\n"])
def test_empty_frame(raw):
    sniffed = run(raw)
    assert sniffed.header is None
    assert sniffed.rejection == Rejection("AR", 100, "", "empty message")


def ack_of(sniffed) -> hl7.Message:
    """The ACK the listener sends for this verdict, read by python-hl7."""
    r = sniffed.rejection
    ack = build_ack(sniffed.header, r.ack_code if r else "AA", error=r, control_id="ACK1",
                    now=datetime(2024, 5, 1, 12, 0))
    return hl7.parse(ack.decode(sniffed.header.codec if sniffed.header else "ascii"))


# HL7 v2.5 2.7: text data types carry printable characters; a non-printable one travels as a
# \Xhh\ escape. So a raw BEL, ESC, NUL... is refused, but as the message it is: MSA-2 echoes
# MSH-10 and ERR-2 names the field, as for any other data type error.
@pytest.mark.parametrize("junk", [b"\x00", b"\x01", b"\x07", b"\x08", b"\x1a", b"\x1b",
                                  b"\x1f", b"\x7f"])
def test_a_raw_control_byte_in_a_field_is_refused_naming_the_field(junk):
    sniffed = run(frame().replace(b"Muller", b"Mul" + junk + b"ler"))
    r = sniffed.rejection
    assert (r.ack_code, r.err_code, r.location) == ("AR", 102, "PID^1^5")
    assert f"0x{junk[0]:02X}" in r.text and "PID-5" in r.text and "Mul" not in r.text
    ack = ack_of(sniffed)
    assert (str(ack.segment("MSA")[1]), str(ack.segment("MSA")[2])) == ("AR", "CTRL-1")
    assert str(ack.segment("ERR")[2]) == "PID^1^5"
    assert str(ack.segment("ERR")[3]).startswith("102^")


@pytest.mark.parametrize("segments, location", [
    ((PID, OBX, OBX.replace("|95|", "|9\x1b5|").replace("OBX|1", "OBX|2")), "OBX^2^5"),
    ((PID, "", "NTE|1||a", "NTE|2|L|b\x07"), "NTE^2^3"),
    ((PID, "NT\x1bE|1||a"), ""),
    ((PID.replace("PID|1", "PID|\x1b1"),), "PID^1^1"),
])
def test_the_location_is_the_first_control_byte(segments, location):
    for eol in ("\r", "\r\n", "\n"):
        raw = eol.join([MSH, *segments, ""]).encode()
        sniffed = run(raw)
        assert (sniffed.rejection.err_code, sniffed.rejection.location) == (102, location), eol
        assert str(ack_of(sniffed).segment("MSA")[2]) == "CTRL-1"


def test_a_control_byte_in_msh_is_located_but_nothing_of_msh_is_kept_or_echoed():
    # MSH's fields are stored in clear and mirrored into the ACK: a NUL there would reach
    # PostgreSQL text (which refuses it) and the sender's parser.
    for field, value in ((3, "LAB\x07"), (10, "CTRL\x00-1"), (5, "DSP\x1b")):
        sniffed = run(frame(msh_with(field, value)))
        assert (sniffed.rejection.err_code, sniffed.rejection.location) == (102, f"MSH^1^{field}")
        assert sniffed.header is None
        assert str(ack_of(sniffed).segment("MSA")[2]) == ""


def test_a_sender_decoded_to_control_characters_is_kept_inert():
    sniffed = run(frame(msh_with(4, "HO\\X00\\SP", msh_with(3, "LAB\\X1B\\[2J^1.2.3^ISO"))))
    assert sniffed.rejection is None
    assert sniffed.header.sender == "LAB\\x1b[2J^HO\\x00SP"


def test_binary_content_without_a_readable_msh_has_no_header():
    for raw in (b"\x00MSH|^~\\&|", b"FHS|\x00", frame().decode().encode("utf-16-le")):
        sniffed = run(raw)
        assert (sniffed.rejection.err_code, sniffed.header) == (102, None)
        assert "binary" in sniffed.rejection.text


def test_form_feeds_are_page_breaks_in_text():
    sniffed = run(frame(MSH, PID, OBX, "NTE|1||page 1\x0cpage 2", "\x0c", "NTE|2||end"))
    assert sniffed.rejection is None
    assert sniffed.message.value("NTE-3") == "page 1\x0cpage 2"
    assert [s.name for s in sniffed.message.segments] == ["MSH", "PID", "OBX", "NTE", "NTE"]


def test_utf16_is_binary_content_but_tab_is_text():
    assert rejected(frame().decode().encode("utf-16-le")).err_code == 102
    assert run(frame(MSH, PID, "NTE|1||a\tb")).rejection is None


@pytest.mark.parametrize("start", [b"FHS|^~\\&|LAB\rBHS|^~\\&\r", b"\r\nBHS|^~\\&|LAB\r"])
def test_batches_are_refused_for_now(start):
    r = rejected(start + frame())
    assert (r.ack_code, r.err_code) == ("AR", 200)


@pytest.mark.parametrize("raw", [b"PID|1||x\r", b"junk\r" + frame(), b"[SOM]" + frame(), b" MSX|"])
def test_no_msh(raw):
    assert rejected(raw) == Rejection("AR", 100, "", "no MSH segment")


def test_bom_and_blank_lines_before_msh_are_tolerated():
    assert run(b"\xef\xbb\xbf\r\n \r\n" + frame()).rejection is None


@pytest.mark.parametrize("eol", ["\n", "\r\n"])
def test_lf_and_crlf_segment_ends_are_tolerated(eol):
    sniffed = run(frame().replace(b"\r", eol.encode()))
    assert sniffed.rejection is None
    assert sniffed.message.value("PID-5.1") == "Muller"


@pytest.mark.parametrize("msh, field", [
    ("MSHA^~\\&A", "1"), ("MSH", "1"),
    ("MSH|^~}|LAB|HOSP|||20240101||ORU^R01|CTRL-1|P|2.5", "2"),
    ("MSH|&&&&|LAB|HOSP|||20240101||ORU^R01|CTRL-1|P|2.5", "2"),
    ("MSH||LAB|HOSP|||20240101||ORU^R01|CTRL-1|P|2.5", "2"),
    ("MSH|^~\\\\&|LAB|HOSP|||20240101||ORU^R01|CTRL-1|P|2.5", "2"),
])
def test_malformed_delimiters(msh, field):
    sniffed = run(frame(msh))
    assert sniffed.rejection.ack_code == "AR" and sniffed.rejection.err_code == 102
    assert sniffed.rejection.location == f"MSH^1^{field}"
    if field == "2":  # MSH-1 is usable: the ACK can still echo MSH-10 and the applications
        assert (sniffed.header.control_id, sniffed.header.sending_app) == ("CTRL-1", "LAB")
        assert sniffed.header.encoding_chars == "^~\\&"


def test_truncation_character_is_accepted_and_kept():
    sniffed = run(frame(MSH.replace("^~\\&", "^~\\&#")))
    assert sniffed.rejection is None
    assert sniffed.header.encoding_chars == "^~\\&#"


def test_non_default_delimiters():
    msh = MSH.replace("^~\\&", "^~\\}")
    pid = f"PID|1||{MATRICULE}^^^CNS}}LU^NN||Muller^Jean"
    sniffed = run(frame(msh, pid))
    assert sniffed.rejection is None
    assert sniffed.header.encoding_chars == "^~\\}"
    assert sniffed.message.value("PID-3.4.2") == "LU"

    odd = "MSH#!@%*#SEND!X#FAC#RECV#FAC#20240101##ADT!A01#C7#P#2.5"
    sniffed = run(frame(odd, f"PID#1##{MATRICULE}!!!!NN"))
    assert sniffed.rejection is None
    assert (sniffed.header.sender, sniffed.header.type) == ("SEND^FAC", "ADT^A01")


def test_latin1_declared_in_msh18():
    raw = frame(msh_with(18, "8859/1"), PID.replace("Muller", "Müller")).decode().encode("latin-1")
    sniffed = run(raw)
    assert sniffed.rejection is None
    assert sniffed.header.codec == "latin-1"
    assert sniffed.message.value("PID-5.1") == "Müller"


def test_utf8_with_empty_msh18_uses_the_fallback():
    sniffed = run(frame(MSH, PID.replace("Muller", "Müller")))
    assert sniffed.rejection is None and sniffed.header.codec == "utf-8"


def test_latin1_bytes_without_msh18_are_refused_but_the_header_is_kept():
    raw = frame(msh_with(5, "BLÖH"), PID.replace("Muller", "Müller")).decode().encode("latin-1")
    sniffed = run(raw)
    assert (sniffed.rejection.err_code, sniffed.rejection.location) == (102, "MSH^1^18")
    assert sniffed.header.control_id == "CTRL-1"
    assert sniffed.header.receiving_app.encode(sniffed.header.codec) == "BLÖH".encode("latin-1")
    assert run(raw, fallback_charset="latin-1").rejection is None


@pytest.mark.parametrize("msh18", ["KLINGON", "UNICODE UTF-8"])
def test_charset_problems_name_msh18(msh18):
    raw = frame(msh_with(18, msh18)).replace(b"Muller", b"Mu\xffller")
    r = rejected(raw)
    assert (r.ack_code, r.err_code, r.location) == ("AR", 102, "MSH^1^18")
    assert "Mu" not in r.text


@pytest.mark.parametrize("field, value, code, location", [
    (9, "", 101, "MSH^1^9"), (9, "ORU", 101, "MSH^1^9"), (9, "^R01", 101, "MSH^1^9"),
    (10, "", 101, "MSH^1^10"), (10, "  ", 101, "MSH^1^10"),
    (11, "", 101, "MSH^1^11"), (11, "N", 202, "MSH^1^11"), (11, "BAR^A01", 202, "MSH^1^11"),
    (12, "", 101, "MSH^1^12"), (12, "2.9", 203, "MSH^1^12"), (12, "1.0", 203, "MSH^1^12"),
])
def test_required_header_fields(field, value, code, location):
    r = rejected(frame(msh_with(field, value)))
    assert (r.ack_code, r.err_code, r.location) == ("AR", code, location)
    assert f"MSH-{field}" in r.text


@pytest.mark.parametrize("field, value", [(11, "P^T"), (11, "T"), (11, "D"), (12, "2.5^LUX&LU&ISO3166")])
def test_header_values_that_are_fine(field, value):
    assert run(frame(msh_with(field, value))).rejection is None


def test_header_checks_run_in_order():
    no_id_no_version = msh_with(10, "", msh_with(12, ""))
    assert rejected(frame(no_id_no_version)).location == "MSH^1^10"
    assert rejected(frame(msh_with(9, ""), "PID|1")).location == "MSH^1^9"
    assert rejected(b"FHS|\x00").err_code == 102


def test_several_messages_in_one_frame():
    r = rejected(frame() + frame(msh_with(10, "CTRL-2")))
    assert (r.ack_code, r.err_code) == ("AR", 100)
    assert r.text == "2 messages in one frame; send one message per frame"


def test_unescaped_line_break_inside_a_field():
    sniffed = run(frame(MSH, PID, OBX, "NTE|1||first line", "second line", "NTE|2||ok"))
    assert (sniffed.rejection.err_code, sniffed.rejection.location) == (100, "NTE^1")
    assert "line 5" in sniffed.rejection.text and "second" not in sniffed.rejection.text
    assert sniffed.header.control_id == "CTRL-1"


def test_no_pid_or_no_nn_identifier_is_ae_101():
    for segments in [(OBX,), ("PID|1||12345^^^HOSP^MR||Muller",)]:
        r = rejected(frame(MSH, *segments))
        assert r == Rejection("AE", 101, "PID^1^3", "no matricule in PID-3 (identifier type NN)")


def test_bad_check_digits_are_ae_102_without_the_value():
    r = rejected(frame(MSH, PID.replace(MATRICULE, "1893120105733")))
    assert (r.ack_code, r.err_code, r.location) == ("AE", 102, "PID^1^3")
    assert "check digit" in r.text and "1893120105733" not in r.text


def test_configured_authority_and_exempt_types():
    pid = f"PID|1||{MATRICULE}^^^CNS-LU||Muller"
    assert rejected(frame(MSH, pid)).err_code == 101
    assert run(frame(MSH, pid), authorities=frozenset({"CNS-LU"})).rejection is None
    ack = msh_with(9, "ACK^R01^ACK")
    assert run(frame(ack, "MSA|AA|X")).rejection is None
    assert run(frame(msh_with(9, "MFN^M02")), identity_exempt=frozenset({"MFN"})).rejection is None


def test_unexpected_failure_is_ar_207_with_the_header(monkeypatch):
    def boom(*args, **kwargs):
        raise KeyError("surprise")

    monkeypatch.setattr(sniff_module, "identify", boom)
    sniffed = run(frame())
    assert sniffed.rejection == Rejection("AR", 207, "", "could not read the message")
    assert sniffed.header.control_id == "CTRL-1"


HL7ISH = st.lists(st.sampled_from(
    [b"MSH", b"|", b"^~\\&", b"\r", b"\n", b"PID", b"^", b"&", b"~", b"\\", b"NN", b"2.5", b"P",
     b"\x00", b"\xc3", b"\xff", b"FHS", b"ORU", b"R01", b" ", b"\xef\xbb\xbf", MATRICULE.encode()]),
    max_size=40).map(b"".join)


@settings(max_examples=400)
@given(st.one_of(st.binary(max_size=300), HL7ISH, st.builds(
    lambda cut, junk: frame()[:cut] + junk + frame()[cut:],
    st.integers(0, 120), st.binary(max_size=5))))
def test_sniff_never_raises(raw):
    sniffed = run(raw)
    if sniffed.rejection is not None:
        assert sniffed.rejection.ack_code in ("AR", "AE")
        assert sniffed.rejection.err_code != 207, sniffed.rejection


def test_sniff_does_not_load_hl7apy():
    code = ("import sys; from hub.inbound.sniff import sniff; "
            "sniff(b'MSH|^~\\\\&|A|B|||1||ORU^R01|1|P|2.5\\rPID|1\\r', supported_versions="
            "frozenset({'2.5'}), identity_exempt=frozenset(), authorities=frozenset()); "
            "assert 'hl7apy' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def _corpus() -> Path:
    return Path(os.environ.get("HUB_CORPUS") or Path(__file__).parents[2] / "../shared/corpus")


CORPUS = _corpus()
CORPUS_FILES = sorted(CORPUS.glob("hl7v2/**/*.hl7")) if (CORPUS / "index.tsv").is_file() else []

def _msh_readable(text: str) -> bool:
    try:
        return text.startswith("MSH") and bool(Separators.from_header(text.split("\r")[0]))
    except HL7Error:
        return text.startswith("MSH|")


if CORPUS_FILES:  # without the corpus this test is not collected at all
    with open(CORPUS / "index.tsv", newline="", encoding="utf-8") as index:
        NOTES = {row["file"]: row["notes"] for row in csv.DictReader(index, delimiter="\t")}

    @pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: str(p.relative_to(CORPUS)))
    def test_real_senders_messages(path):
        raw = path.read_bytes()
        sniffed = run(raw, supported_versions=VERSIONS | {"2.1", "2.2", "2.6", "2.7", "2.8"})
        rejection, notes = sniffed.rejection, NOTES.get(str(path.relative_to(CORPUS)), "")
        assert rejection is None or rejection.err_code != 207, rejection
        if _msh_readable(raw.removeprefix(b"\xef\xbb\xbf").lstrip().decode("latin-1")):
            assert sniffed.header is not None
        if "MALFORMED" in notes:
            assert rejection is not None and rejection.ack_code in ("AR", "AE")
            # Empty lines are skipped by the reader, so that defect alone only fails identity.
            if "blank line" not in notes.split("MALFORMED: ", 1)[1].split(";")[0]:
                assert rejection.ack_code == "AR", rejection
        ack = build_ack(sniffed.header, rejection.ack_code if rejection else "AA", error=rejection,
                        control_id="ACK1", now=datetime(2024, 5, 1, 12, 0))
        parsed = hl7.parse(ack.decode(sniffed.header.codec if sniffed.header else "ascii"))
        assert str(parsed.segment("MSA")[2]) == (sniffed.header.control_id if sniffed.header else "")


SERVED = frozenset({"ORU^R01", "ADT^A01", "ADT^A04", "MFN^M02", "MDM_T02"})


@pytest.mark.parametrize("message_type, err, says", [
    ("SIU^S12^SIU_S12", 200, "unsupported message type: this hub handles no SIU messages"),
    ("ACK^R01^ACK", 200, "no mapping serves message code ACK"),
    ("QBP^Q22^QBP_Q21", 200, "handles no QBP messages"),
    ("ADT^A03^ADT_A03", 201, "unsupported event code: ADT event A03 (MSH-9.2) is not handled "
                             "by this hub (this hub takes ADT events A01, A04)"),
    ("MFN^M01^MFN_M01", 201, "MFN events M02"),
    ("MDM^T01^MDM_T01", 201, "unsupported event code: MDM event T01"),
])
def test_an_unserved_type_is_refused_with_200_or_201_at_msh_9(message_type, err, says):
    raw = frame(msh_with(9, message_type))
    rejection = rejected(raw, served_types=SERVED)
    assert (rejection.ack_code, rejection.err_code, rejection.location) == ("AR", err, "MSH^1^9")
    assert says in rejection.text
    assert run(raw).rejection is None           # no served_types: the worker parks it
    assert run(raw, served_types=SERVED).header.control_id == "CTRL-1"   # the ACK echoes MSH-10


@pytest.mark.parametrize("message_type", ["ORU^R01^ORU_R01", "ADT^A04^ADT_A01", "MFN^M02^MFN_M02",
                                          "MDM^T02^MDM_T02", "MDM^T99^MDM_T02"])
def test_a_served_type_or_structure_passes(message_type):
    assert run(frame(msh_with(9, message_type)), served_types=SERVED).rejection is None


def test_the_type_is_judged_before_the_identity_of_an_unserved_message():
    raw = frame(msh_with(9, "SIU^S12^SIU_S12"), "PID|1||12345^^^HOSP^MR||Muller^Jean")
    assert rejected(raw, served_types=SERVED).err_code == 200
    assert rejected(raw).err_code == 101


def test_msh_2_with_the_truncation_character_is_accepted():
    sniffed = run(frame(MSH.replace("^~\\&", "^~\\&#", 1)), served_types=SERVED)
    assert sniffed.rejection is None and sniffed.header.encoding_chars == "^~\\&#"
    assert sniffed.message.first("PID").value(5, 1) == "Muller"

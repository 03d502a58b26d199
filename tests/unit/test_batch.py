"""Checking a batch whole: nesting, counts, stray segments, optional trailers, header-less files;
and the problem texts name segments and lines, never a value. Both readers: a frame in memory,
and a spool file read from disk without being held whole."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from hub.inbound.batch import Batch, BatchProblem, is_batch, read_batch
from hub.inbound.batch_file import messages_of, read_batch_file
from tests.fixtures.messages import adt_a01, batch, encoded, oru_r01, patient

ONE = oru_r01(patient(1), "M-1", n_obx=2)
TWO = adt_a01(patient(2), "M-2")
THREE = oru_r01(patient(3), "M-3", n_obx=1)


@pytest.fixture(autouse=True, params=["memory", "file"])
def reader(request, tmp_path):
    """Every check twice: a frame read in memory, and a spool file read from disk in chunks of
    five bytes (so that lines, CRLFs and the BOM straddle chunk ends)."""
    global _read
    _read = read_batch if request.param == "memory" else lambda raw: _from_file(raw, tmp_path)


def _from_file(raw: bytes, tmp_path: Path) -> Batch | BatchProblem:
    path = tmp_path / "batch.hl7"
    path.write_bytes(raw)
    result = read_batch_file(path, chunk=5)
    if isinstance(result, BatchProblem):
        return result
    spans = [span for sub in result.batches for span in sub.spans]
    assert list(messages_of(path, result)) == [raw[start:end] for start, end in spans]
    return Batch(result.file_header, tuple(replace(sub, source=raw) for sub in result.batches))


def ok(text: str | bytes) -> Batch:
    result = _read(text.encode() if isinstance(text, str) else text)
    assert isinstance(result, Batch), result
    return result


def problem(text: str | bytes) -> BatchProblem:
    result = _read(text.encode() if isinstance(text, str) else text)
    assert isinstance(result, BatchProblem), result
    return result


def test_a_full_batch_gives_each_message_untouched_and_the_header_facts():
    checked = ok(batch(ONE, TWO, THREE))
    assert checked.messages == [encoded(ONE), encoded(TWO), encoded(THREE)]
    assert (checked.control_id, checked.sender) == ("B1", "CNS^CNS")
    assert checked.file_header.control_id == "F1"
    assert [len(b.messages) for b in checked.batches] == [3]


def test_trailers_may_be_absent():
    assert len(ok(batch(ONE, TWO, trailers=False)).messages) == 2
    assert len(ok(batch(ONE, file_id=None)).messages) == 1        # BHS..BTS only
    assert len(ok(batch(ONE, batch_id=None)).messages) == 1       # FHS, messages, FTS


def test_several_msh_without_any_header_are_one_batch_without_header():
    checked = ok(ONE + TWO)
    assert checked.file_header is None and checked.batches[0].header is None
    assert checked.messages == [encoded(ONE), encoded(TWO)]
    assert (checked.control_id, checked.sender) == ("", "")


def test_file_line_ends_are_kept_in_each_message_and_blank_lines_dropped():
    raw = batch(ONE, TWO).replace("\r", "\r\n").replace("BTS|", "\r\nBTS|").encode()
    checked = ok(raw)
    assert checked.messages == [encoded(ONE.replace("\r", "\r\n")), encoded(TWO.replace("\r", "\r\n"))]


def test_a_byte_order_mark_is_skipped_and_lf_ends_lines_too():
    raw = b"\xef\xbb\xbf" + batch(ONE, TWO).replace("\r", "\n").encode()
    checked = ok(raw)
    assert checked.messages == [encoded(ONE.replace("\r", "\n")), encoded(TWO.replace("\r", "\n"))]
    p = problem(b"\xef\xbb\xbf" + batch(ONE, bts=2).replace("\r", "\n").encode())
    assert (p.segment, p.line) == ("BTS", 3 + ONE.count("\r"))


def test_a_ctrl_z_that_dos_tools_append_is_blank():
    assert len(ok(batch(ONE, TWO) + "\x1a").messages) == 2
    assert len(ok(batch(ONE, TWO).removesuffix("\r") + "\x1a\r\n").messages) == 2


def test_a_batch_message_count_that_does_not_match():
    p = problem(batch(ONE, TWO, bts=3))
    assert (p.err_code, p.segment, p.line) == (100, "BTS", 3 + ONE.count("\r") + TWO.count("\r"))
    assert p.text.startswith(f"BTS-1 (batch message count) at line {p.line} says 3, the batch holds 2")


def test_a_file_batch_count_that_does_not_match_and_counts_that_are_no_number():
    assert problem(batch(ONE, fts=2)).text.endswith("says 2, the file holds 1")
    assert (problem(batch(ONE).replace("BTS|1", "BTS|one")).err_code,
            problem(batch(ONE).replace("FTS|1", "FTS|x")).err_code) == (102, 102)


def test_empty_counts_claim_nothing_and_several_batches_are_counted():
    two_batches = batch(ONE, file_id=None) + batch(TWO, THREE, file_id=None, batch_id="B2")
    raw = "FHS|^~\\&|CNS|CNS\r" + two_batches + "FTS|2\r"
    assert [len(b.messages) for b in ok(raw).batches] == [1, 2]
    assert ok(batch(ONE).replace("BTS|1", "BTS|")).messages == [encoded(ONE)]


def test_a_bhs_ends_the_batch_before_it_when_bts_is_left_out():
    raw = "FHS|^~\\&\rBHS|^~\\&|||||||||B1\r" + ONE + "BHS|^~\\&|||||||||B2\r" + TWO + "FTS|2\r"
    assert [b.header.control_id for b in ok(raw).batches] == ["B1", "B2"]


@pytest.mark.parametrize("raw, segment, line, words", [
    ("FHS|^~\\&\rBHS|^~\\&\rPID|1||x\r" + ONE, "PID", 3, "after BHS, outside any message"),
    ("FHS|^~\\&\rEVN|A01\r" + ONE, "EVN", 2, "after FHS, outside any message"),
    ("PID|1\r" + ONE + TWO, "PID", 1, "at the start, outside any message"),
    (batch(ONE, file_id=None) + "NTE|1\r", "NTE", 3 + ONE.count("\r"), "after BTS"),
    (batch(ONE, file_id=None) + TWO, "MSH", 3 + ONE.count("\r"), "needs a BHS first"),
    (batch(ONE) + "BHS|^~\\&\r", "BHS", 5 + ONE.count("\r"), "nothing may follow the file trailer"),
    (ONE + "FHS|^~\\&\r" + TWO, "FHS", 1 + ONE.count("\r"), "must be the first segment"),
    (ONE + TWO + "BTS|2\r", "BTS", 1 + ONE.count("\r") + TWO.count("\r"), "needs a BHS before it"),
    ("BHS|^~\\&\r" + ONE + "FTS|1\r", "FTS", 2 + ONE.count("\r"), "needs an FHS first"),
])
def test_order_and_stray_segments(raw, segment, line, words):
    p = problem(raw)
    assert (p.err_code, p.segment, p.line) == (100, segment, line)
    assert f"at line {line}" in p.text and words in p.text


def test_a_junk_line_is_not_quoted():
    name = patient(4).family_name
    p = problem(f"FHS|^~\\&\rBHS|^~\\&\r{name} was here\r" + ONE)
    assert p.text.startswith("a line without a segment ID at line 3") and name[:3] not in p.text
    assert p.segment == ""


def test_a_zero_message_batch_is_fine_but_nothing_at_all_is_not():
    assert ok(batch(bts=0)).messages == []
    assert problem(b"").text == "no segment at all"
    assert problem(b"\r\n  \r\n").err_code == 100


def test_a_bad_message_inside_is_left_to_the_per_message_check():
    # A line break inside a field is the message's problem (AR for that message), not the batch's.
    broken = ONE.replace("PV1|1|O", "PV1|1|O\rsecond line of a note")
    assert ok(batch(broken, TWO)).messages[0] == encoded(broken)


def test_is_batch():
    assert is_batch(encoded(batch(ONE))) and is_batch(b"\r\nBHS|^~\\&\r" + encoded(ONE))
    assert is_batch(encoded(ONE + TWO)) and is_batch(encoded(ONE.replace("\r", "\n") + TWO))
    assert not is_batch(encoded(ONE)) and not is_batch(b"") and not is_batch(b"garbage")

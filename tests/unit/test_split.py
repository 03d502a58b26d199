"""Cutting files into wire messages."""
from hub.hl7.split import split_messages


def test_line_ends_become_cr_and_each_msh_starts_a_message():
    raw = b"\xef\xbb\xbfMSH|^~\\&|A\r\nPID|1\n\nMSH|^~\\&|B\rPID|2\r\n"
    assert split_messages(raw) == ([b"MSH|^~\\&|A\rPID|1\r", b"MSH|^~\\&|B\rPID|2\r"], [])


def test_batch_envelopes_are_dropped_and_stray_lines_reported():
    raw = b"junk\rFHS|^~\\&\rBHS|^~\\&\rMSH|^~\\&|A\rPID|1\rBTS|1\rFTS|1\r"
    assert split_messages(raw) == ([b"MSH|^~\\&|A\rPID|1\r"], [b"junk"])


def test_a_file_without_msh_is_all_loose_lines():
    assert split_messages(b"hello\nworld") == ([], [b"hello", b"world"])
    assert split_messages(b"") == ([], [])

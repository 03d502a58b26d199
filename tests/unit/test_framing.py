"""MLLP framing, fed bytes directly (no sockets)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.errors import FramingError
from hub.mllp.framing import CARRIAGE_RETURN, END_BLOCK, START_BLOCK, FrameReader, Oversize, wrap

MSG = b"MSH|^~\\&|LAB|HOSP|DSP-HUB|DSP|20240101120000||ORU^R01|1|P|2.5\rPID|1\r"

payloads = st.binary(max_size=300).map(lambda b: b.replace(START_BLOCK, b"").replace(END_BLOCK, b""))
gaps = st.sampled_from([b"", b"\r", b"\n", b"\r\n", b"  \r\n"])


def feed_in_chunks(reader: FrameReader, stream: bytes, cuts: list[int]) -> list[bytes]:
    frames = []
    bounds = [0, *sorted(c % (len(stream) + 1) for c in cuts), len(stream)]
    for a, b in zip(bounds, bounds[1:]):
        frames += reader.feed(stream[a:b])
    return frames


def test_wrap_uses_the_mllp_blocks():
    assert wrap(b"abc") == b"\x0babc\x1c\x0d"
    assert (START_BLOCK, END_BLOCK, CARRIAGE_RETURN) == (b"\x0b", b"\x1c", b"\r")


def test_several_frames_in_one_chunk_come_out_in_order():
    reader = FrameReader(max_frame=1000)
    assert reader.feed(wrap(b"one") + wrap(b"two") + wrap(b"three")) == [b"one", b"two", b"three"]
    assert not reader.in_frame


def test_frame_split_across_chunks():
    reader = FrameReader(max_frame=1000)
    framed = wrap(MSG)
    assert reader.feed(framed[:10]) == []
    assert reader.in_frame
    assert reader.feed(framed[10:-1]) == [MSG]
    assert not reader.in_frame
    assert reader.feed(framed[-1:]) == []


def test_stray_bytes_between_frames_are_skipped():
    reader = FrameReader(max_frame=1000)
    assert reader.feed(b"\r\n" + wrap(b"a") + b"\n\r\n" + wrap(b"b") + b"\r") == [b"a", b"b"]
    assert not reader.in_frame


def test_end_block_without_cr_ends_the_frame_and_keeps_the_next_byte():
    reader = FrameReader(max_frame=1000)
    assert reader.feed(START_BLOCK + b"a" + END_BLOCK + START_BLOCK + b"b" + END_BLOCK) == [b"a", b"b"]
    assert reader.dropped == 0


def test_start_block_inside_a_frame_drops_the_partial_frame():
    reader = FrameReader(max_frame=1000)
    assert reader.feed(START_BLOCK + b"broken" + wrap(b"good")) == [b"good"]
    assert reader.dropped == 1
    assert reader.feed(START_BLOCK + b"half") == []
    assert reader.feed(wrap(b"next")) == [b"next"]
    assert reader.dropped == 2


def test_frame_at_the_cap_is_accepted_and_one_byte_more_is_not():
    assert FrameReader(max_frame=5).feed(wrap(b"12345")) == [b"12345"]
    with pytest.raises(FramingError):
        FrameReader(max_frame=5).feed(wrap(b"123456"))


def test_oversize_frame_without_end_raises_and_never_buffers_past_the_cap():
    reader = FrameReader(max_frame=100)
    reader.feed(START_BLOCK)
    with pytest.raises(FramingError):
        for _ in range(100):
            reader.feed(b"x" * 30)
            assert reader.buffered <= 100
    assert reader.buffered == 0
    with pytest.raises(FramingError):
        reader.feed(wrap(b"late"))


def test_frames_completed_before_an_overflow_are_returned_first():
    reader = FrameReader(max_frame=10)
    assert reader.feed(wrap(b"ok") + START_BLOCK + b"y" * 50) == [b"ok"]
    assert reader.in_frame
    with pytest.raises(FramingError):
        reader.feed(b"")


def test_bytes_outside_frames_do_not_count_against_the_cap():
    reader = FrameReader(max_frame=10)
    assert reader.feed(b"\n" * 1000 + wrap(b"ok")) == [b"ok"]


@settings(max_examples=300)
@given(st.lists(st.tuples(gaps, payloads), max_size=6), gaps, st.lists(st.integers(0, 10_000), max_size=12))
def test_any_chunking_yields_every_payload_in_order(items, tail, cuts):
    stream = b"".join(gap + wrap(p) for gap, p in items) + tail
    reader = FrameReader(max_frame=300)
    assert feed_in_chunks(reader, stream, cuts) == [p for _, p in items]
    assert not reader.in_frame
    assert reader.dropped == 0


@settings(max_examples=500)
@given(st.binary(max_size=400), st.lists(st.integers(0, 10_000), max_size=10))
def test_result_of_arbitrary_bytes_does_not_depend_on_chunking(raw, cuts):
    stream = raw.replace(b"\x00", START_BLOCK).replace(b"\x01", END_BLOCK)

    def run(chunk_cuts):
        reader = FrameReader(max_frame=50)
        bounds = [0, *sorted(c % (len(stream) + 1) for c in chunk_cuts), len(stream), len(stream)]
        frames, error = [], False
        try:
            for a, b in zip(bounds, bounds[1:]):
                frames += reader.feed(stream[a:b])
                assert reader.buffered <= 50
        except FramingError:
            error = True
        return frames, error, reader.dropped, reader.in_frame

    assert run(cuts) == run([])
    assert run(cuts) == run(range(len(stream)))


def test_with_keep_head_a_frame_past_the_cap_is_read_to_its_end_and_comes_out_as_oversize():
    reader = FrameReader(max_frame=100, keep_head=20)
    big = b"MSH|^~\\&|LAB|" + b"x" * 300
    frames = []
    for at in range(0, len(wrap(big)), 7):  # in small chunks: never more than the cap held
        frames += reader.feed(wrap(big)[at:at + 7])
        assert reader.buffered <= 100
    assert frames == [Oversize(big[:20], len(big))]
    assert reader.feed(wrap(b"next")) == [b"next"]


def test_with_keep_head_the_frames_around_an_oversize_one_come_out_in_order():
    reader = FrameReader(max_frame=10, keep_head=4)
    stream = wrap(b"one") + wrap(b"A" * 50) + wrap(b"two") + START_BLOCK + b"B" * 30
    assert reader.feed(stream) == [b"one", Oversize(b"AAAA", 50), b"two"]
    assert reader.in_frame  # the last one never ended: the listener's read timeout closes it
    assert reader.feed(START_BLOCK + b"three" + END_BLOCK) == [b"three"]
    assert reader.dropped == 1

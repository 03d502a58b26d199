"""hub send reads the hub's answer to a frame: one ACK, or the ACKs of a batch answer."""
from datetime import datetime, timezone

from hub.cli.answers import ack_summary, acks
from hub.inbound.batch import read_batch
from hub.inbound.batch_ack import batch_answer

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)


def _answer(request: bytes, answered: list[bytes]) -> bytes:
    return batch_answer(read_batch(request), answered, control_id="H1", now=NOW)


def test_an_empty_batch_answer_holds_no_ack_and_is_not_an_unreadable_one():
    # HL7 allows a batch with nothing to send; the hub accepts it and answers FHS/BHS/BTS/FTS.
    for request in (b"FHS|^~\\&|CNS|CNS\rFTS|0\r", b"BHS|^~\\&|CNS|CNS\rBTS|0\r"):
        assert acks(_answer(request, [])) == []


def test_a_batch_answer_gives_one_ack_per_message():
    ack = b"MSH|^~\\&|DSP-HUB|DSP|LAB|CHL|20261125||ACK|A1|P|2.5\rMSA|AA|M1\r"
    request = b"BHS|^~\\&|LAB|CHL\rMSH|^~\\&|LAB|CHL|||||ORU^R01|M1|P|2.5\rBTS|1\r"
    found = acks(_answer(request, [ack]))
    assert [ack_summary(a)[:2] for a in found] == [("AA", "M1")]


def test_a_single_ack_is_itself():
    ack = b"MSH|^~\\&|DSP-HUB|DSP|LAB|CHL|20261125||ACK|A1|P|2.5\rMSA|AR|M1\r"
    assert acks(ack) == [ack]

"""A batch in one MLLP frame, through the real intake on the in-memory broker: checked whole,
every message published like a single one, then one answer (a batch of ACKs, read here with
python-hl7's own batch parser); a bad batch is one AR and one rejected record."""
from __future__ import annotations

import asyncio

import hl7

from hub.broker import headers as h
from hub.broker.memory import MemoryBroker
from hub.inbound.intake import Intake
from hub.metrics import Metrics
from tests.fixtures.acks import read_ack
from tests.fixtures.loopback import POLICY, TOPOLOGY
from tests.fixtures.messages import adt_a01, batch, encoded, oru_r01, patient

ONE = oru_r01(patient(1), "M-1", n_obx=2)
TWO = adt_a01(patient(2), "M-2")
NO_MATRICULE = oru_r01(patient(3), "M-3", n_obx=1).replace("^^^CNS^NN~", "^^^CNS^XX~")


def handle(*frames: bytes, fail: bool = False) -> tuple[list[bytes], list]:
    """Each frame through one Intake; the answers and what the broker holds."""
    broker = MemoryBroker(TOPOLOGY, fail_publishes=fail)
    broker.declare_topology()

    async def run() -> list[bytes]:
        intake = Intake(await broker.open_publisher(), TOPOLOGY.inbound, POLICY, Metrics())
        return [await intake.handle(frame, "127.0.0.1:9") for frame in frames]

    answers = asyncio.run(run())
    consumer = broker.open_consumer(TOPOLOGY.inbound, prefetch=100)
    published = consumer.fetch(100, 0.05)
    consumer.close()
    return answers, published


def acks_of(answer: bytes):
    """The answer parsed by python-hl7: a File (FHS given) or a Batch of ACK messages."""
    return hl7.parse_hl7(answer.decode("utf-8"))


def test_a_good_batch_publishes_each_message_like_a_single_one_then_answers_a_batch_of_acks():
    [answer], published = handle(encoded(batch(ONE, TWO)))
    file = acks_of(answer)
    assert isinstance(file, hl7.File) and len(file) == 1
    assert str(file.header[12]) == "F1" and str(file.trailer[1]) == "1"   # FHS-12, FTS-1
    [acks] = file
    assert str(acks.header[12]) == "B1" and str(acks.trailer[1]) == "2"   # BHS-12, BTS-1
    assert [(str(m.segment("MSA")[1]), str(m.segment("MSA")[2])) for m in acks] == \
        [("AA", "M-1"), ("AA", "M-2")]
    assert [d.body for d in published] == [encoded(ONE), encoded(TWO)]

    [_], [single] = handle(encoded(ONE))
    facts = (h.SENDER, h.CONTROL_ID, h.TYPE, h.VERSION, h.VERDICT, h.PEER)
    assert {k: published[0].headers[k] for k in facts} == {k: single.headers[k] for k in facts}


def test_each_message_keeps_its_own_verdict_inside_a_good_batch():
    [answer], published = handle(encoded(batch(ONE, NO_MATRICULE, TWO)))
    [acks] = acks_of(answer)
    assert [read_ack(str(m)).code for m in acks] == ["AA", "AE", "AA"]
    refused = read_ack(str(acks[1]))
    assert (refused.control_id, refused.err_code, refused.err_location) == ("M-3", "101", "PID^1^3")
    assert [d.headers[h.VERDICT] for d in published] == [h.ACCEPTED, h.REJECTED, h.ACCEPTED]


def test_a_header_less_batch_is_answered_by_a_batch_without_file_header():
    [answer], published = handle(encoded(ONE + TWO))
    acks = acks_of(answer)
    assert isinstance(acks, hl7.Batch) and len(acks) == 2
    assert len(published) == 2


def test_a_bad_batch_is_one_ar_naming_the_problem_and_one_rejected_record():
    frame = encoded(batch(ONE, TWO, bts=3))
    [answer], published = handle(frame)
    ack = read_ack(answer)
    assert (ack.code, ack.control_id, ack.err_code, ack.err_location) == ("AR", "B1", "100", "BTS^^")
    assert "BTS-1 (batch message count)" in ack.text and "says 3, the batch holds 2" in ack.text
    assert answer.count(b"MSH") == 1 and b"FHS" not in answer
    [kept] = published
    assert kept.body == frame
    assert (kept.headers[h.VERDICT], kept.headers[h.TYPE], kept.headers[h.SENDER],
            kept.headers[h.CONTROL_ID]) == (h.REJECTED, "BATCH", "CNS^CNS", "B1")
    assert patient(1).family_name not in kept.headers[h.REASON]


def test_a_stray_segment_is_refused_before_anything_is_published():
    frame = encoded("FHS|^~\\&|CNS|CNS\rBHS|^~\\&|CNS|CNS\rPID|1\r" + ONE)
    [answer], published = handle(frame)
    ack = read_ack(answer)
    assert (ack.code, ack.err_code) == ("AR", "100") and "PID at line 3" in ack.text
    assert [d.headers[h.VERDICT] for d in published] == [h.REJECTED]


def test_unconfirmed_publishes_are_ae_207_for_each_message():
    [answer], published = handle(encoded(batch(ONE, TWO)), fail=True)
    [acks] = acks_of(answer)
    assert [(read_ack(str(m)).code, read_ack(str(m)).err_code) for m in acks] == [("AE", "207")] * 2
    assert published == []


def test_single_messages_are_unchanged():
    answers, published = handle(encoded(ONE), encoded(TWO))
    assert [read_ack(a).code for a in answers] == ["AA", "AA"] and len(published) == 2

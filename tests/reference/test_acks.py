"""Every ACK the hub builds (hub.inbound.ack, hub.inbound.batch_ack) against the references:
each validates with hl7apy as a v2.5 ACK under STRICT validation (structure, cardinality, field
lengths, tables of its datatypes) and parses with python-hl7, which reads back MSA-1, MSA-2 and
ERR-3. Codes AA/AE/AR in original mode and CA/CE/CR in enhanced mode, with and without ERR, for
varied headers (no trigger event, truncation character, charsets, long ids), the garbage-frame
ACK, and the ACKs inside batch answers.
"""
from __future__ import annotations

import itertools
from collections import Counter
from datetime import datetime, timedelta, timezone

import hl7
import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.exceptions import MaxLengthReached, ValidationError
from hl7apy.parser import parse_message

from hub.inbound.ack import build_ack
from hub.inbound.batch import read_batch
from hub.inbound.batch_ack import batch_answer, rejection_header
from hub.inbound.sniff import Rejection, header_of
from tests.fixtures.acks import read_ack, read_acks

NOW = datetime(2024, 3, 5, 14, 7, 9, tzinfo=timezone(timedelta(hours=1)))
ERRORS = {
    "AE 101": ("AE", 101, "PID^1^3", "no matricule in PID-3 (identifier type NN)"),
    "AE 102": ("AE", 102, "PID^1^3", "matricule fails its check digits"),
    "AR 100": ("AR", 100, "", "segment sequence: no MSH first"),
    "AR 200": ("AR", 200, "MSH^1^9", "unsupported message type"),
    "AR 203": ("AR", 203, "MSH^1^12", "unsupported version | ~ ^ & \\ in a text"),
    "AR 207": ("AR", 207, "", "application internal error, resend later"),
}
HEADERS = {
    "v2.5 with structure": "MSH|^~\\&|LAB^1.2.3^ISO|HOSP|HUB|DSP|20240101||ORU^R01^ORU_R01|C-9|P|2.5",
    "v2.5 no structure": "MSH|^~\\&|LAB|HOSP|HUB|DSP|20240101||ADT^A01|C-10|P|2.5",
    "v2.5 no event": "MSH|^~\\&|LAB|HOSP|HUB|DSP|20240101||ORU|C-11|P|2.5",
    "v2.5 truncation char": "MSH|^~\\&#|LAB|HOSP|HUB|DSP|20240101||ORU^R01^ORU_R01|C-12|T|2.5",
    "v2.5 utf-8": "MSH|^~\\&|LAB|HÔPITAL|HUB|DSP|20240101||ORU^R01|C-13|P|2.5||||||UNICODE UTF-8",
    "v2.5 latin-1": "MSH|^~\\&|LAB|HOSP|HUB|DSP|20240101||ORU^R01|C-14|P|2.5||||||8859/1",
    "v2.5 long ids": "MSH|^~\\&|" + "A" * 20 + "|" + "F" * 20 + "|||20240101||ORU^R01|"
                     + "9" * 20 + "|P|2.5",
    "v2.5.1": "MSH|^~\\&|LAB|HOSP|HUB|DSP|20240101||ORU^R01^ORU_R01|C-15|P|2.5.1",
    "v2.5 enhanced AL": "MSH|^~\\&|LAB|HOSP|HUB|DSP|20240101||ORU^R01^ORU_R01|C-16|P|2.5|||AL|NE",
    "v2.5 enhanced ER": "MSH|^~\\&|LAB|HOSP|HUB|DSP|20240101||ADT^A01|C-17|P|2.5|||ER|AL",
}


def _header(msh: str):
    codec = "utf-8" if "UTF-8" in msh else "latin-1"
    return header_of((msh + "\r").encode(codec)), codec


# Documented divergences: where an ACK is deliberately not what hl7apy's strict v2.5 wants.
DIVERGENCES = {
    "truncation character": "the ACK mirrors MSH-2 `^~\\&#` (DESIGN.md: senders read the answer "
                            "with their own delimiters); hl7apy 1.3.5 refuses a 5-character MSH-2, "
                            "so it validates the ACK with MSH-2 cut to its 4 standard characters",
    "sender's over-long ids": "MSH-5/6 echo the sender's MSH-3/4 as sent; one over HD.1's 20 "
                              "characters fails strict validation (MaxLengthReached) and cutting "
                              "it would address the ACK to another application",
    "unreadable frame": "a frame without a readable MSH has no MSH-10 to echo, so MSA-2 (required "
                        "in v2.5) is empty; inventing one would mislead the sender",
}


def strictly_valid(text: str, tally: Counter | None = None) -> bool:
    """hl7apy: parse as the v2.5 ACK it says it is under STRICT validation, then validate."""
    encoding = text[4:text.index(text[3], 4)]
    if len(encoding) == 5:
        text = text[:4] + encoding[:4] + text[9:]
        if tally is not None:
            tally["divergence: truncation character"] += 1
    message = parse_message(text, find_groups=True, validation_level=VALIDATION_LEVEL.STRICT)
    return message.validate()


def _check(text: str, code: str, control_id: str, err: int | None, tally: Counter) -> None:
    assert strictly_valid(text, tally), text.replace("\r", "\n")
    got = read_ack(text)
    assert (got.code, got.control_id) == (code, control_id)
    assert got.err_code == ("" if err is None else str(err))
    tally[f"ack {code}{' with ERR' if err else ''}"] += 1


def test_every_single_ack_is_a_strictly_valid_v2_5_ack(capsys):
    tally: Counter = Counter()
    for (label, msh), code, error in itertools.product(HEADERS.items(), ("AA", "AE", "AR"),
                                                       [None, *ERRORS]):
        if error is not None and ERRORS[error][0] != code:
            continue
        header, codec = _header(msh)
        rejection = None
        if error is not None:
            rejection = Rejection(*ERRORS[error])
        raw = build_ack(header, code, error=rejection, control_id="HUB-ACK-1", now=NOW)
        enhanced = "enhanced" in label
        expected = {"AA": "CA", "AE": "CE", "AR": "CR"}[code] if enhanced else code
        _check(raw.decode(codec), expected, header.control_id,
               ERRORS[error][1] if error else None, tally)
    with capsys.disabled():
        print(f"\nACKs validated strictly by hl7apy and read by python-hl7: {dict(tally)}")
    assert sum(n for kind, n in tally.items() if kind.startswith("ack")) >= 60
    assert {"ack CA", "ack CE with ERR", "ack CR with ERR", "ack AA", "ack AE with ERR",
            "ack AR with ERR"} <= set(tally)


def test_the_garbage_frame_ack_is_valid_but_for_its_empty_msa2():
    raw = build_ack(None, "AR", error=Rejection("AR", 100, "", "no MSH segment"),
                    control_id="HUB-ACK-2", now=NOW).decode("ascii")
    assert "unreadable frame" in DIVERGENCES
    with pytest.raises(ValidationError, match="MSA_2"):
        strictly_valid(raw)
    _check(raw.replace("MSA|AR|", "MSA|AR|X"), "AR", "X", 100, Counter())


def test_over_long_sender_ids_are_echoed_as_sent():
    assert "sender's over-long ids" in DIVERGENCES
    header, _ = _header("MSH|^~\\&|" + "A" * 21 + "|HOSP|||20240101||ORU^R01|C|P|2.5")
    raw = build_ack(header, "AA", control_id="HUB-ACK-3", now=NOW).decode("ascii")
    assert "|" + "A" * 21 + "|" in raw
    with pytest.raises(MaxLengthReached):
        strictly_valid(raw)


BATCH = ("FHS|^~\\&|LAB|HOSP|HUB|DSP|20240101||||F-1\r"
         "BHS|^~\\&|LAB|HOSP|HUB|DSP|20240101||||B-1\r"
         "MSH|^~\\&|LAB|HOSP|HUB|DSP|20240101||ADT^A01^ADT_A01|M-1|P|2.5\rPID|1\r"
         "MSH|^~\\&|LAB|HOSP|HUB|DSP|20240101||ADT^A01^ADT_A01|M-2|P|2.5\rPID|1\r"
         "BTS|2\rFTS|1\r")


@pytest.mark.parametrize("codes", [("AA", "AA"), ("AA", "AE")])
def test_batch_answers_hold_strictly_valid_acks_and_parse_as_a_batch(codes):
    batch = read_batch(BATCH.encode())
    acks = []
    for message, code in zip(batch.messages, codes):
        error = Rejection(*ERRORS["AE 101"]) if code == "AE" else None
        acks.append(build_ack(header_of(message), code, error=error, control_id="A", now=NOW))
    answer = batch_answer(batch, acks, control_id="HUB-B-1", now=NOW).decode("ascii")
    parsed = hl7.parse_hl7(answer)
    assert isinstance(parsed, hl7.File)
    assert str(parsed.header[12]) == "F-1" and str(parsed[0].header[12]) == "B-1"
    assert [(a.code, a.control_id) for a in read_acks(answer.encode())] == \
        [(codes[0], "M-1"), (codes[1], "M-2")]
    for message in parsed[0]:
        assert strictly_valid(str(message))


def test_a_refused_batch_gets_a_strictly_valid_ar():
    raw = BATCH.replace("BTS|2", "BTS|3").encode()
    problem = read_batch(raw)
    header = rejection_header(raw)
    ack = build_ack(header, "AR", error=Rejection("AR", problem.err_code, problem.location,
                                                  problem.text), control_id="A", now=NOW)
    _check(ack.decode("latin-1"), "AR", "B-1", problem.err_code, Counter())

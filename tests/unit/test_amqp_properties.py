"""The publisher's own properties encoding writes the bytes pika's would, and decodes back."""
import pika
import pytest
from pika import frame, spec

from hub.broker.amqp_properties import Properties

HEADERS = [
    {},
    {"x-hub-peer": "127.0.0.1:5555", "x-hub-received-at": "2026-12-07T17:00:00.123456+00:00",
     "x-hub-sender": "LAB^HOSP", "x-hub-control-id": "CID-1", "x-hub-type": "ORU^R01",
     "x-hub-version": "2.5", "x-hub-verdict": "accepted"},
    {"x-hub-reason": "caractère non ASCII: é ü ß 😀", "x-hub-err-code": "207", "x-hub-sender": ""},
    {"x-hub-reason": "long " * 400},  # a long string: 4-byte length, not a short one
]


@pytest.mark.parametrize("headers", HEADERS)
def test_same_bytes_as_pika(headers):
    ours = Properties("application/hl7-v2", 2, "0123456789abcdef0123456789abcdef", headers)
    theirs = pika.BasicProperties(content_type="application/hl7-v2", delivery_mode=2,
                                  message_id="0123456789abcdef0123456789abcdef", headers=headers)
    assert b"".join(ours.encode()) == b"".join(theirs.encode())
    assert frame.Header(1, 1406, ours).marshal() == frame.Header(1, 1406, theirs).marshal()


def test_decodes_back():
    headers = HEADERS[1]
    decoded = spec.BasicProperties()
    decoded.decode(b"".join(Properties("application/hl7-v2", 2, "id-1", headers).encode()))
    assert (decoded.content_type, decoded.delivery_mode, decoded.message_id, decoded.headers) == \
        ("application/hl7-v2", 2, "id-1", headers)


@pytest.mark.parametrize("headers", [{"x-count": 3, "x-hub-sender": "A^B"}, {"x-none": None}, None])
def test_other_values_are_left_to_pika(headers):
    ours = Properties("application/hl7-v2", 2, "id-1", headers)
    theirs = pika.BasicProperties(content_type="application/hl7-v2", delivery_mode=2,
                                  message_id="id-1", headers=headers)
    assert b"".join(ours.encode()) == b"".join(theirs.encode())


def test_a_header_name_past_255_bytes_is_refused_as_pika_refuses_it():
    with pytest.raises(pika.exceptions.ShortStringTooLong):
        Properties("application/hl7-v2", 2, "id-1", {"x" * 256: "v"}).encode()

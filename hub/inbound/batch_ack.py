"""The answer to a batch received over MLLP, in one frame.

HL7 v2.5 (section 2.10.3, acknowledging batches) leaves the form to the sites: no answer, a batch
of acknowledgements (one per message, or only the negative ones, the answering batch naming the
batch it answers in BHS-12 and the file in FHS-12), or an application-defined answer. The hub
answers a checked batch with **a batch of ACKs, one per message, in message order**:

    [FHS ... FHS-12 = their FHS-11]         only when the request had an FHS
    BHS ... BHS-12 = their BHS-11            one per batch of the request, even a header-less one
    MSH ... MSA|AA|<MSH-10 of message 1>     exactly the ACK that message would get on its own
    MSH ... MSA|AE|<MSH-10 of message 2>     (ERR with table 0357 when it is refused)
    BTS|<number of ACKs in this batch>
    [FTS|<number of batches>]

Why this form: each message of a batch has its own fate (one may lack a matricule, AE 101, while
the others are stored; a broker confirm may be missing for one, AE 207, resend it) and a single
ACK cannot say which; with one ACK per message whose MSA-2 echoes its MSH-10 the sender learns
it with the code it already has for single messages. Every answer is a well-formed HL7 batch,
so python-hl7 reads it with `hl7.parse_hl7` (a `File` or `Batch` of ACK messages) or
`hl7.parse_batch`, and its `MLLPClient.send_message` gets it whole in one frame.

A batch that fails the whole-batch check (`batch.read_batch`) gets instead **one ACK, code AR**,
with ERR naming the first problem (table 0357: 100 for order and counts, 102 for a count that is
no number) and MSA-2 echoing the batch's control id (BHS-11, else FHS-11; for a header-less batch
the first MSH-10), addressed to the batch's sender (BHS/FHS-3/4, else the first MSH-3/4).

Counting (`hub status`, `received` = every message that got an ACK): a good batch is received as
its messages, each ending in its own state; a refused batch is one rejected record holding the
whole frame (type BATCH), as any refused frame is. A batch is always answered, whatever MSH-15
of its messages says (`honour_accept_ack_conditions` is about single messages).
"""
from __future__ import annotations

import re
from datetime import datetime

from hub.hl7.constants import BATCH_HEADERS, BOM, LINE_END
from hub.hl7.message import Separators
from hub.inbound.batch import Batch, Envelope, read_envelope
from hub.inbound.sniff import Header, header_of

_FIRST_MSH = re.compile(rb"(?:^|[\r\n])[ \t]*(MSH[^\r\n]*)")
_DEFAULT_VERSION = "2.5"


def rejection_header(raw: bytes) -> Header | None:
    """The header a refused batch's ACK answers: its BHS (else FHS) with the first MSH's version
    and processing id, or the first MSH of a header-less batch, or None."""
    first = _FIRST_MSH.search(raw)
    msh = header_of(first.group(1)) if first else None
    envelope = _leading_envelope(raw)
    if envelope is None:
        return msh
    seps = envelope.separators
    encoding = seps.component + seps.repetition + seps.escape + seps.subcomponent
    return Header(
        field_sep=seps.field, encoding_chars=encoding + (seps.truncation or ""),
        sending_app=envelope.sending_app, sending_facility=envelope.sending_facility,
        receiving_app=envelope.receiving_app, receiving_facility=envelope.receiving_facility,
        message_code="", trigger_event="", structure="", control_id=envelope.control_id,
        processing_id=msh.processing_id if msh else "P",
        version=(msh.version if msh else "") or _DEFAULT_VERSION,
        accept_ack_type="", app_ack_type="", charset="", codec="latin-1",
    )


def batch_answer(
    batch: Batch, acks: list[bytes], *, control_id: str, now: datetime,
    hub_app: str = "DSP-HUB", hub_facility: str = "DSP",
) -> bytes:
    """The batch of ACKs answering `batch`; `acks` holds one ACK per message, in message order."""
    timestamp = now.strftime("%Y%m%d%H%M%S") + (now.strftime("%z") if now.tzinfo else "")
    theirs = batch.file_header or batch.envelope
    seps = theirs.separators if theirs is not None else Separators()
    out: list[bytes] = []
    if batch.file_header is not None:
        out.append(_line(_header_fields("FHS", batch.file_header, seps, timestamp, control_id,
                                        hub_app, hub_facility), seps))
    at = 0
    for number, sub in enumerate(batch.batches, 1):
        out.append(_line(_header_fields("BHS", sub.header, seps, timestamp,
                                        f"{control_id}-{number}"[:20], hub_app, hub_facility), seps))
        out.extend(acks[at:at + sub.count])
        out.append(_line(["BTS", str(sub.count)], seps))
        at += sub.count
    if batch.file_header is not None:
        out.append(_line(["FTS", str(len(batch.batches))], seps))
    return b"".join(out)


def _header_fields(
    name: str, theirs: Envelope | None, seps: Separators, timestamp: str, control_id: str,
    hub_app: str, hub_facility: str,
) -> list[str]:
    encoding = seps.component + seps.repetition + seps.escape + seps.subcomponent
    encoding += seps.truncation or ""
    if theirs is None:
        return [name, encoding, hub_app, hub_facility, "", "", timestamp,
                "", "", "", control_id]
    return [name, encoding, theirs.receiving_app or hub_app, theirs.receiving_facility or hub_facility,
            theirs.sending_app, theirs.sending_facility, timestamp, "", "", "", control_id,
            theirs.control_id]


def _line(fields: list[str], seps: Separators) -> bytes:
    end = len(fields)
    while end > 2 and not fields[end - 1]:
        end -= 1
    return (seps.field.join(fields[:end]) + "\r").encode("latin-1")


def _leading_envelope(raw: bytes) -> Envelope | None:
    """The BHS (else the FHS) of a batch that could not be read whole, from its first lines."""
    lines = [line for line in LINE_END.split(raw.removeprefix(BOM)[:4096]) if line.strip()][:2]
    if not lines or not lines[0].lstrip().startswith(BATCH_HEADERS):
        return None
    found = [read_envelope(line) for line in lines if line.lstrip().startswith(BATCH_HEADERS)]
    bhs = [e for e in found if e.segment == "BHS" and e.control_id]
    return bhs[0] if bhs else (found[0] if found else None)

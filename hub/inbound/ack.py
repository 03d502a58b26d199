"""ACK building: the answer to one frame, as bytes in the message's own delimiters and charset.

The ACK mirrors the message's MSH so that the sender can read it with the settings it already
has: same field separator and encoding characters (a 5th truncation character included), the
applications swapped, MSH-11/12/18 echoed, MSA-2 = the message's MSH-10.
"""
from __future__ import annotations

from datetime import datetime

from hub.hl7.charset import encode
from hub.hl7.escape import escape
from hub.hl7.message import Separators
from hub.inbound.sniff import Header, Rejection

_ENHANCED = {"AA": "CA", "AE": "CE", "AR": "CR"}
_SUCCESS = frozenset({"AA", "CA"})
# HL7 table 0357, message error condition codes (the ones the hub uses and their neighbours).
_TABLE_0357 = {
    0: "Message accepted",
    100: "Segment sequence error",
    101: "Required field missing",
    102: "Data type error",
    103: "Table value not found",
    200: "Unsupported message type",
    201: "Unsupported event code",
    202: "Unsupported processing id",
    203: "Unsupported version id",
    204: "Unknown key identifier",
    205: "Duplicate key identifier",
    206: "Application record locked",
    207: "Application internal error",
}
_DEFAULT_VERSION = "2.5"


def wants_ack(header: Header | None, code: str) -> bool:
    """Whether MSH-15 (accept acknowledgment type) asks for an ACK with this code.

    AL: always; NE: never; ER: only on error; SU: only on success. Empty (original mode) or an
    unknown value: always. Without a header the sender's wishes are unknown: always.
    """
    mode = header.accept_ack_type if header is not None else ""
    if mode == "NE":
        return False
    if mode == "ER":
        return code not in _SUCCESS
    if mode == "SU":
        return code in _SUCCESS
    return True


def build_ack(
    header: Header | None,
    code: str,
    *,
    error: Rejection | None = None,
    control_id: str,
    now: datetime,
    hub_app: str = "DSP-HUB",
    hub_facility: str = "DSP",
) -> bytes:
    """Build the ACK payload (unframed) for a message, encoded in the message's charset.

    `code` is AA, AE or AR; it becomes CA, CE or CR when the message asked for enhanced mode
    (MSH-15 or MSH-16 not empty). `error` adds an ERR segment (table 0357) and the MSA-3 text.
    Without a header (garbage frame) the ACK uses standard delimiters and version 2.5.
    """
    if header is None:
        seps, version, codec = Separators(), _DEFAULT_VERSION, "ascii"
    else:
        seps, version, codec = header.separators, header.version or _DEFAULT_VERSION, header.codec
        if header.accept_ack_type or header.app_ack_type:
            code = _ENHANCED.get(code, code)
    msh = _msh(header, seps, version, control_id, now, hub_app, hub_facility)
    text = escape(error.text, seps) if error is not None else ""
    msa = ["MSA", code, header.control_id if header is not None else "", text]
    segments = [msh, _join(msa, seps)]
    if error is not None:
        segments.append(_err(error, seps, version))
    return encode("\r".join(segments) + "\r", codec)


def _msh(
    header: Header | None, seps: Separators, version: str, control_id: str, now: datetime,
    hub_app: str, hub_facility: str,
) -> str:
    ours = escape(hub_app, seps), escape(hub_facility, seps)
    encoding = seps.component + seps.repetition + seps.escape + seps.subcomponent
    encoding += seps.truncation or ""
    timestamp = now.strftime("%Y%m%d%H%M%S%z")  # %z is "" for a naive time
    # MSH-9.3 (message structure) exists from v2.3.1, where it is required (ACK whatever the
    # event, even an unknown one: ACK^^ACK); strict v2.3 readers reject it.
    event = header.trigger_event if header is not None else ""
    if _version_tuple(version) >= (2, 3, 1):
        message_type = seps.component.join(("ACK", event, "ACK"))
    else:
        message_type = seps.component.join(("ACK", event)) if event else "ACK"
    if header is None:
        fields = ["MSH", encoding, *ours, "", "", timestamp, "", message_type,
                  escape(control_id, seps), "P", version]
        return _join(fields, seps)
    fields = [
        "MSH", encoding,
        header.receiving_app or ours[0], header.receiving_facility or ours[1],
        header.sending_app, header.sending_facility,
        timestamp, "", message_type, escape(control_id, seps),
        header.processing_id or "P", version,
        "", "", "", "", "", header.charset,
    ]
    return _join(fields, seps)


def _err(error: Rejection, seps: Separators, version: str) -> str:
    location = [escape(part, seps) for part in error.location.split("^")] if error.location else []
    location += [""] * (3 - len(location))
    meaning = escape(_TABLE_0357.get(error.err_code, ""), seps)
    if _version_tuple(version) >= (2, 5):
        condition = seps.component.join((str(error.err_code), meaning, "HL70357"))
        where = seps.component.join(location) if error.location else ""
        fields = ["ERR", "", where, condition, "E",
                  "", "", "", escape(error.text, seps)]
        return _join(fields, seps)
    condition = seps.subcomponent.join((str(error.err_code), meaning, "HL70357"))
    return _join(["ERR", seps.component.join([*location[:3], condition])], seps)


def _join(fields: list[str], seps: Separators) -> str:
    end = len(fields)
    while end > 2 and not fields[end - 1]:
        end -= 1
    return seps.field.join(fields[:end])


def _version_tuple(version: str) -> tuple[int, ...]:
    numbers = []
    for part in version.split("."):
        if not part.isdigit():
            break
        numbers.append(int(part))
    return tuple(numbers) or (2, 5)

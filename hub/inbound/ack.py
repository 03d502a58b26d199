"""ACK building: the answer to one frame, as bytes in the message's own delimiters and charset.

The ACK mirrors the message's MSH so that the sender can read it with the settings it already
has: same field separator and encoding characters (a 5th truncation character included), the
applications swapped, MSH-11/12/18 echoed, MSA-2 = the message's MSH-10.
"""
from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache

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
    timestamp = _timestamp(now)
    if header is None:
        ours = escape(hub_app, seps), escape(hub_facility, seps)
        fields = ["MSH", _encoding(seps), *ours, "", "", timestamp, "",
                  _message_type(seps, version, ""), escape(control_id, seps), "P", version]
        return _join(fields, seps)
    before, between, after = _msh_around(
        header.field_sep, header.encoding_chars, header.receiving_app, header.receiving_facility,
        header.sending_app, header.sending_facility, header.trigger_event, header.processing_id,
        version, header.charset, hub_app, hub_facility)
    return before + timestamp + between + escape(control_id, seps) + after


@lru_cache(maxsize=256)
def _msh_around(
    field_sep: str, encoding_chars: str, receiving_app: str, receiving_facility: str,
    sending_app: str, sending_facility: str, event: str, processing_id: str, version: str,
    charset: str, hub_app: str, hub_facility: str,
) -> tuple[str, str, str]:
    """An answer's MSH around its MSH-7 (timestamp) and MSH-10 (control id), the two fields
    that differ from one ACK to the next: remembered, as a hub answers few kinds of header
    (these fields name systems, never patients). MSH-11 and -12 are never empty, so the
    trailing empty fields trimmed are all after them."""
    seps = Separators(field_sep, *encoding_chars[:4],
                      encoding_chars[4] if len(encoding_chars) == 5 else None)
    ours = escape(hub_app, seps), escape(hub_facility, seps)
    fields = ["MSH", _encoding(seps), receiving_app or ours[0], receiving_facility or ours[1],
              sending_app, sending_facility]
    after = [processing_id or "P", version, "", "", "", "", "", charset]
    while not after[-1]:
        after.pop()
    sep = seps.field
    return (sep.join(fields) + sep, sep + sep + _message_type(seps, version, event) + sep,
            sep + sep.join(after))


def _timestamp(now: datetime) -> str:
    """MSH-7: `now.strftime("%Y%m%d%H%M%S%z")` (%z is "" for a naive time), which costs half
    of an ACK; written out for UTC, the time every answer is stamped with. (strftime's %Y does
    not pad a year before 1000: such a year, like any other zone, is left to strftime.)"""
    if now.year < 1000 or now.tzinfo is not timezone.utc:
        return now.strftime("%Y%m%d%H%M%S%z")
    return "%04d%02d%02d%02d%02d%02d+0000" % (
        now.year, now.month, now.day, now.hour, now.minute, now.second)


def _encoding(seps: Separators) -> str:
    encoding = seps.component + seps.repetition + seps.escape + seps.subcomponent
    return encoding + (seps.truncation or "")


def _message_type(seps: Separators, version: str, event: str) -> str:
    # MSH-9.3 (message structure) exists from v2.3.1, where it is required (ACK whatever the
    # event, even an unknown one: ACK^^ACK); strict v2.3 readers reject it.
    if _version_tuple(version) >= (2, 3, 1):
        return seps.component.join(("ACK", event, "ACK"))
    return seps.component.join(("ACK", event)) if event else "ACK"


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

"""The header sniff: the few checks made on a frame before it is published, without hl7apy.

It reads MSH (and PID-3 for the identity check) with the split-based reader, so it costs tens of
microseconds, never raises, and returns a `Header` whenever MSH could be read so that even a
rejection's ACK can echo MSH-10 and mirror the sender's delimiters. Rejection texts are written
for an interface analyst and name fields, never values.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from hub.domain.identity import identify
from hub.errors import HL7Error
from hub.hl7.charset import decode_declared
from hub.hl7.constants import BATCH_HEADERS, without_bom
from hub.hl7.escape import unescape
from hub.hl7.header import DEFAULT_ENCODING, split_fields
from hub.hl7.message import Message, Separators
from hub.text import inert

# Control bytes HL7 text may not carry raw (v2.5 section 2.7: a non-printable character travels
# as a \Xhh\ escape). TAB, LF and CR belong in text, and so does FF: real reports carry page
# breaks in their text fields.
_BINARY = bytes([*range(0x00, 0x09), 0x0B, *range(0x0E, 0x20), 0x7F])
_PROCESSING_IDS = frozenset({"P", "T", "D"})
# A segment ID: three ASCII capitals or digits, a capital first.
_SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{2}")
# Every segment's ID at once, the names joined by CR: one match a frame, not one a segment.
_SEGMENT_IDS = re.compile(r"[A-Z][A-Z0-9]{2}(?:\r[A-Z][A-Z0-9]{2})*")


@dataclass(frozen=True, slots=True)
class Header:
    """MSH as received. Fields mirrored into the ACK keep their raw text (escapes undecoded)."""

    field_sep: str
    encoding_chars: str
    sending_app: str
    sending_facility: str
    receiving_app: str
    receiving_facility: str
    message_code: str
    trigger_event: str
    structure: str
    control_id: str
    processing_id: str
    version: str
    accept_ack_type: str
    app_ack_type: str
    charset: str
    codec: str

    @property
    def separators(self) -> Separators:
        """The delimiters an answer to this message must use."""
        return _separators(self.field_sep, self.encoding_chars)

    @property
    def sender(self) -> str:
        """"APP^FACILITY" from MSH-3.1 and MSH-4.1 (HD universal id when the namespace is empty).

        A key kept in clear and listed everywhere: a control character decoded from a \\Xhh\\
        escape is written as hub.text.inert writes it (losslessly), never kept raw."""
        return _sender(self.sending_app, self.sending_facility, self.field_sep,
                       self.encoding_chars)

    @property
    def type(self) -> str:
        """"CODE^EVENT" (just "CODE" when MSH-9.2 is empty)."""
        return f"{self.message_code}^{self.trigger_event}" if self.trigger_event else self.message_code


@lru_cache(maxsize=64)  # read by the checks and the ACK of every message; few sets exist
def _separators(field_sep: str, encoding_chars: str) -> Separators:
    enc = encoding_chars
    return Separators(field_sep, *enc[:4], enc[4] if len(enc) == 5 else None)


@lru_cache(maxsize=1024)
def _sender(app: str, facility: str, field_sep: str, encoding_chars: str) -> str:
    """`Header.sender`, remembered: the listener reads it three times a message (headers,
    senders file, metrics) and a hub hears few senders. MSH-3/4 name systems, not patients."""
    seps = _separators(field_sep, encoding_chars)
    return inert(f"{_hd_name(app, seps)}^{_hd_name(facility, seps)}")


def _hd_name(raw: str, seps: Separators) -> str:
    parts = raw.split(seps.repetition, 1)[0].split(seps.component)
    name = parts[0] or (parts[1] if len(parts) > 1 else "")
    return unescape(name, seps)


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a frame is refused: the ACK code, ERR-3 (table 0357), ERR-2 location, and a reason."""

    ack_code: str       # "AR" or "AE", in original-mode terms
    err_code: int       # HL7 table 0357
    location: str       # "SEG^seq^field" with "^" whatever the message's delimiters; may be ""
    text: str           # actionable, never patient data


@dataclass(frozen=True, slots=True)
class Sniffed:
    """The outcome: `rejection` None means the frame may be published and acknowledged."""

    header: Header | None
    message: Message | None
    rejection: Rejection | None
    # The normalised matricule of PID-3 when the message passed the identity check; only for
    # choosing the inbound partition (hub/broker/partitions.py), never published or logged.
    matricule: str | None = field(default=None, repr=False)


def sniff(
    raw: bytes,
    *,
    fallback_charset: str = "utf-8",
    supported_versions: frozenset[str],
    identity_exempt: frozenset[str],
    authorities: frozenset[str],
    served_types: frozenset[str] | None = None,
) -> Sniffed:
    """Check one frame's payload; never raises (an unexpected failure is AR 207).

    `served_types` ("ADT^A01", or a structure "ORU_R01"): the types the hub handles, when an
    unmapped type is to be refused here (AR 200 or 201, worker.unmapped_policy "reject");
    None lets every type through to be parked by the worker ("park").
    """
    try:
        return _sniff(raw, fallback_charset, supported_versions, identity_exempt, authorities,
                      served_types)
    except Exception:  # noqa: BLE001 - Guarantee 7: a frame can never crash the listener
        try:
            header = _header_from_bytes(raw)
        except Exception:  # noqa: BLE001
            header = None
        return Sniffed(header, None, Rejection("AR", 207, "", "could not read the message"))


def _sniff(
    raw: bytes, fallback: str, versions: frozenset[str], exempt: frozenset[str],
    authorities: frozenset[str], served: frozenset[str] | None = None,
) -> Sniffed:
    body = _strip(raw)
    if not body:
        return _reject(None, 100, "", "empty message")
    if len(body.translate(None, _BINARY)) != len(body):
        return _control_rejection(body)
    if body.startswith(BATCH_HEADERS):
        return _reject(None, 200, "", "batch files are not accepted over MLLP yet")
    if not body.startswith(b"MSH"):
        return _reject(None, 100, "", "no MSH segment")
    latin_line = _first_line(body).decode("latin-1")
    try:
        seps = Separators.from_header(latin_line)
    except HL7Error as error:
        # Read what we can with standard delimiters so that the ACK still echoes MSH-10.
        loose = _loose_separators(latin_line)
        header = _read_header(latin_line, loose, "latin-1")
        field = "2" if loose is not None or _usable_field_sep(latin_line) else "1"
        return _reject(header, 102, f"MSH^1^{field}", _delimiter_text(str(error)))
    try:
        # MSH-18 from the line read above: `decode` would find and split MSH again.
        msh18 = split_fields(latin_line, seps.field, 19)[18]
        text, codec = decode_declared(body, msh18, seps.repetition, fallback)
    except HL7Error as error:
        # Latin-1 maps bytes one to one, so mirrored fields go back exactly as they came.
        header = _read_header(latin_line, seps, "latin-1")
        return _reject(header, 102, "MSH^1^18", _charset_text(str(error), header))
    msg = Message.parse(text)
    header = _read_header(msg.segments[0].text, msg.separators, codec)
    rejection = _check_header(header, versions) or _check_segments(msg)
    if rejection is None and served is not None:
        rejection = _check_served(header, served)
    matricule = None
    if rejection is None and header.message_code not in exempt:
        rejection, matricule = _check_identity(msg, authorities)
    return Sniffed(header, msg, rejection, matricule)


def _reject(header: Header | None, err: int, location: str, text: str) -> Sniffed:
    return Sniffed(header, None, Rejection("AR", err, location, text))


def _control_rejection(body: bytes) -> Sniffed:
    """AR 102 for a raw control byte. When MSH reads, ERR-2 names the field of the first control
    byte and the text names the byte, never the value around it; the ACK echoes MSH-10 unless
    the byte is in MSH itself (its fields are kept and mirrored: PostgreSQL text takes no NUL)."""
    index = next(i for i, byte in enumerate(body) if byte in _BINARY)
    header = _header_from_bytes(body) if body.startswith(b"MSH") else None
    if header is None:
        return _reject(None, 102, "", "binary content (control bytes such as NUL); send HL7 text")
    if index < len(_first_line(body)):
        header = None
    location, where = _control_location(body[:index].decode("latin-1"), body[3:4].decode("latin-1"))
    return _reject(header, 102, location,
                   f"control character 0x{body[index]:02X} in {where}: HL7 text carries no raw "
                   "control characters; send them as \\Xhh\\ escapes")


def _control_location(before: str, field_sep: str) -> tuple[str, str]:
    """ERR-2 ("SEG^seq^field") and the words for the spot that `before` leads up to, counting
    segments as Message.parse does (CR, LF or CRLF ends one; blank lines are no segment)."""
    lines = before.replace("\r\n", "\r").replace("\n", "\r").split("\r")
    current = lines[-1]
    segments = [line for line in lines[:-1] if line and not line.isspace()]
    if len(current) < 4 or field_sep not in current[3:]:
        return "", f"the segment ID of segment {len(segments) + 1}"
    name = current[:3]
    sequence = 1 + sum(1 for line in segments if line[:3] == name)
    field = current.count(field_sep) + (1 if name == "MSH" else 0)
    return f"{name}^{sequence}^{field}", f"{name}-{field}"


def _strip(raw: bytes) -> bytes:
    return without_bom(raw).lstrip()


def _first_line(body: bytes) -> bytes:
    # Not hub.hl7.header.msh_line: that one looks for MSH on any line, the sniff wants the
    # frame's first line (a frame that does not start with MSH is refused as such).
    ends = [end for end in (body.find(b"\r"), body.find(b"\n")) if end >= 0]
    return body[:min(ends)] if ends else body


def _usable_field_sep(line: str) -> bool:
    field = line[3:4]
    return bool(field) and not field.isalnum() and not field.isspace()


def _loose_separators(line: str) -> Separators | None:
    """Standard encoding characters around the message's MSH-1, when they do not clash."""
    if not _usable_field_sep(line) or line[3] in DEFAULT_ENCODING:
        return None
    return Separators(line[3])


def _delimiter_text(error: str) -> str:
    return f"{error} (MSH-1 is one character, MSH-2 four or five distinct ones, e.g. |^~\\&)"


def _charset_text(error: str, header: Header | None) -> str:
    if "unsupported" in error and header is not None:
        return f"character set '{header.charset}' in MSH-18 is not supported"
    return f"undecodable characters: {error}"


def _read_header(line: str, seps: Separators | None, codec: str) -> Header | None:
    if seps is None:
        return None
    fields = split_fields(line, seps.field, 19)  # MSH-n at index n
    message_type = fields[9].split(seps.repetition, 1)[0].split(seps.component)
    message_type += ["", "", ""]
    encoding = seps.component + seps.repetition + seps.escape + seps.subcomponent
    return Header(
        field_sep=seps.field, encoding_chars=encoding + (seps.truncation or ""),
        sending_app=fields[3], sending_facility=fields[4],
        receiving_app=fields[5], receiving_facility=fields[6],
        message_code=message_type[0].strip(), trigger_event=message_type[1].strip(),
        structure=message_type[2].strip(), control_id=fields[10], processing_id=fields[11],
        version=fields[12].split(seps.component, 1)[0].strip(), accept_ack_type=fields[15].strip().upper(),
        app_ack_type=fields[16].strip().upper(), charset=fields[18], codec=codec,
    )


def header_of(raw: bytes) -> Header | None:
    """MSH of a frame read loosely (latin-1, standard encoding characters when its own are
    unusable), without any check; None when there is no MSH first."""
    return _header_from_bytes(raw)


def _header_from_bytes(raw: bytes) -> Header | None:
    line = _first_line(_strip(raw)).decode("latin-1")
    if not line.startswith("MSH"):
        return None
    try:
        seps = Separators.from_header(line)
    except HL7Error:
        seps = _loose_separators(line)
    return _read_header(line, seps, "latin-1")


def _check_header(header: Header, versions: frozenset[str]) -> Rejection | None:
    if not header.message_code or not header.trigger_event:
        part = "message code (MSH-9.1)" if not header.message_code else "trigger event (MSH-9.2)"
        return Rejection("AR", 101, "MSH^1^9", f"MSH-9 has no {part}")
    if not header.control_id.strip():
        return Rejection("AR", 101, "MSH^1^10", "MSH-10 (message control id) is empty")
    processing = header.processing_id.split(header.separators.component, 1)[0].strip()
    if not processing:
        return Rejection("AR", 101, "MSH^1^11", "MSH-11 (processing id) is empty")
    if processing not in _PROCESSING_IDS:
        return Rejection("AR", 202, "MSH^1^11", "MSH-11.1 must be P, T or D")
    if not header.version:
        return Rejection("AR", 101, "MSH^1^12", "MSH-12 (version id) is empty")
    if header.version not in versions:
        accepted = ", ".join(sorted(versions))
        return Rejection("AR", 203, "MSH^1^12", f"HL7 version {header.version} (MSH-12) is not "
                         f"supported (accepted: {accepted})")
    return None


def _check_served(header: Header, served: frozenset[str]) -> Rejection | None:
    """AR 200 when no mapping serves the message code at all, 201 when it serves the code for
    other events only; a type is served by its name or by its structure (MSH-9.3)."""
    code, event = header.message_code, header.trigger_event
    if f"{code}^{event}" in served or (header.structure and header.structure in served):
        return None
    events = sorted(name.split("^", 1)[1] for name in served if name.startswith(f"{code}^"))
    if events or any(name.startswith(f"{code}_") for name in served):
        also = f" (this hub takes {code} events {', '.join(events)})" if events else ""
        return Rejection("AR", 201, "MSH^1^9", f"unsupported event code: {code} event {event} "
                         f"(MSH-9.2) is not handled by this hub{also}")
    return Rejection("AR", 200, "MSH^1^9", f"unsupported message type: this hub handles no "
                     f"{code} messages (no mapping serves message code {code})")


def _check_segments(msg: Message) -> Rejection | None:
    names = [segment.name for segment in msg.segments]
    messages = names.count("MSH")
    if messages > 1:
        return Rejection("AR", 100, "MSH^2",
                         f"{messages} messages in one frame; send one message per frame")
    if _SEGMENT_IDS.fullmatch("\r".join(names)):  # names hold no CR: lines are split on it
        return None  # the usual case; the loop below only finds and words the bad line
    seen: dict[str, int] = {}
    previous = ""
    for number, segment in enumerate(msg.segments, 1):
        name = segment.name
        if not _is_segment_id(name):
            where = f" after {previous} {seen[previous]}" if previous else ""
            location = f"{previous}^{seen[previous]}" if previous else ""
            return Rejection("AR", 100, location,
                             f"line {number}{where} does not start with a segment ID; a line break "
                             "inside a field must be escaped (\\X0D\\ or \\.br\\)")
        seen[name] = seen.get(name, 0) + 1
        previous = name
    return None


def _is_segment_id(name: str) -> bool:
    return _SEGMENT_ID.fullmatch(name) is not None


def _check_identity(msg: Message, authorities: frozenset[str]) -> tuple[Rejection | None, str | None]:
    """The rejection when PID-3 names no valid matricule, else (None, the normalised matricule)."""
    verdict = identify(msg, authorities)
    if verdict.ok:
        return None, verdict.matricule
    if verdict.err_code == 102:
        return Rejection("AE", 102, "PID^1^3", verdict.reason), None
    also = f" or assigning authority {'/'.join(sorted(authorities))}" if authorities else ""
    return Rejection("AE", 101, "PID^1^3", f"no matricule in PID-3 (identifier type NN{also})"), None

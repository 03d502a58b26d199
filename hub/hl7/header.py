"""MSH read straight from a message's bytes or text, before (or without) parsing it.

Every place that needs the header of something it has not parsed — the listener's sniff, the
character-set decoder, the re-addresser, `hub map` reporting a message it cannot read, the
batch reader's envelopes — reads it here, with one set of rules (HL7 v2.5 section 2.14.9):

- MSH is the first segment at the start of the text or right after a segment end (CR or LF),
  after a UTF-8 byte order mark if any; bytes are read as latin-1 (MSH is ASCII, and latin-1
  maps every byte to one character, so positions and mirrored values stay exact).
- MSH-1 is the character after "MSH", whatever it is; MSH-2 runs to the next field separator
  (4 characters, or 5 with the v2.7 truncation character that v2.5 senders send too).
- Field n of the header lands at index n: MSH-1 is the separator itself.
- A field the sender left out (a truncated header) reads "". Nothing here raises or checks:
  checking (Separators.from_header, the sniff's rules) is its callers' business.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import AnyStr

from hub.hl7.constants import BOM, BOM_TEXT, SEGMENT_END_CHARS, SEGMENT_ENDS

DEFAULT_ENCODING = "^~\\&"
# How many header fields are read: MSH-18 (character set) is the last any caller needs, and a
# few more keep the table the same length for MSH-19 and MSH-21 should one be wanted.
FIELDS = 21


def msh_span(data: str) -> tuple[int, int] | None:
    """(start, end) of the MSH line in `data`: the first "MSH" at the start (after a byte order
    mark) or right after a segment end, to the next segment end; None when there is none."""
    return _span(data, "MSH", len(BOM_TEXT) if data.startswith(BOM_TEXT) else 0,
                 tuple(SEGMENT_END_CHARS))


def msh_line(data: bytes | str) -> str | None:
    """The MSH segment of a message (bytes read as latin-1, without its segment end), or None.
    Only the header's bytes are decoded, whatever the size of the message."""
    if isinstance(data, bytes):
        span = _span(data, b"MSH", len(BOM) if data.startswith(BOM) else 0, SEGMENT_ENDS)
        return None if span is None else data[span[0]:span[1]].decode("latin-1")
    text_span = msh_span(data)
    return None if text_span is None else data[text_span[0]:text_span[1]]


def _span(data: AnyStr, name: AnyStr, first: int,
          ends: tuple[AnyStr, ...]) -> tuple[int, int] | None:
    start = first
    while True:
        start = data.find(name, start)
        if start < 0:
            return None
        if start == first or data[start - 1:start] in ends:
            break
        start += len(name)
    found = [at for at in (data.find(end, start) for end in ends) if at >= 0]
    return start, min(found, default=len(data))


def split_fields(line: str, field_sep: str, count: int = FIELDS) -> list[str]:
    """The fields of a header segment (MSH, FHS or BHS) with field n at index n (field 1 is the
    separator itself, field 2 the encoding characters), padded with "" to `count` entries."""
    fields = line.split(field_sep) if field_sep else [line]
    fields[1:1] = [field_sep]
    fields += [""] * (count - len(fields))
    return fields


@dataclass(frozen=True, slots=True)
class MshHeader:
    """A header as sent: every field's raw text (escapes undecoded), MSH-n at `fields[n]`."""

    fields: tuple[str, ...]

    @property
    def field_sep(self) -> str:
        """MSH-1."""
        return self.fields[1]

    @property
    def encoding_chars(self) -> str:
        """MSH-2 as sent (may be short, long or repeated: nothing is checked here)."""
        return self.fields[2]

    @property
    def component_sep(self) -> str:
        return self.encoding_chars[:1] or DEFAULT_ENCODING[0]

    @property
    def repetition_sep(self) -> str:
        return self.encoding_chars[1:2] or DEFAULT_ENCODING[1]

    def field(self, number: int) -> str:
        """MSH-`number` as sent; "" when the header stops before it."""
        return self.fields[number] if number < len(self.fields) else ""

    def component(self, number: int, component: int) -> str:
        """Component `component` of the first repetition of MSH-`number`, stripped."""
        first = self.field(number).split(self.repetition_sep, 1)[0]
        parts = first.split(self.component_sep)
        return parts[component - 1].strip() if component <= len(parts) else ""

    @property
    def sending_application(self) -> str:
        """MSH-3."""
        return self.field(3)

    @property
    def sending_facility(self) -> str:
        """MSH-4."""
        return self.field(4)

    @property
    def timestamp(self) -> str:
        """MSH-7.1, the date/time of the message."""
        return self.component(7, 1)

    @property
    def message_code(self) -> str:
        """MSH-9.1."""
        return self.component(9, 1)

    @property
    def trigger_event(self) -> str:
        """MSH-9.2."""
        return self.component(9, 2)

    @property
    def structure(self) -> str:
        """MSH-9.3."""
        return self.component(9, 3)

    @property
    def type(self) -> str:
        """"CODE^EVENT" as `Message.type` reads it (just "CODE" when MSH-9.2 is empty)."""
        code, event = self.message_code, self.trigger_event
        return f"{code}^{event}" if event else code

    @property
    def control_id(self) -> str:
        """MSH-10."""
        return self.field(10)

    @property
    def version(self) -> str:
        """MSH-12.1, the version id."""
        return self.component(12, 1)

    @property
    def charset(self) -> str:
        """MSH-18 as sent, every repetition."""
        return self.field(18)


def parse_header(line: str) -> MshHeader | None:
    """A header from an MSH line (`msh_line`'s); None when it has no field separator."""
    if len(line) < 4 or not line.startswith("MSH") or line[3] in SEGMENT_END_CHARS:
        return None
    return MshHeader(tuple(split_fields(line, line[3])))


def read_header(data: bytes | str) -> MshHeader | None:
    """The MSH of a message's bytes or text, read tolerantly (see the module); None when there
    is no MSH segment or no field separator after it."""
    line = msh_line(data)
    return None if line is None else parse_header(line)

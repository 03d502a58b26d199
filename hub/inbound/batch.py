"""Reading an HL7 batch and checking it whole, before anything of it is published. Pure: bytes in,
a `Batch` or the first `BatchProblem` out.

The shape accepted (HL7 v2.5 section 2.10.3, `[FHS] { [BHS] { MSH ... } [BTS] } [FTS]`):

- FHS, when present, is the first segment; FTS, when present, the last, and only after an FHS.
- A batch starts at BHS, or at an MSH that is not inside a batch yet (a batch without header);
  a new BHS ends the batch before it. BTS ends a batch and only one opened by BHS.
- Trailers are optional: real senders leave BTS/FTS out (FHS/BHS files without trailers are in
  the corpus). When present, BTS-1 (messages in the batch) and FTS-1 (batches in the file) must
  match what was read; an empty count is no claim.
- Content of several MSH without any header is one batch without header: the CNS and many
  debatching tools write files that way (ten of the corpus' batch files).
- Blank lines are ignored anywhere (a Ctrl-Z, which DOS-era tools append, counts as blank).
  Every other line belongs to the message its MSH opened; a line before any MSH of a batch,
  after a BTS or after the FTS is a stray segment.
- Zero messages is allowed (HL7: a periodic batch with nothing to send); no segment at all is not.

Each message's bytes are a slice of the input, untouched (its own line ends kept), from its MSH
to the end of its last non-blank line. Problem texts name segments and lines, never values.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from hub.errors import HL7Error
from hub.hl7.constants import BATCH_HEADERS, BOM, ENVELOPE, LINE_END
from hub.hl7.escape import unescape
from hub.hl7.header import split_fields
from hub.hl7.message import Separators

# Blank in a batch file: whitespace, and the Ctrl-Z (SUB) that DOS-era tools still write at the
# end of a text file.
_BLANK = b" \t\r\n\x0b\x0c\x1a"


@dataclass(frozen=True, slots=True)
class Envelope:
    """An FHS or BHS as read (raw field text, escapes undecoded) and the separators it set."""

    segment: str                 # "FHS" or "BHS"
    separators: Separators
    sending_app: str = ""        # -3
    sending_facility: str = ""   # -4
    receiving_app: str = ""      # -5
    receiving_facility: str = ""  # -6
    control_id: str = ""         # -11

    @property
    def sender(self) -> str:
        """"APP^FACILITY" from -3.1 and -4.1, as `Header.sender` reads MSH-3/4."""
        return f"{self._hd_name(self.sending_app)}^{self._hd_name(self.sending_facility)}"

    def _hd_name(self, raw: str) -> str:
        seps = self.separators
        parts = raw.split(seps.repetition, 1)[0].split(seps.component)
        return unescape(parts[0] or (parts[1] if len(parts) > 1 else ""), seps)


@dataclass(frozen=True, slots=True)
class SubBatch:
    """One batch: its BHS (None for a batch without header) and where its messages are: each
    one's (start, end) offsets in the content read, and that content when it was in memory (a
    spool file is read again from disk instead: hub/inbound/batch_file.py)."""

    header: Envelope | None
    spans: tuple[tuple[int, int], ...]
    source: bytes | None = field(default=None, repr=False, compare=False)

    @property
    def count(self) -> int:
        """How many messages the batch holds."""
        return len(self.spans)

    @property
    def messages(self) -> tuple[bytes, ...]:
        """Each message's bytes (a batch read from memory only)."""
        if self.source is None:
            raise ValueError("this batch was read from a file: batch_file.messages_of reads it")
        return tuple(self.source[start:end] for start, end in self.spans)


@dataclass(frozen=True, slots=True)
class Batch:
    """A checked batch file or frame: its FHS (or None) and its batches, in order."""

    file_header: Envelope | None
    batches: tuple[SubBatch, ...]

    @property
    def messages(self) -> list[bytes]:
        """Every message of every batch, in order."""
        return [message for batch in self.batches for message in batch.messages]

    @property
    def envelope(self) -> Envelope | None:
        """The header that speaks for the whole: the FHS, else the first BHS."""
        if self.file_header is not None:
            return self.file_header
        return next((b.header for b in self.batches if b.header is not None), None)

    @property
    def control_id(self) -> str:
        """BHS-11 of the first batch, else FHS-11 ("" when neither says)."""
        first = next((b.header for b in self.batches if b.header is not None), None)
        for header in (first, self.file_header):
            if header is not None and header.control_id:
                return header.control_id
        return ""

    @property
    def sender(self) -> str:
        """From FHS-3/4, else BHS-3/4 ("" for a batch without any header)."""
        for header in (self.file_header, *(b.header for b in self.batches)):
            if header is not None and (header.sending_app or header.sending_facility):
                return header.sender
        return ""


@dataclass(frozen=True, slots=True)
class BatchProblem:
    """The first reason a batch is refused: ERR-3 (table 0357), the segment, its line, a text."""

    err_code: int
    segment: str     # the segment at fault ("" when the line has no segment ID)
    line: int        # 1-based line number in the file or frame (0: the content as a whole)
    text: str        # names segments, fields and lines; never a value

    @property
    def location(self) -> str:
        """ERR-2 style location ("BTS" or ""); the line is in the text."""
        return self.segment


UNREADABLE = BatchProblem(207, "", 0, "the batch could not be read")


def is_batch(raw: bytes) -> bool:
    """Whether a frame is a batch: it starts with FHS or BHS, or holds more than one MSH."""
    # On the hot path of every frame: one substring search (about 3 us on a 1.5 KB ORU here;
    # a regex took 12). An MSH at the start of any later line makes a batch.
    head = raw[:64].removeprefix(BOM).lstrip()
    if head.startswith(BATCH_HEADERS):
        return True
    at = raw.find(b"MSH", raw.find(b"MSH") + 3)
    while at > 0:
        if raw[at - 1] in b"\r\n":
            return True
        at = raw.find(b"MSH", at + 3)
    return False


def read_batch(raw: bytes) -> Batch | BatchProblem:
    """Read and check a whole batch held in memory; never raises."""
    return BatchReader(raw).read(raw)


def read_envelope(line: bytes) -> Envelope:
    """An FHS or BHS line read on its own (standard separators when its own are unusable)."""
    return _envelope(line.lstrip()[:3].decode("latin-1"), line, Separators())


@dataclass
class _Open:
    header: Envelope | None
    messages: list[tuple[int, int]] = field(default_factory=list)


class BatchReader:
    """The state of one read: where we are in the nesting and what was collected. Fed line by
    line (`line`, then `finish`), so that a file can be checked without being held whole;
    `source` is the content when it is in memory, kept in the batches it makes."""

    def __init__(self, source: bytes | None = None) -> None:
        self.source = source
        self.file_header: Envelope | None = None
        self.file_closed = False
        self.closed: list[SubBatch] = []
        self.batch: _Open | None = None        # the batch being read, if any
        self.after_bts = False
        self.message: tuple[int, int] | None = None  # (start, end) of the message being read
        self.seps = Separators()
        self.seen_any = False

    def read(self, raw: bytes) -> Batch | BatchProblem:
        try:
            return self._read(raw)
        except Exception:  # noqa: BLE001 - a file or frame can never crash the intake
            return UNREADABLE

    def _read(self, raw: bytes) -> Batch | BatchProblem:
        pos = len(BOM) if raw.startswith(BOM) else 0
        number = 0
        while pos < len(raw):
            found = LINE_END.search(raw, pos)
            end, after = (found.start(), found.end()) if found else (len(raw), len(raw))
            number += 1
            problem = self.line(raw[pos:end], number, pos, after)
            if problem is not None:
                return problem
            pos = after
        return self.finish()

    def finish(self) -> Batch | BatchProblem:
        """The batch read, once every line was fed; or why it is refused."""
        if not self.seen_any:
            return BatchProblem(100, "", 0, "no segment at all")
        self._end_message()
        self._close_batch()
        return Batch(self.file_header, tuple(self.closed))

    def line(self, line: bytes, number: int, start: int, after: int) -> BatchProblem | None:
        """Take line `number` (without its line end), which spans [start, after) of the
        content with its line end; the first problem, or None."""
        if not line.strip(_BLANK):
            return None
        name = _segment_id(line)
        first, self.seen_any = not self.seen_any, True
        if self.file_closed:
            return _stray(name, number, "after FTS: nothing may follow the file trailer")
        if name in ENVELOPE:
            self._end_message()
            return getattr(self, f"_{name.lower()}")(line, number)
        if name == "MSH":
            if self.after_bts:
                return BatchProblem(100, "MSH", number, f"MSH at line {number} follows a BTS: "
                                    "a message after a batch trailer needs a BHS first")
            self._end_message()
            if self.batch is None:
                self.batch = _Open(None)
            self.seps = _separators(line, self.seps)
            self.message = (start, after)
            return None
        if self.message is not None:
            self.message = (self.message[0], after)
            return None
        where = ("at the start" if first else "after BTS" if self.after_bts
                 else "after BHS" if self.batch is not None else "after FHS")
        return _stray(name, number, f"{where}, outside any message (a message starts with MSH)")

    def _fhs(self, line: bytes, number: int) -> BatchProblem | None:
        if self.file_header is not None or self.batch is not None or self.closed:
            return BatchProblem(100, "FHS", number,
                                f"FHS at line {number}: the file header must be the first segment")
        self.file_header = _envelope("FHS", line, self.seps)
        self.seps = self.file_header.separators
        return None

    def _bhs(self, line: bytes, number: int) -> BatchProblem | None:
        self._close_batch()  # BTS is optional: a new BHS ends the batch before it
        header = _envelope("BHS", line, self.seps)
        self.seps = header.separators
        self.batch = _Open(header)
        return None

    def _bts(self, line: bytes, number: int) -> BatchProblem | None:
        if self.batch is None or self.batch.header is None:
            return BatchProblem(100, "BTS", number,
                                f"BTS at line {number} closes no batch: it needs a BHS before it")
        count = _count(line, self.seps)
        messages = len(self.batch.messages)
        if count == "":
            pass
        elif not count.isdigit():
            return BatchProblem(102, "BTS", number,
                                f"BTS-1 (batch message count) at line {number} is not a number")
        elif int(count) != messages:
            return BatchProblem(100, "BTS", number, f"BTS-1 (batch message count) at line {number} "
                                f"says {int(count)}, the batch holds {messages}")
        self._close_batch()
        self.after_bts = True
        return None

    def _fts(self, line: bytes, number: int) -> BatchProblem | None:
        if self.file_header is None:
            return BatchProblem(100, "FTS", number,
                                f"FTS at line {number} closes no file: it needs an FHS first")
        self._close_batch()
        count = _count(line, self.seps)
        if count and not count.isdigit():
            return BatchProblem(102, "FTS", number,
                                f"FTS-1 (file batch count) at line {number} is not a number")
        if count and int(count) != len(self.closed):
            return BatchProblem(100, "FTS", number, f"FTS-1 (file batch count) at line {number} "
                                f"says {int(count)}, the file holds {len(self.closed)}")
        self.file_closed = True
        return None

    def _end_message(self) -> None:
        if self.message is not None and self.batch is not None:
            self.batch.messages.append(self.message)
        self.message = None

    def _close_batch(self) -> None:
        if self.batch is not None:
            self.closed.append(SubBatch(self.batch.header, tuple(self.batch.messages),
                                        self.source))
        self.batch = None
        self.after_bts = False


def _segment_id(line: bytes) -> str:
    """The line's segment ID, or "" when it does not start with one (a junk line is not named:
    its first characters could be patient data)."""
    name = line.lstrip()[:3]
    rest = line.lstrip()[3:4]
    if len(name) == 3 and name.isalnum() and name.isupper() and name[:1].isalpha() \
            and not rest.isalnum():
        return name.decode("ascii")
    return ""


def _stray(name: str, number: int, where: str) -> BatchProblem:
    what = name or "a line without a segment ID"
    return BatchProblem(100, name, number, f"{what} at line {number} {where}")


def _separators(line: bytes, current: Separators) -> Separators:
    try:
        return Separators.from_header(line.decode("latin-1"))
    except HL7Error:
        return current


def _envelope(name: str, line: bytes, current: Separators) -> Envelope:
    text = line.decode("latin-1").lstrip()
    seps = _separators(line.lstrip(), current)
    fields = split_fields(text, seps.field, 12)  # like MSH: field n at index n
    return Envelope(name, seps, fields[3], fields[4], fields[5], fields[6], fields[11])


def _count(line: bytes, seps: Separators) -> str:
    fields = line.strip(_BLANK).decode("latin-1").split(seps.field)
    return fields[1].split(seps.component, 1)[0].strip() if len(fields) > 1 else ""

"""The reference side of the differential tests: the corpus messages of a mapped type, what the
mappings read in them, and how hl7apy (or python-hl7 where hl7apy refuses a message) reads it.

Nothing here calls the hub's parser: the messages are cut from their files with
`hub.hl7.split.split_messages` (how files are stored, not HL7), decoded with the character set
table below (HL7 table 0211, written from the standard, not from `hub.hl7.charset`), and parsed by
the references. Leaves are returned as sent (escapes undecoded); the tests decide how to decode.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import hl7
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from hub.hl7.split import split_messages
from hub.mapping.loader import MappingSet, load_mappings
from hub.mapping.spec import Mapping
from tests.fixtures.corpus import corpus_files

REPO = Path(__file__).resolve().parents[2]
ALL = -1  # a read of every repetition of a field

# HL7 v2.5 table 0211 (alternate character sets), the byte-oriented entries Python has codecs for.
TABLE_0211 = {
    "ASCII": "ascii", "8859/1": "latin-1", "8859/2": "iso8859-2", "8859/3": "iso8859-3",
    "8859/4": "iso8859-4", "8859/5": "iso8859-5", "8859/6": "iso8859-6",
    "8859/7": "iso8859-7", "8859/8": "iso8859-8", "8859/9": "iso8859-9",
    "8859/15": "iso8859-15", "UNICODE UTF-8": "utf-8",
}


@dataclass
class CorpusMessage:
    """One message of a well-formed corpus file, as bytes, with the reference's reading of it."""

    name: str                      # file name in index.tsv, "#n" when the file holds several
    raw: bytes
    text: str | None = None        # decoded by the reference table; None: it could not decode
    reader: str = ""               # "hl7apy", "python-hl7" or "" (both refused)
    tree: object = None
    refusal: str = ""              # why hl7apy refused, when it did
    msh18: str = ""
    charset_note: str = ""         # "" when table 0211 decoded it, else why another codec was used


@dataclass(frozen=True)
class Read:
    """What a mapping reads: segment, field, component, subcomponent (None: whole) and a 0-based
    repetition (ALL: every repetition)."""

    segment: str
    field: int
    component: int | None
    subcomponent: int | None
    repetition: int

    def __str__(self) -> str:
        text = f"{self.segment}-{self.field}"
        text += "[*]" if self.repetition == ALL else f"[{self.repetition + 1}]"
        if self.component is not None:
            text += f".{self.component}"
            if self.subcomponent is not None:
                text += f".{self.subcomponent}"
        return text


def mappings() -> MappingSet:
    """The shipped mappings."""
    return load_mappings(REPO / "mappings")


def reads_of(mapping: Mapping) -> set[Read]:
    """Every leaf the mapper reads for this mapping, including the components that its
    structured types (xcn, pl, varies, list) and its timestamps (TS.1) read."""
    reads: set[Read] = set()
    rules = list(mapping.patient)
    accessors = []
    for entry in mapping.entries:
        rules += entry.fields
        accessors += [*entry.effective_at, *(c[0] for c in entry.conditions)]
        if entry.confidentiality_source:
            accessors.append(entry.confidentiality_source)
    for rule in rules:
        if rule.datatype:
            accessors.append(rule.datatype)
        for segment, number, component, subcomponent, repetition in rule.sources:
            if rule.type == "xcn":
                parts = [(1, None), (2, 1), (3, None)]
            elif rule.type == "pl":
                parts = [(1, None), (2, None), (3, None), (4, 1)]
            elif rule.type == "varies":
                parts = [(None, None), *((c, None) for c in range(1, 10))]
                repetition = ALL
            elif rule.type in ("timestamp", "date") and component is None:
                parts = [(1, None)]
            else:
                parts = [(component, subcomponent)]
            if rule.type == "list":
                repetition = ALL
            reads.update(Read(segment, number, c, s, repetition) for c, s in parts)
    for segment, number, component, subcomponent, repetition in accessors:
        if component is None:  # effective_at and conditions read the first component of a TS
            reads.add(Read(segment, number, 1, None, repetition))
        reads.add(Read(segment, number, component, subcomponent, repetition))
    return reads


def reference_codec(msh18: str) -> str | None:
    """The codec table 0211 gives MSH-18's first repetition; ASCII when empty; None if unknown."""
    name = msh18.split("~", 1)[0].strip()
    return "ascii" if not name else TABLE_0211.get(name)


def _msh_fields(raw: bytes) -> list[str]:
    line = re.split(rb"[\r\n]", raw, maxsplit=1)[0].decode("latin-1")
    return line.split(line[3]) if len(line) > 3 else []


def mapped_corpus(mapping_set: MappingSet) -> list[CorpusMessage]:
    """Every message of a corpus file not marked MALFORMED whose MSH-9 a mapping serves."""
    found = []
    for corpus_file in corpus_files():
        if corpus_file.malformed:
            continue
        chunks, _ = split_messages(corpus_file.path.read_bytes())
        for number, chunk in enumerate(chunks, 1):
            fields = _msh_fields(chunk)
            if len(fields) < 10 or len(fields[1]) < 1:
                continue
            parts = fields[8].split(fields[1][0])
            type_ = "^".join(part.strip() for part in parts[:2])
            structure = parts[2].strip() if len(parts) > 2 else ""
            if mapping_set.for_type(type_, structure) is None:
                continue
            name = corpus_file.name + (f"#{number}" if len(chunks) > 1 else "")
            found.append(CorpusMessage(name, chunk, msh18=fields[17] if len(fields) > 17 else ""))
    return found


def read_with_references(message: CorpusMessage) -> CorpusMessage:
    """Decode with table 0211 and parse with hl7apy, else python-hl7; fills the message in.

    Table 0211 does not decode two kinds of corpus message, which are then decoded as the hub's
    documented policy says (the test counts them as charset divergences, by `charset_note`): an
    MSH-18 outside the table with ASCII bytes (ASCII: every byte-oriented set of the table shares
    it) and an empty MSH-18 (ASCII by the standard) with UTF-8 bytes (DESIGN.md: real senders).
    """
    codec = reference_codec(message.msh18)
    try:
        message.text = message.raw.decode(codec) if codec else None
    except UnicodeDecodeError:
        message.text = None
    if message.text is None and message.raw.isascii():
        message.text, message.charset_note = message.raw.decode("ascii"), "msh18-not-in-table"
    elif message.text is None and not message.msh18.strip():
        try:
            message.text = message.raw.decode("utf-8")
            message.charset_note = "empty-msh18-utf8"
        except UnicodeDecodeError:
            return message
    if message.text is None:
        return message
    text = _normalised(message.text)
    try:
        message.tree = parse_message(text, find_groups=False,
                                     validation_level=VALIDATION_LEVEL.TOLERANT)
        message.reader = "hl7apy"
        return message
    except Exception as error:  # noqa: BLE001 - the reason is what the test reports
        message.refusal = type(error).__name__
    try:
        message.tree = hl7.parse(text)
        message.reader = "python-hl7"
    except Exception:  # noqa: BLE001
        message.reader = ""
    return message


def _normalised(text: str) -> str:
    return text.replace("\r\n", "\r").replace("\n", "\r")


@dataclass
class ReferenceSegment:
    """One segment as a reference read it: for each field, its repetitions, each a list of
    components, each a list of subcomponents, all raw text ("" where absent)."""

    name: str
    fields: dict[int, list[list[list[str]]]] = field(default_factory=dict)
    # hl7apy could not place some field (one its version does not define, such as EVN-1,
    # withdrawn in v2.8): fields it does not hold are read from python-hl7's reading.
    fallback: ReferenceSegment | None = None

    def reader_of(self, number: int) -> str:
        """Which reference reads this field."""
        return "python-hl7" if self.fallback and number not in self.fields else "hl7apy"

    def repetitions(self, number: int) -> list[list[list[str]]]:
        """The field's repetitions (trailing empty ones count as absent)."""
        if self.fallback is not None and number not in self.fields:
            return self.fallback.repetitions(number)
        reps = self.fields.get(number, [])
        while reps and not any(any(sub) for sub in reps[-1]):
            reps = reps[:-1]
        return reps

    def leaf(self, number: int, component: int | None, subcomponent: int | None,
             repetition: int, seps: tuple[str, str]) -> str:
        """The raw text at a position; a whole component or repetition joined by `seps`
        (component, subcomponent separator), as the message carries it."""
        reps = self.repetitions(number)
        if repetition >= len(reps):
            return ""
        components = reps[repetition]
        if component is None:
            return seps[0].join(seps[1].join(subs) for subs in components)
        if component > len(components):
            return ""
        subs = components[component - 1]
        if subcomponent is None:
            return seps[1].join(subs)
        return subs[subcomponent - 1] if subcomponent <= len(subs) else ""


def _positional(children: list, number_of) -> list:
    """Children placed at their 1-based number (hl7apy names them FOO_n, or by position)."""
    placed: list = []
    for position, child in enumerate(children, 1):
        number = number_of(child, position)
        placed += [None] * (number - len(placed))
        placed[number - 1] = child
    return placed


def _number(child, position: int) -> int:
    match = re.search(r"_(\d+)$", child.name or "")
    return int(match.group(1)) if match else position


def _hl7apy_leaf(element) -> str:
    value = element.value
    if isinstance(value, str):
        return value
    # Textual datatypes keep the text as sent; to_er7() would escape it a second time.
    if isinstance(getattr(value, "value", None), str):
        return value.value
    return value.to_er7()


def hl7apy_segments(tree) -> list[ReferenceSegment]:
    """hl7apy's segments as ReferenceSegments."""
    out = []
    for segment in tree.children:
        ref = ReferenceSegment(segment.name)
        # A segment hl7apy does not know (a Z-segment) has unnamed fields, one per position; in
        # a known one, unnamed fields are those past its version's last field, kept without
        # their position (empty ones dropped), which no mapping may read (the loader checks).
        known = any(child.name for child in segment.children)
        for position, child in enumerate(segment.children, 1):
            if known and not child.name:
                ref.fallback = ref  # marked; reference_segments puts python-hl7's in its place
                continue
            number = _number(child, position)
            components = []
            for component in _positional(child.children, _number):
                if component is None:
                    components.append([""])
                elif component.children:
                    subs = _positional(component.children, _number)
                    components.append(["" if sub is None else _hl7apy_leaf(sub) for sub in subs])
                else:
                    components.append([_hl7apy_leaf(component)])
            ref.fields.setdefault(number, []).append(components or [[""]])
        out.append(ref)
    return out


def python_hl7_segments(tree) -> list[ReferenceSegment]:
    """python-hl7's segments as ReferenceSegments (its Field holds Repetitions, Components or
    plain text depending on which separators the text has)."""
    out = []
    for segment in tree:
        ref = ReferenceSegment(str(segment[0]))
        for number in range(1, len(segment)):
            fld = segment[number]
            if ref.name == "MSH" and number <= 2:
                ref.fields[number] = [[[str(fld)]]]
                continue
            reps = []
            for rep in fld:
                if isinstance(rep, str):
                    reps.append([[rep]])
                    continue
                reps.append([[sub] if isinstance(sub, str) else [str(s) for s in sub]
                             for sub in rep])
            ref.fields[number] = reps
        out.append(ref)
    return out


def reference_segments(message: CorpusMessage) -> list[ReferenceSegment]:
    """The segments as whichever reference read the message."""
    if message.reader == "hl7apy":
        segments = hl7apy_segments(message.tree)
        if any(segment.fallback for segment in segments):
            others = python_hl7_segments(hl7.parse(_normalised(message.text)))
            for segment, other in zip(segments, others):
                if segment.fallback is not None:
                    segment.fallback = other
        return segments
    if message.reader == "python-hl7":
        return python_hl7_segments(message.tree)
    return []

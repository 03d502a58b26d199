"""Turns HL7 values read by the fast reader into dossier values: ISO dates, numbers, names, text.

Every function takes a `hub.hl7.message.Segment` (or text) and returns "" (or None) for what is
absent, so the mapper can treat "nothing there" uniformly. HL7's explicit null `""` is absent.
"""
from __future__ import annotations

import re
from datetime import date
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hub.hl7.message import Segment

NULL = '""'
_TS = re.compile(
    r"(\d{4})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(\.\d{1,4})?)?)?)?)?)?"
    r"([+-]\d{4})?"
)
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)")
_CODED = frozenset({"CE", "CWE", "CNE", "CF"})
_DATES = frozenset({"TS", "DT", "DTM"})
# Primitive types: the whole repetition is the value (a stray unescaped "^" stays visible).
_PRIMITIVE = frozenset({"", "ST", "TX", "FT", "NM", "ID", "IS", "SI", "TM", "GTS", "TN"})


# Pure, and a lab report repeats its times (OBX-14 is read for observed_at and effective_at
# of each OBX, a batch's reports share OBR-7s): a bounded memo of the last few thousand.
@lru_cache(maxsize=4096)
def iso_timestamp(text: str) -> str | None:
    """HL7 TS/DTM `YYYY[MM[DD[HH[MM[SS[.S…]]]]]][+/-ZZZZ]` as ISO 8601, as precise as given.

    A bare date gives "YYYY-MM-DD" (or "YYYY-MM", "YYYY"); an hour without minutes gets ":00".
    Returns None when the text is not such a timestamp or a part is out of range (a day its
    month lacks, second 60, an offset outside -12:00..+14:00): the verdict of hl7apy's DTM,
    which tests/reference/test_timestamps.py checks.
    """
    match = _TS.fullmatch(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        # A day its month does not have (Feb 29 of 2023) or year 0000 is no date.
        date(int(year), int(month or 1), int(day or 1))
    except ValueError:
        return None
    # No 60th second: HL7's SS is 00-59, and neither hl7apy nor datetime reads a leap second.
    if (hour and int(hour) > 23) or (minute and int(minute) > 59) or (
            second and int(second) > 59):
        return None
    # Offsets in use run from -12:00 to +14:00.
    if zone and (int(zone[1:3]) > (14 if zone[0] == "+" else 12) or int(zone[3:]) > 59):
        return None
    out = year + (f"-{month}" if month else "") + (f"-{day}" if day else "")
    if hour:
        out += f"T{hour}:{minute or '00'}" + (f":{second}" if second else "") + (fraction or "")
        if zone:
            out += f"{zone[:3]}:{zone[3:]}"
    return out


def iso_date(text: str) -> str | None:
    """The date part of an HL7 DT or TS as ISO 8601 ("YYYY-MM-DD" or less precise), else None."""
    stamp = iso_timestamp(text)
    return None if stamp is None else stamp.split("T", 1)[0]


def number(text: str) -> int | float | None:
    """An NM value as int (when integral as written) or float; None when it is not a number."""
    text = text.strip()
    if not _NUMBER.fullmatch(text):
        return None
    return float(text) if "." in text else int(text)


def xcn(segment: Segment, field: int, repetition: int) -> dict[str, str]:
    """A person (XCN/CN): CNS code (XCN.1), family name (XCN.2.1), given name (XCN.3)."""
    return _present({
        "cns_code": segment.value(field, 1, None, repetition),
        "family_name": segment.value(field, 2, 1, repetition),
        "given_name": segment.value(field, 3, None, repetition),
    })


def pl(segment: Segment, field: int, repetition: int) -> dict[str, str]:
    """A location (PL): point of care, room, bed, facility (PL.4.1)."""
    return _present({
        "point_of_care": segment.value(field, 1, None, repetition),
        "room": segment.value(field, 2, None, repetition),
        "bed": segment.value(field, 3, None, repetition),
        "facility": segment.value(field, 4, 1, repetition),
    })


def varies(segment: Segment, field: int, datatype: str) -> str:
    """A field whose type is given elsewhere (OBX-5 by OBX-2), every repetition, joined by "\\n".

    Coded values (CE/CWE/CNE/CF) give their text, else CWE original text, else the code; SN its
    parts run together (">10", "1:128"); ED its data (base64 without the line breaks senders
    insert); TS/DT/DTM ISO 8601 when valid; other composites their non-empty components joined
    by a space; primitives (and an unknown or missing type) the whole value.
    """
    datatype = datatype.strip().upper()
    if datatype in _PRIMITIVE:
        # The whole of each repetition (what `_one` reads), all of them from one split; a raw
        # repetition that is empty or "" decodes to one, so the decoded values alone are tested.
        texts = segment.decoded_repetitions(field)
        if len(texts) == 1:  # most fields do not repeat: what the join below gives
            return "" if texts[0] == NULL else texts[0]
        return "\n".join([text for text in texts if text and text != NULL])
    values = []
    for repetition, raw in enumerate(segment.repetitions(field)):
        if not raw or raw == NULL:
            continue
        value = _one(segment, field, repetition, datatype)
        if value and value != NULL:
            values.append(value)
    return "\n".join(values)


def _one(segment: Segment, field: int, repetition: int, datatype: str) -> str:
    if datatype in _PRIMITIVE:
        return segment.value(field, None, None, repetition)
    if datatype in _CODED:
        for component in (2, 9, 1):
            text = segment.value(field, component, None, repetition)
            if text and text != NULL:
                return text
        return ""
    if datatype == "SN":
        return "".join(segment.components(field, repetition)[:4])
    if datatype == "ED":
        data = segment.value(field, 5, None, repetition)
        if segment.value(field, 4, None, repetition).upper() == "BASE64":
            data = "".join(data.split())
        return data
    if datatype in _DATES:
        text = segment.value(field, 1, None, repetition)
        return iso_timestamp(text) or text
    return " ".join(part for part in segment.components(field, repetition) if part)


def _present(values: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in values.items() if value and value != NULL}

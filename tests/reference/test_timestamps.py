"""The hub's HL7 timestamp reading (hub.mapping.values.iso_timestamp / iso_date, used for every
TS/DTM and date the mappings read) against hl7apy's DTM datatype (hl7apy.factories
.datetime_factory): every precision HL7 allows, `YYYY` to `YYYYMMDDHHMMSS.SSSS`, with and without
every kind of `+/-ZZZZ` offset, valid and invalid, generated and from the corpus. Both must give
the same verdict, and a valid one the same instant at the same precision.
"""
from __future__ import annotations

import itertools
from collections import Counter
from datetime import datetime

from hl7apy.base_datatypes import DTM
from hl7apy.factories import datetime_factory
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.hl7.charset import decode
from hub.hl7.message import Message
from hub.mapping.values import iso_date, iso_timestamp

# Documented divergences: input -> why the hub deliberately differs from hl7apy.
DIVERGENCES = {
    "surrounding blanks": "the hub strips blanks around a timestamp (HL7 makes trailing blanks "
                          "optional; senders pad fixed-width fields); hl7apy's strptime refuses",
}

_PRECISIONS = ["%Y", "%Y%m", "%Y%m%d", "%Y%m%d%H", "%Y%m%d%H%M", "%Y%m%d%H%M%S"]
_DATES = ["20240229", "20230228", "19000101", "20241231", "00010101"]
_BAD_DATES = ["20230229", "19000229", "20240431", "20241301", "20240001", "20240100", "00000101",
              "20240132", "2024013", "202401"]
_TIMES = ["000000", "235959", "120000", "240000", "236000", "235960", "2359", "23", "7"]
_FRACTIONS = ["", ".1", ".12", ".123", ".1234", ".12345", ".", ".1a"]
_OFFSETS = ["", "+0000", "-0000", "+0100", "-0500", "+0530", "+1400", "-1200", "+1345",
            "+1500", "-1300", "-1400", "+0560", "+100", "0100", "+01:00", "Z"]


def reference(text: str) -> str | None:
    """hl7apy's reading of a DTM rendered as the hub renders ISO 8601, or None if it refuses."""
    try:
        value = datetime_factory(text, DTM)
    except Exception:  # noqa: BLE001 - ValueError and hl7apy's own exception classes alike
        return None
    moment, form = value.value, value.format
    out = f"{moment.year:04d}"
    out += f"-{moment.month:02d}" if "%m" in form else ""
    out += f"-{moment.day:02d}" if "%d" in form else ""
    if "%H" in form:
        out += f"T{moment.hour:02d}:{moment.minute:02d}"
        out += f":{moment.second:02d}" if "%S" in form else ""
        out += f".{moment.microsecond:06d}"[:1 + value.microsec_precision] if "%f" in form else ""
        out += f"{value.offset[:3]}:{value.offset[3:]}" if value.offset else ""
    return out


def _compare(cases, tally: Counter, problems: list[str]) -> None:
    for text in cases:
        ours, theirs = iso_timestamp(text), reference(text)
        tally["timestamp cases"] += 1
        tally["valid" if theirs else "invalid"] += 1
        if ours != theirs:
            problems.append(f"{text!r}: hub {ours!r}, hl7apy {theirs!r}")
        date_ours = iso_date(text)
        date_theirs = theirs.split("T", 1)[0] if theirs else None
        if date_ours != date_theirs:
            problems.append(f"{text!r}: hub date {date_ours!r}, hl7apy {date_theirs!r}")


def generated_cases() -> list[str]:
    """Every precision, fraction and offset over valid and invalid dates and times."""
    cases = []
    for date in _DATES + _BAD_DATES:
        for cut in (4, 6, 8):
            for offset in _OFFSETS:
                cases.append(date[:cut] + offset)
        for time, fraction, offset in itertools.product(_TIMES, _FRACTIONS, _OFFSETS):
            if fraction and len(time) != 6:
                fraction = fraction[:2]  # a fraction after minutes or hours only: invalid
            cases.append(date + time + fraction + offset)
    return sorted(set(cases))


def test_every_precision_and_offset_reads_as_hl7apy_reads_it(capsys):
    tally: Counter = Counter()
    problems: list[str] = []
    _compare(generated_cases(), tally, problems)
    with capsys.disabled():
        print(f"\ntimestamps, hub vs hl7apy DTM: {dict(tally)}, disagreements {len(problems)}")
    assert tally["valid"] > 900 and tally["invalid"] > 10_000
    assert problems == []


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet="0123456789+-.", min_size=4, max_size=24))
def test_any_string_of_timestamp_characters_gets_hl7apys_verdict(text):
    assert iso_timestamp(text) == reference(text)


@settings(max_examples=1000, deadline=None)
@given(st.datetimes(min_value=datetime(1000, 1, 1)), st.integers(0, 4),
       st.sampled_from(_OFFSETS[:9]), st.integers(0, 5))
def test_any_real_instant_at_any_precision_reads_the_same(moment, digits, offset, cut):
    text = moment.strftime(_PRECISIONS[cut])
    if cut == 5 and digits:
        text += "." + f"{moment.microsecond:06d}"[:digits]
    assert iso_timestamp(text + offset) == reference(text + offset) is not None


def test_surrounding_blanks_are_a_documented_divergence():
    assert "surrounding blanks" in DIVERGENCES
    assert reference(" 20240115 ") is None
    assert iso_timestamp(" 20240115 ") == reference("20240115") == "2024-01-15"


def test_every_corpus_timestamp_the_mappings_read_reads_the_same(corpus_read, mapping_set,
                                                                  capsys):
    tally: Counter = Counter()
    problems: list[str] = []
    values = []
    for message in corpus_read:
        if message.text is None:
            continue
        hub = Message.parse(decode(message.raw, "utf-8")[0])
        mapping = mapping_set.for_type(hub.type, hub.structure)
        for segment, number, component, subcomponent, repetition in _timestamp_reads(mapping):
            for found in hub.segments_named(segment):
                text = found.value(number, component or 1, subcomponent, repetition)
                if text and text != '""':
                    values.append(text.strip())
    _compare(values, tally, problems)
    with capsys.disabled():
        print(f"\ncorpus timestamps the mappings read, hub vs hl7apy: {dict(tally)}, "
              f"disagreements {len(problems)}")
    assert tally["timestamp cases"] > 300
    assert problems == []


def _timestamp_reads(mapping):
    for entry in mapping.entries:
        yield from entry.effective_at
        for rule in entry.fields:
            if rule.type in ("timestamp", "date"):
                yield from rule.sources
    for rule in mapping.patient:
        if rule.type == "date":
            yield from rule.sources

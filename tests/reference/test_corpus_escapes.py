"""The hub's unescaping (hub.hl7.escape.unescape) against python-hl7's (hl7.Message.unescape) on
every escaped value (each subcomponent, as the reference parser cut it) of the corpus messages of
a mapped type.

hl7apy 1.3.5 has no unescaping at all: it keeps values as sent and only escapes on output
(TextualDataType._escape_value), so python-hl7 is the decoding reference here and hl7apy's
escaping is checked in test_escape_roundtrip.py (the hub decodes what hl7apy encodes).
"""
from __future__ import annotations

import re
from collections import Counter

import hl7

from hub.hl7.escape import unescape
from tests.fixtures.reference_reader import reference_segments, reference_separators

# Documented divergences, each with the rule that decides it (HL7 v2.5 section 2.7).
DIVERGENCES = {
    "line break": "\\.br\\ and \\.sp\\ are a line break: the hub writes LF (text shown to people), "
                  "python-hl7 CR (its segment terminator); same meaning",
    "highlight": "\\H\\ and \\N\\ start and end highlighting, which a dossier cannot show: the "
                 "hub drops them, python-hl7 puts '_' (a placeholder it says to override)",
    "hex as UTF-8": "\\Xhh\\ gives bytes without a charset; the hub decodes them as UTF-8 when "
                    "valid (what modern senders mean), python-hl7 one character per byte",
    "kept sequence": "\\Zxx\\ (locally defined), \\C..\\ / \\M..\\ (charset switches) and text "
                     "that is no sequence: the hub keeps them as sent, python-hl7 drops them",
}


def _classify(raw: str, ours: str, theirs: str, esc: str) -> str | None:
    """Which documented divergence explains a difference, or None."""
    sequences = set(re.findall(re.escape(esc) + r"([^" + re.escape(esc) + r"]*)" +
                               re.escape(esc), raw))
    if ours == theirs.replace("\r", "\n"):
        return "line break"
    if {s for s in sequences if s in ("H", "N")} and ours == theirs.replace("_", ""):
        return "highlight"
    if any(s.startswith("X") for s in sequences):
        return "hex as UTF-8"
    if any(s[:1] in ("Z", "C", "M") or not s for s in sequences) or raw.count(esc) % 2:
        return "kept sequence"
    return None


def test_unescaping_agrees_with_python_hl7_on_the_corpus(corpus_read, capsys):
    tally: Counter = Counter()
    problems = []
    for message in corpus_read:
        if not message.reader:
            continue
        reference = reference_segments(message)
        seps = reference_separators(reference)
        container = hl7.parse(f"MSH{seps.field}{seps.component}{seps.repetition}{seps.escape}"
                              f"{seps.subcomponent}{seps.field}")
        for raw in _leaves(reference):
            if seps.escape not in raw:
                continue
            ours, theirs = unescape(raw, seps), container.unescape(raw)
            tally["escaped values compared"] += 1
            if ours == theirs:
                continue
            kind = _classify(raw, ours, theirs, seps.escape)
            tally[f"divergence: {kind}" if kind else "disagreement"] += 1
            if kind is None:
                problems.append(f"{message.name}: an escaped value differs")
    with capsys.disabled():
        print(f"\nunescaping, hub vs python-hl7 on the corpus: {dict(sorted(tally.items()))}")
    assert tally["escaped values compared"] >= 50
    assert problems == []
    assert {kind.split(": ", 1)[1] for kind in tally if kind.startswith("divergence")} <= \
        set(DIVERGENCES)


def _leaves(reference):
    """Every subcomponent of every field but MSH-1/MSH-2, as sent."""
    for segment in reference:
        for number, repetitions in segment.fields.items():
            if segment.name == "MSH" and number <= 2:
                continue
            for components in repetitions:
                for subcomponents in components:
                    yield from subcomponents

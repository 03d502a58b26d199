"""HL7 v2 escape sequences (v2.5 section 2.7): decoding values read, encoding values written.

`seps` is anything with the attributes of `hub.hl7.message.Separators` (field, component,
repetition, escape, subcomponent, truncation).
"""
from __future__ import annotations

import binascii
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hub.hl7.message import Separators

_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def _hex_bytes(sequence: str) -> bytes | None:
    """The bytes of an `Xhhhh` sequence, or None when it is not well-formed hex."""
    digits = sequence[1:]
    if not digits or len(digits) % 2 or not _HEX_DIGITS.issuperset(digits):
        return None
    return binascii.unhexlify(digits)


def _decode_hex(data: bytes) -> str:
    # The escape gives bytes without a charset; UTF-8 is what modern senders mean, and latin-1
    # decodes anything, so a value is never lost.
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _line_breaks(sequence: str) -> str | None:
    """Text for `.br` and `.sp<n>` (n line breaks, default 1); None for other sequences."""
    if sequence == ".br":
        return "\n"
    if sequence.startswith(".sp"):
        count = sequence[3:].strip()
        if not count:
            return "\n"
        if count.isdigit():
            return "\n" * max(1, int(count))
    return None


def _is_sequence(sequence: str) -> bool:
    """Whether text between two escape characters has the shape of an escape sequence."""
    if len(sequence) == 1:
        return sequence.isalpha() and sequence.isupper()
    return sequence[:1] in ("X", "Z", "C", "M", ".")


def unescape(value: str, seps: Separators) -> str:
    r"""Decode the escape sequences of one value.

    \F\ \S\ \T\ \R\ \E\ become the separators, \P\ the truncation character (when the message
    has one), \Xhh..\ its bytes (UTF-8 when valid, else latin-1; adjacent hex sequences are
    joined first so a UTF-8 character split over two of them survives), \.br\ and \.sp\ a line
    break; \H\ and \N\ (highlighting) are dropped. \Zxx\, charset escapes and other formatting
    commands are kept as received. An escape character that starts no sequence is kept literally.
    """
    esc = seps.escape
    if not esc or esc not in value:
        return value
    singles = {
        "F": seps.field, "S": seps.component, "T": seps.subcomponent,
        "R": seps.repetition, "E": esc, "H": "", "N": "",
    }
    if seps.truncation:
        singles["P"] = seps.truncation
    out: list[str] = []
    pending_hex = bytearray()
    i = 0
    size = len(value)
    while i < size:
        start = value.find(esc, i)
        if start < 0:
            break
        end = value.find(esc, start + 1)
        if end < 0:
            break
        sequence = value[start + 1:end]
        if not _is_sequence(sequence):
            # Unescaped data (a sender's stray backslash): keep it, look for a sequence after it.
            _flush(out, pending_hex)
            out.append(value[i:start + 1])
            i = start + 1
            continue
        if start > i:
            _flush(out, pending_hex)
            out.append(value[i:start])
        data = _hex_bytes(sequence) if sequence[0] == "X" else None
        if data is not None:
            pending_hex += data
            i = end + 1
            continue
        _flush(out, pending_hex)
        decoded = singles.get(sequence)
        if decoded is None:
            decoded = _line_breaks(sequence)
        out.append(value[start:end + 1] if decoded is None else decoded)
        i = end + 1
    _flush(out, pending_hex)
    out.append(value[i:])
    return "".join(out)


def _flush(out: list[str], pending_hex: bytearray) -> None:
    if pending_hex:
        out.append(_decode_hex(bytes(pending_hex)))
        pending_hex.clear()


def escape(value: str, seps: Separators) -> str:
    r"""Encode a value for a message with these separators; `unescape` gives the value back.

    The escape character is replaced first so later replacements are not escaped twice.
    A line feed becomes \.br\ and a carriage return \X0D\: either would otherwise end the
    segment.
    """
    for plain, escaped in _pairs(seps.escape, seps.field, seps.component, seps.subcomponent,
                                 seps.repetition, seps.truncation):
        if plain in value:
            value = value.replace(plain, escaped)
    return value


@lru_cache(maxsize=64)  # every ACK and mapped field asks, with one of a few sets of separators
def _pairs(esc: str, field: str, component: str, subcomponent: str, repetition: str,
           truncation: str | None) -> tuple[tuple[str, str], ...]:
    """What `escape` replaces, in order: the escape character first."""
    pairs = [
        (esc, f"{esc}E{esc}"),
        (field, f"{esc}F{esc}"),
        (component, f"{esc}S{esc}"),
        (subcomponent, f"{esc}T{esc}"),
        (repetition, f"{esc}R{esc}"),
    ]
    if truncation:
        pairs.append((truncation, f"{esc}P{esc}"))
    # Last, so that no other separator can be one of the characters these two insert.
    pairs += [("\r", f"{esc}X0D{esc}"), ("\n", f"{esc}.br{esc}")]
    return tuple(pairs)

"""Character sets of HL7 v2 messages: MSH-18 (table 0211) to Python codecs, decoding, encoding.

A message's bytes are decoded once, with the codec its MSH-18 names. MSH itself is ASCII, so
MSH-18 can be read from the raw bytes before anything else is decoded. Errors name MSH-18 and a
byte offset, never the bytes: they may be patient data.
"""
from __future__ import annotations

import re
from functools import lru_cache

from hub.errors import HL7Error
from hub.hl7.constants import BOM
from hub.hl7.header import msh_line, parse_header


_CODECS = {
    "": "ascii",
    "ASCII": "ascii",
    "ISO IR6": "ascii",
    "8859/1": "latin-1",
    "ISO IR100": "latin-1",
    "8859/2": "iso8859-2",
    "8859/3": "iso8859-3",
    "8859/4": "iso8859-4",
    "8859/5": "iso8859-5",
    "8859/6": "iso8859-6",
    "8859/7": "iso8859-7",
    "8859/8": "iso8859-8",
    "8859/9": "iso8859-9",
    "8859/15": "iso8859-15",
    "UNICODE UTF-8": "utf-8",
    "UTF-8": "utf-8",
    # Table 0211 deprecates plain "UNICODE"; the senders that still send it mean UTF-8.
    "UNICODE": "utf-8",
}


# Names senders write for the same character sets outside table 0211 (ISO-8859-1, ISO_8859-15,
# LATIN1, UTF8...): unambiguous, so refusing them would only refuse their accented names.
_ISO_8859 = re.compile(r"ISO[-_ ]?8859[-_ ]?(\d{1,2})")
_ALIASES = {"LATIN1": "8859/1", "LATIN-1": "8859/1", "LATIN9": "8859/15", "LATIN-9": "8859/15",
            "UTF8": "UTF-8", "UNICODE UTF8": "UTF-8"}


@lru_cache(maxsize=256)  # every frame asks; a hub hears few names (unknown ones raise, kept out)
def codec_for(msh18: str) -> str:
    """Return the Python codec for an MSH-18 value (HL7 table 0211, and the usual other names
    of its ISO 8859 parts and of UTF-8).

    Case and surrounding whitespace are ignored; when MSH-18 repeats (``~``) the first
    repetition is the message's character set. An empty MSH-18 means ASCII.
    Raises HL7Error("MSH-18: unsupported character set") for anything else.
    """
    name = " ".join(msh18.split("~", 1)[0].strip().upper().split())
    iso = _ISO_8859.fullmatch(name)
    name = f"8859/{int(iso.group(1))}" if iso else _ALIASES.get(name, name)
    try:
        return _CODECS[name]
    except KeyError:
        raise HL7Error("MSH-18: unsupported character set") from None


def _msh18_fields(raw: bytes) -> tuple[str, str]:
    """(MSH-18 as sent, the repetition separator) read from the raw header."""
    line = msh_line(raw)
    if line is None:
        raise HL7Error("no MSH segment")
    header = parse_header(line)
    if header is None:
        raise HL7Error("MSH-1: no field separator")
    charset = header.charset
    if not charset.isascii():
        raise HL7Error("MSH-18: unsupported character set")
    return charset, header.repetition_sep


def read_msh18(raw: bytes) -> str:
    """Return MSH-18 as sent (all repetitions), read from raw bytes without decoding the message.

    The field separator is the byte after "MSH". Returns "" when the header has fewer than 18
    fields. Raises HL7Error when there is no MSH segment or MSH-18 is not ASCII.
    """
    return _msh18_fields(raw)[0]


def decode(raw: bytes, fallback: str = "utf-8") -> tuple[str, str]:
    """Decode a message's bytes with the codec its MSH-18 names; return (text, codec used).

    Decoding is strict. When MSH-18 is empty and the bytes are not ASCII, `fallback` is tried:
    real senders put UTF-8 µ or é in messages with an empty MSH-18. When MSH-18 repeats, the
    first repetition decides. A character set not in table 0211 is accepted only for bytes that
    are all ASCII. A leading UTF-8 byte order mark is dropped. Raises HL7Error naming MSH-18 and
    the offset of the first bad byte, or "MSH-18: unsupported character set".
    """
    msh18, repetition = _msh18_fields(raw)
    return decode_declared(raw, msh18, repetition, fallback)


def decode_declared(raw: bytes, msh18: str, repetition: str,
                    fallback: str = "utf-8") -> tuple[str, str]:
    """`decode` for a caller that read the header already: `msh18` is MSH-18 as sent (all
    repetitions) and `repetition` the message's repetition separator. The listener's sniff
    splits MSH once for its checks and this."""
    if not msh18.isascii():
        raise HL7Error("MSH-18: unsupported character set")
    skipped = len(BOM) if raw.startswith(BOM) else 0
    # HL7 2.5 2.15.9.18: the first repetition is the message's character set; the others are
    # alternates that only escape sequences switch to, and this hub does not switch.
    msh18 = msh18.split(repetition, 1)[0]
    body = raw[skipped:] if skipped else raw
    try:
        codec = codec_for(msh18)
    except HL7Error:
        # An unknown name is harmless while every byte is ASCII, which all of table 0211's
        # byte-oriented sets share; only bytes beyond it need the set to be known.
        if body.isascii():
            return body.decode("ascii"), "ascii"
        raise
    try:
        return body.decode(codec), codec
    except UnicodeDecodeError as declared_failure:
        offset = declared_failure.start + skipped
        if msh18.strip() or not fallback:
            raise HL7Error(f"MSH-18: byte at offset {offset} is not valid {codec}") from None
    try:
        return body.decode(fallback), fallback
    except UnicodeDecodeError as fallback_failure:
        offset = fallback_failure.start + skipped
    raise HL7Error(f"MSH-18 empty: byte at offset {offset} is neither ASCII nor {fallback}")


def encode(text: str, codec: str) -> bytes:
    """Encode text (for example an ACK built from the message's own text) with `codec`.

    Falls back to UTF-8 only when the codec cannot represent the text; characters are never
    replaced by "?", which would corrupt values echoed back to the sender.
    """
    try:
        return text.encode(codec)
    except UnicodeEncodeError:
        return text.encode("utf-8")

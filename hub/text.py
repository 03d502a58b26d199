"""Text for people: what a sender wrote, shown without letting it drive a terminal or a page.

HL7 values may carry control characters, raw or decoded from `\\Xhh\\` escapes: ESC starts
terminal control sequences (clear the screen, move the cursor, rewrite what was printed), C1
controls such as CSI (0x9B) do the same on terminals that honour them, and bidirectional
overrides reorder what is displayed (a value "12" shown as "21"). The stored entry keeps them as
the sender sent them; every human output passes text through `inert` first. JSON output needs
nothing more: `json.dumps` escapes every C0 control (and `inert` is not applied to it).
"""
from __future__ import annotations

import unicodedata

# Explicit direction marks, embeddings, overrides and isolates (Unicode UAX #9).
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
# After a backslash these would start a Python escape: such a backslash is written twice so
# that the rendering reads back exactly (codecs "unicode_escape", which sees characters beyond
# Latin-1 as escapes too). Any other backslash (HL7's \X0D\, \.br\, a stray one) is shown as
# it is.
_ESCAPE_STARTS = frozenset("\\'\"abfnrtvxuUN01234567")


def _unsafe(char: str) -> bool:
    # Cc is C0, DEL and C1; Cs (lone surrogates) cannot even be printed.
    return unicodedata.category(char) in ("Cc", "Cs") or char in _BIDI


def _notation(char: str) -> str:
    code = ord(char)
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def inert(text: str) -> str:
    """`text` with every control character written as a Python-style escape, on one line.

    C0 controls (TAB, LF and CR included: a table cell stays one line), DEL, C1 controls, lone
    surrogates and bidirectional controls become `\\t` `\\n` `\\r`, `\\x1b`, `\\u202e`; a
    backslash that would read as the start of such an escape is doubled. Everything else,
    accented letters included, is kept. Lossless: Python's "unicode_escape" codec reads the
    result back to `text`. Text with nothing to change is returned as it is.
    """
    if text.isprintable() and "\\" not in text:
        return text
    out: list[str] = []
    last = len(text) - 1
    for i, char in enumerate(text):
        if _unsafe(char):
            out.append(_notation(char))
        elif char == "\\" and (i == last or text[i + 1] in _ESCAPE_STARTS
                               or ord(text[i + 1]) > 0xFF or _unsafe(text[i + 1])):
            out.append("\\\\")
        else:
            out.append(char)
    return "".join(out)

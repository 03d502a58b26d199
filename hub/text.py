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


def _unsafe(char: str) -> bool:
    # Cc is C0, DEL and C1; Cs (lone surrogates) cannot even be printed.
    return unicodedata.category(char) in ("Cc", "Cs") or char in _BIDI


def _notation(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def inert(text: str) -> str:
    """`text` on one line with every control character written as an escape a person can read.

    C0 controls (TAB, LF and CR too: a table cell stays one line), DEL, C1 controls, lone
    surrogates and bidirectional controls become `\\xhh` (`\\x1b`, `\\x0a`) or `\\uhhhh`
    (`\\u202e`). A backslash is doubled only where it would read as one of these (before `x`,
    `u` or another backslash), so HL7's own escapes (`\\X0D\\`, `\\.br\\`, `\\S\\`) show as
    they are. Everything else, accented letters included, is kept. Lossless: `\\\\` reads
    back as one backslash and `\\xhh`, `\\uhhhh` as their character. Text with nothing to change
    is returned as it is.
    """
    if text.isprintable() and "\\" not in text:
        return text
    out: list[str] = []
    last = len(text) - 1
    for i, char in enumerate(text):
        if _unsafe(char):
            out.append(_notation(char))
        elif char == "\\" and i < last and (text[i + 1] in "\\xu" or _unsafe(text[i + 1])):
            out.append("\\\\")
        else:
            out.append(char)
    return "".join(out)

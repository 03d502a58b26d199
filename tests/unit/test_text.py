"""`inert`: text shown to people carries no control character, and nothing of it is lost."""
import re
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.text import inert

BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
CONTROLS = st.characters(min_codepoint=0, max_codepoint=0x9F).filter(
    lambda c: unicodedata.category(c) == "Cc")
# Text as senders and attackers write it: letters, HL7 escapes, backslashes, controls, bidi.
TEXTS = st.lists(st.one_of(
    st.text(max_size=8),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=8),
    CONTROLS, st.sampled_from(BIDI), st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
    st.sampled_from(["\\", "\\\\", "\\X1B\\", "\\.br\\", "\\S\\", "\\N\\", "\\x1b", "\\x1", "\\u202e",
                     "\\u20", "x", "u", "1b", "\x1b[2J", "\x9b1m", "é", "€", "\\€"]),
), max_size=12).map("".join)


def read_back(shown: str) -> str:
    """The notation read back: \\\\ is a backslash, \\xhh and \\uhhhh their character."""
    def one(match: re.Match) -> str:
        escape = match.group(1)
        return "\\" if escape == "\\" else chr(int(escape[1:], 16))
    return re.sub(r"\\(\\|x[0-9a-f]{2}|u[0-9a-f]{4})", one, shown)


def is_control(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Cs") or char in BIDI


@settings(max_examples=3000)
@given(TEXTS)
def test_no_control_reaches_a_person_and_nothing_is_lost(text):
    shown = inert(text)
    assert not any(is_control(c) for c in shown), repr(shown)
    assert read_back(shown) == text


@settings(max_examples=500)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cc", "Cf", "Cs"]),
               max_size=40).filter(lambda t: "\\" not in t))
def test_printable_text_is_shown_unchanged(text):
    assert inert(text) == text


def test_the_notation_people_see():
    assert inert("\x1b[2J") == "\\x1b[2J"
    assert inert("a\x00b\x1cc\x07\x7f\x9b") == "a\\x00b\\x1cc\\x07\\x7f\\x9b"
    assert inert("line 1\nline 2\tend\r") == "line 1\\x0aline 2\\x09end\\x0d"
    assert inert("pH \u202e21") == "pH \\u202e21"
    assert inert("Müller, Zoë ß €") == "Müller, Zoë ß €"


def test_hl7_escapes_and_stray_backslashes_stay_readable():
    assert inert("escape it (\\X0D\\ or \\.br\\)") == "escape it (\\X0D\\ or \\.br\\)"
    assert inert("\\H\\bold\\N\\ \\E\\ \\S\\") == "\\H\\bold\\N\\ \\E\\ \\S\\"
    assert inert("C:\\data\\x1b") == "C:\\data\\\\x1b"   # a literal "\x1b" is not an ESC
    assert inert("\\\x1b") == "\\\\\\x1b"

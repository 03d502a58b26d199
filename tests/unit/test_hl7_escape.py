"""Escape sequences: decoding what senders send, encoding what we build, and the round trip."""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.hl7.escape import escape, unescape
from hub.hl7.message import Separators

STANDARD = Separators()
V27 = Separators(truncation="#")
ODD = Separators(field="#", component="!", repetition="@", escape="%", subcomponent="*")


def bs(text: str) -> str:
    """Cases are written with "/" for the backslash: raw strings cannot end in one."""
    return text.replace("/", "\\")


@pytest.mark.parametrize(
    ("escaped", "plain"),
    [
        ("A/F/B", "A|B"), ("A/S/B", "A^B"), ("A/T/B", "A&B"), ("A/R/B", "A~B"),
        ("C:/E/temp", "C:/temp"), ("line1/.br/line2", "line1\nline2"),
        ("a/.sp/b", "a\nb"), ("a/.sp2/b", "a\n\nb"), ("/H/bold/N/ text", "bold text"),
        ("caf/XC3A9/", "café"), ("caf/XC3//XA9/ au lait", "café au lait"),
        ("/XE9/t/XE9/", "été"), ("wrap/X0D//X0A/next", "wrap\r\nnext"),
        ("/Zvendor/ kept", "/Zvendor/ kept"), ("/.in+4/x", "/.in+4/x"),
        ("/Cxxyy/x", "/Cxxyy/x"), ("/XZZ/ bad hex", "/XZZ/ bad hex"),
        ("/P/ no truncation char", "/P/ no truncation char"),
        ("dangling / escape", "dangling / escape"), ("trailing /", "trailing /"),
        ("C:/temp /T/ x", "C:/temp & x"), ("no escapes at all", "no escapes at all"),
    ],
)
def test_unescape(escaped, plain):
    assert unescape(bs(escaped), STANDARD) == bs(plain)


def test_unescape_truncation_and_other_delimiters():
    assert unescape(bs("Apt /P/5"), V27) == "Apt #5"
    assert unescape("%F%%S%%R%%E%%T%a\\b", ODD) == "#!@%*a\\b"


def test_unescape_fast_path_returns_the_same_object():
    value = "PLAIN^VALUE"
    assert unescape(value, STANDARD) is value


def test_escape_escapes_the_escape_character_first():
    assert escape(bs("a/F/b"), STANDARD) == bs("a/E/F/E/b")
    assert escape("x|y^z&w~v", STANDARD) == bs("x/F/y/S/z/T/w/R/v")
    assert escape("line1\r\nline2", STANDARD) == bs("line1/X0D//.br/line2")


def test_escape_truncation_only_when_the_message_has_one():
    assert escape("Apt #5", STANDARD) == "Apt #5"
    assert escape("Apt #5", V27) == bs("Apt /P/5")


text = st.text(alphabet=st.characters(codec="utf-8", categories=None), max_size=40)
delimiter_heavy = st.text(alphabet="|^~\\&#%!@*.\r\nXA0 abé€", max_size=40)


@given(st.one_of(text, delimiter_heavy), st.sampled_from([STANDARD, V27, ODD]))
def test_unescape_of_escape_is_identity(value, seps):
    escaped = escape(value, seps)
    assert unescape(escaped, seps) == value
    # The escaped form carries no delimiter nor line end that would cut the value apart.
    for char in (seps.field, seps.component, seps.repetition, seps.subcomponent, "\r", "\n"):
        assert char not in escaped
    assert escape(unescape(escaped, seps), seps) == escaped

"""Escaping and character sets, generated cases: any text escaped by the hub (hub.hl7.escape),
put in a message whose MSH-18 names a table 0211 set, encoded (hub.hl7.charset.encode), then
decoded (charset.decode) and read by the fast parser comes back equal; and whatever hl7apy's
escaping (TextualDataType.to_er7) encodes, the hub's unescaping decodes back.
"""
from __future__ import annotations

import re

from hl7apy.base_datatypes import TextualDataType
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from hub.hl7.charset import decode, encode
from hub.hl7.escape import escape, unescape
from hub.hl7.message import Message, Separators

SEPARATORS = [Separators(), Separators(truncation="#"), Separators("!", "@", "*", "/", "%")]
CHARSETS = {"": "ascii", "8859/1": "latin-1", "8859/15": "iso8859-15", "UNICODE UTF-8": "utf-8"}
# Documented divergence: hl7apy leaves an escape character that is followed by H, N, F, S, T, R
# or E and another escape character unescaped (its _get_escape_char_regex), so the text "\F\"
# goes out as is and reads back as "|": a bug of hl7apy's, excluded from its round trip.
HL7APY_UNESCAPED = r"(?<!{e}[HNFSTRE]){e}(?![HNFSTRE]{e})"


@settings(max_examples=2000, deadline=None)
@given(st.text(), st.sampled_from(SEPARATORS))
def test_unescape_undoes_escape(text, seps):
    assert unescape(escape(text, seps), seps) == text


@settings(max_examples=2000, deadline=None)
@given(st.text(), st.sampled_from(SEPARATORS), st.sampled_from(sorted(CHARSETS)))
def test_text_survives_escape_msh18_encoding_decoding_and_parsing(text, seps, msh18):
    codec = CHARSETS[msh18]
    try:
        text.encode(codec)
    except UnicodeEncodeError:
        assume(False)  # a set that cannot hold the text is no round trip (the hub sends UTF-8)
    assume("\ufeff" not in text[:1])
    f, enc = seps.field, seps.component + seps.repetition + seps.escape + seps.subcomponent
    enc += seps.truncation or ""
    msh = f.join(["MSH", enc, "LAB", "HOSP", "HUB", "DSP", "20240101", "", "ORU^R01", "C1",
                  "P", "2.5", "", "", "", "", "", msh18])
    raw = encode(f"{msh}\rOBX{f}1{f}TX{f}{f}{f}{escape(text, seps)}\r", codec)
    decoded, used = decode(raw, fallback="")
    assert used == codec
    assert Message.parse(decoded).first("OBX").value(5) == text


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=60))
def test_the_hub_decodes_what_hl7apy_encodes(text):
    chars = {"FIELD": "|", "COMPONENT": "^", "REPETITION": "~", "ESCAPE": "\\",
             "SUBCOMPONENT": "&", "GROUP": "\r", "SEGMENT": "\r"}
    assume(not re.search(r"\\[HNFSTRE]\\", text))  # hl7apy's bug, documented above
    encoded = TextualDataType(text, max_length=None).to_er7(chars)
    assert unescape(encoded, Separators()) == text

"""MSH-18 to codec, decoding with a fallback for senders that leave MSH-18 empty, encoding."""
import pytest

from hub.errors import HL7Error
from hub.hl7.charset import codec_for, decode, encode, read_msh18


def header(msh18: str, *, separator: str = "|", encoding: str = "^~\\&") -> str:
    fields = ["MSH", encoding, "APP", "FAC", "", "", "20240101", "", "ADT^A01", "1", "P",
              "2.5", "", "", "", "", "", msh18]
    return separator.join(fields)


def message(msh18: str, name: str, codec: str, **kwargs: str) -> bytes:
    return f"{header(msh18, **kwargs)}\rPID|1||x||{name}\r".encode(codec)


@pytest.mark.parametrize(
    ("msh18", "codec"),
    [
        ("", "ascii"), ("ASCII", "ascii"), ("ISO IR6", "ascii"), ("8859/1", "latin-1"),
        ("ISO IR100", "latin-1"), ("8859/2", "iso8859-2"), ("8859/9", "iso8859-9"),
        ("8859/15", "iso8859-15"), ("UNICODE UTF-8", "utf-8"), ("UTF-8", "utf-8"),
        ("UNICODE", "utf-8"), (" unicode utf-8 ", "utf-8"), ("8859/15~UNICODE UTF-8", "iso8859-15"),
    ],
)
def test_codec_for_table_0211(msh18, codec):
    assert codec_for(msh18) == codec


@pytest.mark.parametrize(
    ("msh18", "codec"),
    [("ISO-8859-1", "latin-1"), ("iso8859-15", "iso8859-15"), ("ISO_8859_2", "iso8859-2"),
     ("latin-1", "latin-1"), ("LATIN9", "iso8859-15"), ("utf8", "utf-8")],
)
def test_codec_for_the_usual_other_names_of_the_same_character_sets(msh18, codec):
    assert codec_for(msh18) == codec


@pytest.mark.parametrize("msh18", ["EBCDIC", "8859/16", "ISO-8859-16", "UNICODE UTF-16",
                                   "WINDOWS-1252"])
def test_codec_for_unknown_charset_is_an_hl7_error(msh18):
    with pytest.raises(HL7Error, match="MSH-18: unsupported character set"):
        codec_for(msh18)


def test_read_msh18_from_bytes_with_other_delimiters_and_no_decoding():
    raw = message("8859/15", "Müller", "iso8859-15", separator="#", encoding="!@%*")
    assert read_msh18(raw) == "8859/15"


def test_read_msh18_when_header_is_short_or_after_a_bom_and_blank_line():
    assert read_msh18(b"MSH|^~\\&|APP|FAC\rPID|1\r") == ""
    assert read_msh18(b"\xef\xbb\xbf\r\n" + header("UNICODE UTF-8").encode() + b"\r") == (
        "UNICODE UTF-8"
    )


def test_read_msh18_without_msh_is_an_hl7_error():
    with pytest.raises(HL7Error, match="no MSH segment"):
        read_msh18(b"PID|1||x\rXMSH|^~\\&\r")


@pytest.mark.parametrize("name", ["Lëtzebuerg é", "Weiß Müller", "Prix 5 €"])
def test_decode_8859_15(name):
    text, codec = decode(message("8859/15", name, "iso8859-15"))
    assert codec == "iso8859-15"
    assert text.endswith(f"|{name}\r")


def test_decode_8859_1():
    text, codec = decode(message("8859/1", "Renée Kärcher ß", "latin-1"))
    assert (codec, text.split("|")[-1]) == ("latin-1", "Renée Kärcher ß\r")


def test_decode_utf8_declared():
    text, codec = decode(message("UNICODE UTF-8", "Zoë µg €", "utf-8"))
    assert (codec, text.split("|")[-1]) == ("utf-8", "Zoë µg €\r")


def test_empty_msh18_with_utf8_bytes_uses_the_fallback():
    text, codec = decode(message("", "5 µmol/L é", "utf-8"))
    assert (codec, text.split("|")[-1]) == ("utf-8", "5 µmol/L é\r")


def test_empty_msh18_and_ascii_bytes_is_ascii():
    assert decode(message("", "Dupont", "ascii"))[1] == "ascii"


def test_empty_msh18_with_latin1_bytes_and_no_fallback_match_names_offset_not_bytes():
    raw = message("", "Ren\xe9e", "latin-1")
    with pytest.raises(HL7Error) as caught:
        decode(raw)
    offset = raw.index(b"\xe9")
    assert str(caught.value) == (
        f"MSH-18 empty: byte at offset {offset} is neither ASCII nor utf-8"
    )


def test_a_different_fallback_is_honoured():
    assert decode(message("", "Ren\xe9e", "latin-1"), fallback="latin-1")[1] == "latin-1"


def test_declared_utf8_with_latin1_bytes_is_an_error_without_fallback():
    raw = message("UNICODE UTF-8", "Ren\xe9e", "latin-1")
    offset = raw.index(b"\xe9")
    with pytest.raises(HL7Error, match=f"MSH-18: byte at offset {offset} is not valid utf-8"):
        decode(raw, fallback="latin-1")


def test_declared_ascii_with_utf8_bytes_is_an_error():
    with pytest.raises(HL7Error, match="MSH-18"):
        decode(message("ASCII", "é", "utf-8"))


def test_bom_is_dropped_and_offsets_count_it():
    text, _ = decode(b"\xef\xbb\xbf" + message("UNICODE UTF-8", "é", "utf-8"))
    assert text.startswith("MSH|")
    raw = b"\xef\xbb\xbf" + message("", "\xff", "latin-1")
    offset = raw.index(b"\xff")
    with pytest.raises(HL7Error, match=f"offset {offset} "):
        decode(raw)


def test_msh18_repetition_uses_the_message_repetition_separator():
    raw = message("8859/15@UNICODE UTF-8", "€", "iso8859-15", encoding="^@\\&")
    assert decode(raw) == (raw.decode("iso8859-15"), "iso8859-15")


def test_encode_uses_the_codec_and_falls_back_to_utf8_only_when_needed():
    assert encode("Müller", "latin-1") == "Müller".encode("latin-1")
    assert encode("€", "iso8859-15") == b"\xa4"
    assert encode("Müller €", "latin-1") == "Müller €".encode("utf-8")
    assert encode("ACK", "ascii") == b"ACK"


def test_first_repetition_is_the_character_set_the_others_are_alternates():
    raw = message("8859/15~UNICODE UTF-8", "Œuvre Šebek 5 €", "iso8859-15")
    assert decode(raw) == (raw.decode("iso8859-15"), "iso8859-15")
    # Read as UTF-8 (the alternate), these bytes would not decode at all.
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")


def test_an_unknown_character_set_is_harmless_while_every_byte_is_ascii():
    # oehf-ipf's msg-02.hl7 sends MSH-18 "code1~code2"
    raw = message("code1~code2", "Dupont", "ascii")
    assert decode(raw) == (raw.decode("ascii"), "ascii")
    with pytest.raises(HL7Error, match="MSH-18: unsupported character set"):
        decode(message("code1~code2", "Dupré", "latin-1"), fallback="latin-1")


def test_8859_15_differs_from_8859_1_where_it_should():
    name = "Œuvre Šebek €"
    text, codec = decode(message("8859/15", name, "iso8859-15"))
    assert codec == "iso8859-15" and text.split("|")[-1] == f"{name}\r"
    latin1_text, _ = decode(message("8859/1", name, "iso8859-15"))
    assert name not in latin1_text   # the same bytes read as 8859/1 are other characters

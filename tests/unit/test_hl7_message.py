"""The split-based reader: separators, numbering, repetitions, escapes, line ends, header."""
import pytest

from hub.errors import HL7Error
from hub.hl7.message import Message, Separators
from hub.hl7.path import Path

ORU = "\r".join([
    "MSH|^~\\&|LABSYS^2.16.442.1^ISO|LABO|HUB|DSP|20240301101500||ORU^R01^ORU_R01|MSG0001|P|"
    "2.5^LUX|||AL|NE||8859/15",
    "PID|1||LAB42^^^LABO^PI~1893120105732^^^CNS&1.2.3&ISO^NN||Schmit^Anne Marie^^^^^L~"
    "Weber^Anne||19890312|F",
    "OBR|1|ORD1|FIL1|24331-1^Lipid panel^LN",
    "OBX|1|NM|2093-3^Cholesterol^LN||5.2|mmol/L|<5.0|H|||F",
    "OBX|2|FT|NOTE^Comment^L||Fasting\\.br\\sample \\T\\ lipaemic \\S\\ see note|||||F",
    "ZLX|1|vendor&data^x",
]) + "\r"


def test_separators_and_header_helpers():
    msg = Message.parse(ORU)
    assert msg.separators == Separators("|", "^", "~", "\\", "&", None)
    assert (msg.type, msg.structure, msg.control_id, msg.version) == (
        "ORU^R01", "ORU_R01", "MSG0001", "2.5"
    )
    assert msg.sender == "LABSYS^LABO"


def test_msh_numbering_counts_the_field_separator_as_msh_1():
    msh = Message.parse(ORU).first("MSH")
    assert (msh.value(1), msh.value(2), msh.value(3, 1), msh.value(10)) == (
        "|", "^~\\&", "LABSYS", "MSG0001"
    )
    assert msh.repetitions(2) == ["^~\\&"]
    assert msh.value(18) == "8859/15"
    assert msh.field_count == 18


def test_other_segments_count_from_the_first_field_after_the_name():
    pid = Message.parse(ORU).first("PID")
    assert (pid.name, pid.value(1), pid.value(7), pid.value(8)) == ("PID", "1", "19890312", "F")
    assert pid.field_count == 8
    assert pid.value(30) == ""


def test_repetitions_components_and_subcomponents():
    msg = Message.parse(ORU)
    pid = msg.first("PID")
    assert pid.repetitions(3) == ["LAB42^^^LABO^PI", "1893120105732^^^CNS&1.2.3&ISO^NN"]
    assert pid.components(3, 1) == ["1893120105732", "", "", "CNS&1.2.3&ISO", "NN"]
    assert pid.value(3, 4, 2, repetition=1) == "1.2.3"
    assert pid.value(3, 4, repetition=1) == "CNS&1.2.3&ISO"
    assert pid.value(5, 1, repetition=1) == "Weber"
    assert pid.value(3, 1, repetition=2) == ""
    assert pid.value(3, 9) == "" and pid.value(3, 1, 5) == ""
    assert pid.components(2) == [] and pid.repetitions(2) == []
    assert msg.value("PID-3[2].4.1") == "CNS"
    assert msg.value(Path("PID", 3, 5, repetition=2)) == "NN"
    assert msg.value("PID-3") == "LAB42^^^LABO^PI"
    assert msg.value("PID-5.2") == "Anne Marie"


def test_values_are_unescaped_per_the_documented_rule():
    msg = Message.parse(ORU)
    obx2 = msg.segments_named("OBX")[1]
    assert obx2.value(5) == "Fasting\nsample & lipaemic ^ see note"
    assert obx2.components(5) == ["Fasting\nsample & lipaemic ^ see note"]
    assert msg.value("ZLX-2.1") == "vendor&data" and msg.value("ZLX-2.1.2") == "data"


def test_segments_named_and_first():
    msg = Message.parse(ORU)
    assert [s.name for s in msg.segments] == ["MSH", "PID", "OBR", "OBX", "OBX", "ZLX"]
    assert [s.value(3, 2) for s in msg.segments_named("OBX")] == ["Cholesterol", "Comment"]
    assert msg.segments_named("NTE") == [] and msg.first("NTE") is None
    assert msg.value("NTE-3") == "" and msg.value("OBX-3.1") == "2093-3"


@pytest.mark.parametrize("line_end", ["\n", "\r\n", "\r\r\n\n"])
def test_lf_and_crlf_endings_and_blank_lines(line_end):
    msg = Message.parse(ORU.replace("\r", line_end) + "\n  \n")
    assert [s.name for s in msg.segments] == ["MSH", "PID", "OBR", "OBX", "OBX", "ZLX"]
    assert msg.segments_named("OBX")[1].value(5) == "Fasting\nsample & lipaemic ^ see note"
    assert msg.value("ZLX-2.2") == "x" and msg.value("MSH-18") == "8859/15"


def test_truncation_character_in_msh_2():
    msg = Message.parse("MSH|^~\\&#|A|B|||||ADT^A01|7|P|2.5\rPID|1||123^^^^NN||Apt \\P\\2 #3\r")
    assert msg.separators.truncation == "#"
    assert msg.first("MSH").value(2) == "^~\\&#"
    assert (msg.control_id, msg.value("PID-3.5"), msg.value("PID-5")) == ("7", "NN", "Apt #2 #3")


def test_non_default_delimiters():
    text = (
        "MSH#!@%*#SND#FAC#RCV#FAC#20260301##ADT!A01#C7#P#2.5\r"
        "PID#1##1!!!A*B!NN@9##DOE!JOHN%S%X\r"
    )
    msg = Message.parse(text)
    assert msg.separators == Separators("#", "!", "@", "%", "*", None)
    assert (msg.type, msg.control_id, msg.sender) == ("ADT^A01", "C7", "SND^FAC")
    assert msg.value("PID-3.4.2") == "B" and msg.value("PID-3[2]") == "9"
    assert msg.value("PID-5.2") == "JOHN!X"


def test_curly_subcomponent_and_ack_without_event():
    msg = Message.parse("MSH|^~\\}|R|M|A|A|1993||ACK^|589|P|2.1\rMSA|AA|x}y\r")
    assert msg.separators.subcomponent == "}"
    assert msg.type == "ACK" and msg.value("MSA-2.1.2") == "y"


def test_sender_falls_back_to_the_universal_id():
    msg = Message.parse("MSH|^~\\&|^1.2.3^ISO|FAC|||||ADT^A01|1|P|2.5\r")
    assert msg.sender == "1.2.3^FAC"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "no MSH segment"), ("\r\n", "no MSH segment"),
        ("PID|1\rMSH|^~\\&|A\r", "no MSH segment"), ("\x00\x01binary", "no MSH segment"),
        ("MSH", "MSH-1"), ("MSH||A|B\r", "MSH-2"), ("MSH|^~\\|A\r", "MSH-2"),
        ("MSH|&&&&|A\r", "MSH-2"), ("MSH|^~\\\\&|A\r", "MSH-2"), ("MSH|^~\\&#$|A\r", "MSH-2"),
        ("MSH|^~ &|A\r", "MSH-2"), ("MSH|^~\\A|x\r", "MSH-2"),
    ],
)
def test_unreadable_headers_are_hl7_errors(text, reason):
    with pytest.raises(HL7Error, match=reason):
        Message.parse(text)


def test_fields_are_split_lazily_and_segments_hide_their_text_in_repr():
    msg = Message.parse(ORU)
    pid = msg.first("PID")
    assert not pid.is_split
    assert pid.value(8) == "F" and pid.is_split
    assert not msg.segments_named("OBX")[0].is_split
    assert "Schmit" not in repr(pid) and "Schmit" not in repr(msg)


def test_bad_numbers_raise_value_error():
    pid = Message.parse(ORU).first("PID")
    with pytest.raises(ValueError):
        pid.value(0)
    with pytest.raises(ValueError):
        pid.value(3, repetition=-1)
    with pytest.raises(ValueError):
        pid.value(3, None, 1)


@pytest.mark.parametrize("text", ["PID-3", "PID-5.1", "OBX-3.1.2", "PID-3[2].1", "ZX1-12[3]"])
def test_path_round_trips(text):
    assert str(Path.parse(text)) == text


def test_path_fields():
    assert Path.parse("PID-3[2].1") == Path("PID", 3, component=1, repetition=2)
    assert Path.parse("OBX-3.1.2") == Path("OBX", 3, 1, 2)


@pytest.mark.parametrize("text", ["PID", "PID-", "pid-3", "PID-0", "PID-3.", "PID-3[0]",
                                  "PID-3.1.2.3", "PID-3[x]", "PID-03", " PID-3", "PI-3"])
def test_malformed_paths(text):
    with pytest.raises(ValueError, match=repr(text).replace("[", r"\[").replace(".", r"\.")):
        Path.parse(text)
    with pytest.raises(ValueError):
        Message.parse(ORU).value(text)


def test_path_rejects_a_subcomponent_without_component():
    with pytest.raises(ValueError):
        Path("PID", 3, subcomponent=1)


def test_type_and_structure_ignore_spaces_around_msh9_components_as_the_listener_does():
    # The listener's sniff strips MSH-9's components and answers AA for "ORU^R01 "; the worker
    # looks the mapping up by Message.type, so an unstripped type parked it as unmapped.
    msg = Message.parse(ORU.replace("ORU^R01^ORU_R01", " ORU ^R01 ^ ORU_R01 ", 1))
    assert (msg.type, msg.structure) == ("ORU^R01", "ORU_R01")


def test_values_in_one_pass_read_as_value_does():
    """Segment.values (the mapper's one pass over an OBX) gives what value gives, read by read:
    repetitions, components, subcomponents, escapes, absent and empty parts, HL7 null, MSH."""
    msg = Message.parse("MSH|^~\\&|APP^1.2&ISO|FAC|||20261125||ORU^R01^ORU_R01|C1|P|2.5\r"
                        "OBX|1|CWE|a^b\\T\\c^LN~d^e&f||\"\"|~x^y&z&w|||||F||||20261125093000\r"
                        "ZZZ\r")
    reads = [(field, component, subcomponent, repetition)
             for field in range(1, 16) for repetition in range(3)
             for component in (None, 1, 2, 3, 5)
             for subcomponent in ((None,) if component is None else (None, 1, 2, 3))]
    for segment in msg.segments:
        wanted: dict[tuple[int, int], list[tuple[int, int | None, int | None]]] = {}
        for slot, (field, component, subcomponent, repetition) in enumerate(reads):
            wanted.setdefault((field, repetition), []).append((slot, component, subcomponent))
        got = segment.values(tuple((f, r, tuple(w)) for (f, r), w in wanted.items()), len(reads))
        assert got == [segment.value(*read) for read in reads]


def test_decoded_repetitions_read_each_repetition_as_value_does():
    msg = Message.parse(ORU.replace("|5.2|", "|5.2~\\T\\6~~\"\"|"))
    for segment in msg.segments:
        for field in range(1, segment.field_count + 2):
            expected = [segment.value(field, repetition=n)
                        for n in range(len(segment.repetitions(field)))]
            assert segment.decoded_repetitions(field) == expected, (segment.name, field)
    obx = msg.segments_named("OBX")
    assert obx[0].decoded_repetitions(5) == ["5.2", "&6", "", '""']
    assert obx[1].decoded_repetitions(5) == ["Fasting\nsample & lipaemic ^ see note"]
    assert msg.first("MSH").decoded_repetitions(2) == ["^~\\&"]
    assert msg.first("MSH").decoded_repetitions(99) == []


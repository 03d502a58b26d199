"""Reading MFN^M02 staff master files into registry changes (a pure function)."""
import re

import pytest

from hub.domain.professional import Professional, ProfessionalStatus
from hub.errors import MappingError
from hub.hl7.message import Message
from hub.registry.mfn import professionals_from_mfn

MSH = "MSH|^~\\&|HR|CHL|DSP|HUB|20250102120000||MFN^M02^MFN_M02|MF1|P|2.5|||AL|NE||UNICODE UTF-8"
MFI = "MFI|STF^Staff master file^HL70175||UPD|||AL"
ACTIVE, SUSPENDED = ProfessionalStatus.ACTIVE, ProfessionalStatus.SUSPENDED


def mfn(*segments: str, msh: str = MSH, mfi: str | None = MFI) -> Message:
    lines = [msh] + ([mfi] if mfi is not None else []) + list(segments)
    return Message.parse("\r".join(lines))


def record(event: str, code: str, name: str = "Weber^Anne", specialty: str = "GP",
           flag: str = "A") -> tuple[str, str, str]:
    return (f"MFE|{event}|||{code}^^CNS",
            f"STF|{code}|{code}^^^CNS^CNS|{name}|D||19700101|{flag}",
            f"PRA|{code}||{specialty}")


def test_an_added_record_gives_code_name_specialty_and_active_status():
    changes = professionals_from_mfn(mfn(*record("MAD", "123456-78", "Müller^Jörg", "CAR")))
    assert changes == [("MAD", Professional("123456-78", "Müller", "Jörg", "CAR", ACTIVE))]


def test_each_record_event_in_message_order():
    msg = mfn(*record("MAD", "111111-11"), *record("MUP", "222222-22", flag="I"),
              "MFE|MDL|||333333-33^^CNS", "MFE|MDC|||444444-44", "MFE|MAC|||555555-55",
              "MFE|mup|||666666-66", "STF|666666-66||Klein^Paul|||||")
    changes = professionals_from_mfn(msg)
    assert [(event, p.cns_code, p.status) for event, p in changes] == [
        ("MAD", "111111-11", ACTIVE), ("MUP", "222222-22", SUSPENDED),
        ("MDL", "333333-33", SUSPENDED), ("MDC", "444444-44", SUSPENDED),
        ("MAC", "555555-55", ACTIVE), ("MUP", "666666-66", ACTIVE)]
    assert changes[5][1].family_name == "Klein" and changes[5][1].given_name == "Paul"


def test_the_cns_code_comes_from_stf2_then_pra1_then_mfe4():
    stf2 = mfn("MFE|MAD|||LOCAL-7", "STF|LOCAL-7|X99^^^CHL~123456-78^^^CNS|Weber^Anne")
    pra1 = mfn("MFE|MAD|||LOCAL-7", "STF|LOCAL-7|X99^^^CHL|Weber^Anne", "PRA|223456-78")
    mfe4 = mfn("MFE|MAD|||323456-78^Weber^CNS", "STF|||Weber^Anne")
    assert professionals_from_mfn(stf2)[0][1].cns_code == "123456-78"
    assert professionals_from_mfn(pra1)[0][1].cns_code == "223456-78"
    assert professionals_from_mfn(mfe4)[0][1].cns_code == "323456-78"


def test_in_stf2_a_repetition_marked_cns_wins_over_an_earlier_one_of_the_same_form():
    msg = mfn("MFE|MAD|||", "STF||999999-99^^^CHL^EI~123456-78^^^^CNS|Weber^Anne")
    assert professionals_from_mfn(msg)[0][1].cns_code == "123456-78"
    unmarked = mfn("MFE|MAD|||", "STF||X1~999999-99~123456-78|Weber^Anne")
    assert professionals_from_mfn(unmarked)[0][1].cns_code == "999999-99"


def test_two_sources_naming_different_professionals_refuse_the_message():
    msg = mfn("MFE|MUP|||223456-78", "STF||123456-78^^^CNS|Weber^Anne")
    with pytest.raises(MappingError, match="record 1: STF-2 carries CNS code 123456-78 but "
                                           "MFE-4 carries 223456-78"):
        professionals_from_mfn(msg)


def test_a_record_without_any_cns_code_names_its_number():
    msg = mfn(*record("MAD", "123456-78"), "MFE|MAD|||LOCAL-9", "STF|LOCAL-9|X9^^^CHL|Roth^Eva")
    reason = "record 2: no CNS code (NNNNNN-NN) in STF-2, PRA-1 or MFE-4"
    with pytest.raises(MappingError, match=re.escape(reason)):
        professionals_from_mfn(msg)


def test_an_unknown_record_event_code_is_refused():
    with pytest.raises(MappingError,
                       match="MFE-1 of record 1: unknown record-level event code 'MXX'"):
        professionals_from_mfn(mfn("MFE|MXX|||123456-78"))
    with pytest.raises(MappingError, match="MFE-1 of record 1: unknown record-level event code ''"):
        professionals_from_mfn(mfn("MFE||||123456-78"))


def test_an_active_flag_other_than_a_or_i_is_refused():
    with pytest.raises(MappingError, match="STF-7 of record 1: 'Y' is not A"):
        professionals_from_mfn(mfn(*record("MAD", "123456-78", flag="Y")))


def test_specialty_falls_back_to_stf4_then_pra5():
    from_stf4 = mfn("MFE|MAD|||123456-78", "STF|||Weber^Anne|PHY~NUR", "PRA|123456-78||")
    from_pra5 = mfn("MFE|MAD|||123456-78", "STF|||Weber^Anne", "PRA|123456-78||||ONCO^Board^C")
    assert professionals_from_mfn(from_stf4)[0][1].specialty == "PHY"
    assert professionals_from_mfn(from_pra5)[0][1].specialty == "ONCO"


def test_segments_belong_to_the_record_they_follow():
    msg = mfn("MFE|MAD|||111111-11", "MFE|MAD|||222222-22", "STF|||Roth^Eva", "PRA|||CAR")
    first, second = (p for _, p in professionals_from_mfn(msg))
    assert (first.family_name, first.specialty) == ("", "")
    assert (second.family_name, second.given_name, second.specialty) == ("Roth", "Eva", "CAR")


def test_names_are_read_with_escapes_decoded_and_the_surname_without_prefixes():
    msg = mfn("MFE|MAD|||123456-78", "STF|||van der Berg&van der&Berg^Ann\\T\\Sophie")
    professional = professionals_from_mfn(msg)[0][1]
    assert professional.family_name == "van der Berg"
    assert professional.given_name == "Ann&Sophie"


def test_status_events_carry_only_code_and_status():
    (event, professional), = professionals_from_mfn(mfn(*record("MDC", "123456-78")))
    assert event == "MDC"
    assert professional == Professional("123456-78", "", "", "", SUSPENDED)


@pytest.mark.parametrize("msh, mfi, segments, reason", [
    (MSH.replace("MFN^M02^MFN_M02", "ADT^A01"), MFI, record("MAD", "123456-78"),
     "MSH-9: ADT^A01 is not an MFN"),
    (MSH, "MFI|LOC^Location master file||UPD", record("MAD", "123456-78"),
     "MFI-1: master file LOC is not staff"),
    (MSH, MFI, (), "MFE: the message has no master file record"),
], ids=["not-mfn", "location-file", "no-record"])
def test_messages_that_are_not_staff_master_files_are_refused(msh, mfi, segments, reason):
    with pytest.raises(MappingError, match=re.escape(reason)):
        professionals_from_mfn(mfn(*segments, msh=msh, mfi=mfi))


def test_a_practitioner_file_or_a_missing_mfi_is_accepted():
    pra_file = mfn(*record("MAD", "123456-78"), mfi="MFI|PRA||UPD")
    no_mfi = mfn(*record("MAD", "123456-78"), mfi=None)
    assert professionals_from_mfn(pra_file) == professionals_from_mfn(no_mfi)
    assert len(professionals_from_mfn(no_mfi)) == 1

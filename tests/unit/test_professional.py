"""The professional's domain rules: CNS code format, status, destination, who may receive."""
import dataclasses

import pytest

from hub.domain.professional import (
    Destination, Professional, ProfessionalStatus, validate_cns_code,
)
from hub.errors import HubError, InvalidCnsCode

DEST = Destination("10.0.0.7", 2575, "EMR", "CABINET")


@pytest.mark.parametrize("text, code", [
    ("123456-78", "123456-78"),
    ("000000-00", "000000-00"),
    ("  123456-78\t", "123456-78"),
])
def test_a_well_formed_cns_code_is_returned_without_blanks(text, code):
    assert validate_cns_code(text) == code


@pytest.mark.parametrize("text", [
    "", "12345678", "12345-678", "1234567-8", "123456-7", "123456-789", "1234567-89",
    "12345a-78", "123456_78", "123456 78", "123456--78", "١٢٣٤٥٦-٧٨",  # Arabic-Indic digits
    "123456-78x", "x123456-78",
])
def test_a_malformed_cns_code_is_refused(text):
    with pytest.raises(InvalidCnsCode, match="NNNNNN-NN"):
        validate_cns_code(text)


def test_invalid_cns_code_is_a_hub_error_so_the_cli_prints_one_line():
    assert issubclass(InvalidCnsCode, HubError)


def test_a_very_long_bad_code_is_shortened_in_the_message():
    with pytest.raises(InvalidCnsCode) as caught:
        validate_cns_code("9" * 500)
    assert len(str(caught.value)) < 80


def test_a_professional_validates_its_code_and_keeps_status_as_an_enum():
    professional = Professional(" 123456-78 ", "Weber", "Anne", "GP", "suspended")
    assert professional.cns_code == "123456-78"
    assert professional.status is ProfessionalStatus.SUSPENDED
    assert professional.status == "suspended"
    with pytest.raises(InvalidCnsCode):
        Professional("12-34", "Weber", "Anne", "GP")


def test_an_unknown_status_is_refused():
    with pytest.raises(ValueError, match="unknown status 'retired'"):
        Professional("123456-78", "Weber", "Anne", "GP", "retired")


def test_professionals_are_values():
    a = Professional("123456-78", "Weber", "Anne", "GP", "active", DEST)
    b = Professional("123456-78", "Weber", "Anne", "GP", ProfessionalStatus.ACTIVE,
                     Destination("10.0.0.7", 2575, "EMR", "CABINET"))
    assert a == b
    assert a != dataclasses.replace(b, destination=dataclasses.replace(DEST, tls=True))
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.status = ProfessionalStatus.SUSPENDED


@pytest.mark.parametrize("status, destination, can_read, can_receive", [
    ("active", DEST, True, True),
    ("active", None, True, False),
    ("suspended", DEST, False, False),
    ("suspended", None, False, False),
])
def test_only_active_professionals_read_and_only_those_with_a_destination_receive(
        status, destination, can_read, can_receive):
    professional = Professional("123456-78", "Weber", "Anne", "GP", status, destination)
    assert professional.can_read is can_read
    assert professional.can_receive is can_receive


@pytest.mark.parametrize("port", [0, -1, 65536, True, "2575", 2575.0])
def test_a_destination_port_must_be_a_whole_number_in_range(port):
    with pytest.raises(ValueError):
        Destination("10.0.0.7", port, "EMR", "CABINET")


def test_a_destination_needs_a_host_and_defaults_to_plain_mllp():
    assert Destination("h", 1, "A", "F").tls is False
    assert Destination("h", 65535, "A", "F", tls=True).tls is True
    with pytest.raises(ValueError, match="host"):
        Destination("", 2575, "EMR", "CABINET")

"""Routing rules: checked at load (a wrong file stops the hub, naming file and rule), and matched
against messages without touching the store."""
from pathlib import Path

import pytest

from hub.errors import ConfigError
from hub.hl7.message import Message
from hub.routing.routes import Candidate, load_routes
from hub.settings import REPO_ROOT

ORU = ("MSH|^~\\&|LABSYS|CHL|DSP|DSP|20261125101500||ORU^R01^ORU_R01|C1|P|2.5\r"
       "PV1|1|O|||||523456-78^Att^Ann\r"
       "ORC|RE|||||||||||123456-78^Ord^Olga\r"
       "OBR|1|||x" + "|" * 12 + "123456-78^Ord^Olga" + "|" * 12 + "223456-78^C^C~323456-78^D^D\r"
       "OBX|1|NM|x||1\r")


def routes_from(tmp_path: Path, text: str):
    path = tmp_path / "routing.toml"
    path.write_text(text)
    return load_routes(path)


def test_the_shipped_routing_loads():
    routes = load_routes(REPO_ROOT / "config" / "routing.toml")
    assert [(r.message, r.to) for r in routes.routes] == [
        ("ORU^R01", ("ordering_provider", "referent")),
        ("MDM^T02", ("referent", "attending_doctor"))]


@pytest.mark.parametrize("text, problem", [
    ('[[route]]\nmessage = "ORU^R01"\nto = ["surgeon"]\n', "route 1: unknown role 'surgeon'"),
    ('[[route]]\nmessage = "ORU^R01"\nto = ["destination:lab"]\n', "unknown destination 'lab'"),
    ('[destinations]\nlab = "12-3"\n', "destinations.lab: CNS code"),
    ('[[route]]\nmessage = "ORU"\nto = ["referent"]\n', "route 1: message"),
    ('[[route]]\nmessage = "ORU^R01"\nto = []\n', "route 1: to"),
    ('[[route]]\nmessage = "ORU^R01"\nto = ["referent"]\nwho = 1\n', "route 1: who"),
    ('[[route]\n', "cannot read the routing file"),
])
def test_a_wrong_file_is_refused_naming_file_and_rule(tmp_path, text, problem):
    with pytest.raises(ConfigError) as refused:
        routes_from(tmp_path, text)
    assert str(tmp_path / "routing.toml") in str(refused.value)
    assert problem in str(refused.value)


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="routing file not found"):
        load_routes(tmp_path / "nowhere.toml")


def test_candidates_by_role_each_once_in_rule_order(tmp_path):
    routes = routes_from(tmp_path, '[destinations]\narchive = "623456-78"\n'
                         '[[route]]\nmessage = "ORU^*"\n'
                         'to = ["ordering_provider", "result_copies", "referent"]\n'
                         '[[route]]\nmessage = "ORU^R01"\nto = ["attending_doctor", '
                         '"ordering_provider", "destination:archive"]\n')
    found = routes.candidates(Message.parse(ORU), "ORU^R01", "LABSYS^CHL", {"lab_result"})
    assert found == [
        Candidate("ordering_provider", "123456-78", "ORC-12"),
        Candidate("result_copies", "223456-78", "OBR-28"),
        Candidate("result_copies", "323456-78", "OBR-28"),
        Candidate("referent", ""),
        Candidate("attending_doctor", "523456-78", "PV1-7"),
        Candidate("destination:archive", "623456-78", "config"),
    ]


@pytest.mark.parametrize("rule, matches", [
    ('message = "ORU^R01"', True),
    ('message = "ORU^*"', True),
    ('message = "ORU^R30"', False),
    ('message = "ADT^*"', False),
    ('message = "ORU^R01"\nsender = "LABSYS^*"', True),
    ('message = "ORU^R01"\nsender = "OTHER^*"', False),
    ('message = "ORU^R01"\nentry_kinds = ["lab_result", "document"]', True),
    ('message = "ORU^R01"\nentry_kinds = ["document"]', False),
])
def test_a_rule_matches_by_type_sender_and_entry_kind(tmp_path, rule, matches):
    routes = routes_from(tmp_path, f'[[route]]\n{rule}\nto = ["referent"]\n')
    found = routes.candidates(Message.parse(ORU), "ORU^R01", "LABSYS^CHL", {"lab_result"})
    assert bool(found) is matches

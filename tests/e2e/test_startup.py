"""What the hub says when it cannot start: one clear line, a non-zero exit, no traceback."""
from __future__ import annotations

import shutil
from pathlib import Path

from tests.fixtures.hub_process import REPO, HubEnv
from tests.fixtures.messages import patient


def _env(tmp_path, database: bool = False) -> HubEnv:
    """A hub on a SQLite file under tmp_path; with `database`, created by `hub db upgrade`."""
    env = HubEnv(tmp_path, f"sqlite:///{tmp_path / 'hub.db'}", broker_url="memory://")
    if database:
        env.create_database()
    return env


def test_a_bad_mapping_file_stops_the_hub_naming_file_line_and_field(tmp_path):
    mappings = tmp_path / "mappings"
    shutil.copytree(REPO / "mappings", mappings)
    oru = mappings / "ORU_R01.toml"
    oru.write_text(oru.read_text().replace('unit = ["OBX-6.1", "OBX-6.2"]', 'unit = "OBX-66"'))
    env = _env(tmp_path)
    env.env["HUB_MAPPINGS_DIR"] = str(mappings)

    result = env.hub("serve", check=False)

    assert result.returncode == 2
    assert "ORU_R01.toml:" in result.stderr and '"unit"' in result.stderr and "OBX-66" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_routing_role_stops_the_hub_naming_file_and_rule(tmp_path):
    routing = tmp_path / "routing.toml"
    routing.write_text((REPO / "config" / "routing.toml").read_text().replace(
        '"attending_doctor"', '"attending_nurse"'))
    env = _env(tmp_path)
    env.env["HUB_ROUTING_FILE"] = str(routing)

    result = env.hub("serve", check=False)

    assert result.returncode == 2
    assert str(routing) in result.stderr and "route 2" in result.stderr
    assert "'attending_nurse'" in result.stderr and "Traceback" not in result.stderr


def test_a_bad_setting_names_the_setting(tmp_path):
    env = _env(tmp_path)
    del env.env["HUB_MLLP__PORT"]
    env.env["HUB_MLLP_PORT"] = "not-a-port"  # the design's flat name
    result = env.hub("status", check=False)
    assert result.returncode == 2
    assert "mllp.port" in result.stderr and "Traceback" not in result.stderr


def test_an_unknown_matricule_is_a_clear_error(tmp_path):
    result = _env(tmp_path, database=True).hub("dossier", "show", "1893120105732", check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == "hub: no dossier for this matricule"


def test_an_invalid_matricule_is_refused_before_any_lookup(tmp_path):
    result = _env(tmp_path).hub("dossier", "show", "1893120105733", check=False)
    assert result.returncode == 1 and "check digit" in result.stderr.lower()
    assert "1893120105733" not in result.stderr


def test_a_database_with_data_and_no_key_file_beside_it_stops_every_command(tmp_path):
    env = _env(tmp_path, database=True)
    person = patient(7)
    env.hub("dossier", "close", person.matricule)  # a fresh install: the key file is created
    key_file = Path(env.env["HUB_KEY_FILE"])
    key_file.rename(tmp_path / "moved-away.json")  # a wrong HUB_KEY_FILE, or a lost file

    for command in (("serve",), ("dossier", "show", person.matricule), ("status",)):
        result = env.hub(*command, check=False)
        assert result.returncode == 2, command
        assert "HUB_KEY_FILE" in result.stderr and "Traceback" not in result.stderr
    assert not key_file.exists()  # no second key written beside data it cannot read

"""Relative paths in the settings are read against HUB_HOME, else the config file's directory,
whichever layer set them, and never against the working directory."""
from __future__ import annotations

import shutil

import pytest

from hub.settings import REPO_ROOT, load_settings

PATH_VARIABLES = ("HUB_HOME", "HUB_DATABASE_URL", "HUB_KEY_FILE", "HUB_CNS_SPOOL",
                  "HUB_MAPPINGS_DIR", "HUB_ROUTING_FILE", "HUB_MLLP__TLS_CERT_FILE",
                  "HUB_OUTBOUND__TLS_CA_FILE")


@pytest.fixture
def config_dir(tmp_path, monkeypatch):
    """A copy of the shipped config file under tmp_path/install/config, in use; the working
    directory somewhere else."""
    config = tmp_path / "install" / "config"
    config.mkdir(parents=True)
    shutil.copy(REPO_ROOT / "config" / "default.toml", config / "default.toml")
    for name in PATH_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HUB_CONFIG_DIR", str(config))
    monkeypatch.setenv("HUB_ENV_FILE", str(tmp_path / "none.env"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    return config


def test_the_shipped_paths_are_read_against_the_config_files_directory(config_dir):
    install = config_dir.parent
    s = load_settings()
    assert s.database_url == f"sqlite:///{install / 'var' / 'hub.db'}"
    assert (s.key_file, s.cns_spool) == (str(install / "var" / "keys.json"),
                                         str(install / "var" / "cns-spool"))
    assert s.mappings_dir == str(install / "mappings")
    assert s.routing_file == str(config_dir / "routing.toml")
    assert s.mllp.tls_cert_file == "" and s.outbound.tls_ca_file == ""  # unset stays unset


def test_the_repos_own_config_keeps_the_data_in_the_repos_var(monkeypatch, tmp_path):
    for name in (*PATH_VARIABLES, "HUB_CONFIG_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HUB_ENV_FILE", str(tmp_path / "none.env"))
    monkeypatch.chdir(tmp_path)
    s = load_settings()
    assert s.database_url == f"sqlite:///{REPO_ROOT / 'var' / 'hub.db'}"
    assert s.key_file == str(REPO_ROOT / "var" / "keys.json")
    assert s.mappings_dir == str(REPO_ROOT / "mappings")
    assert s.routing_file == str(REPO_ROOT / "config" / "routing.toml")


def test_hub_home_is_the_base_of_relative_paths_from_every_layer(config_dir, tmp_path,
                                                                    monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("HUB_HOME", str(home))
    monkeypatch.setenv("HUB_DATABASE_URL", "sqlite:///data/hub.db")
    monkeypatch.setenv("HUB_KEY_FILE", "data/keys.json")
    monkeypatch.setenv("HUB_MLLP__TLS_CERT_FILE", "tls/hub.pem")
    s = load_settings(cns_spool="spool")
    assert s.database_url == f"sqlite:///{home / 'data' / 'hub.db'}"
    assert s.key_file == str(home / "data" / "keys.json")
    assert s.cns_spool == str(home / "spool")
    assert s.mllp.tls_cert_file == str(home / "tls" / "hub.pem")
    assert s.routing_file == str(home / "routing.toml")  # the shipped file's, against HUB_HOME


@pytest.mark.parametrize("url", [
    "postgresql+psycopg://hub:secret@db.example/hub", "sqlite://", "sqlite:///:memory:",
    "sqlite:////srv/hub/hub.db", "sqlite:///file:hub.db?mode=ro&uri=true"])
def test_absolute_files_memory_and_other_backends_are_kept_as_written(config_dir, monkeypatch,
                                                                      url):
    monkeypatch.setenv("HUB_DATABASE_URL", url)
    assert load_settings().database_url == url


def test_absolute_paths_are_kept(config_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("HUB_KEY_FILE", str(tmp_path / "k.json"))
    assert load_settings().key_file == str(tmp_path / "k.json")

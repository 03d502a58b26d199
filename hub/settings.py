"""Layered settings: config/default.toml, then an environment file, then HUB_* variables.

Nested sections use a double underscore in the environment: `HUB_MLLP__PORT=2576`. The flat
names the design promises (`HUB_MLLP_PORT`, `HUB_HTTP_PORT`) are accepted as aliases.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from hub.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent
FLAT_ALIASES = {"HUB_MLLP_PORT": "HUB_MLLP__PORT", "HUB_HTTP_PORT": "HUB_HTTP__PORT"}


class MLLPSettings(BaseModel):
    host: str
    port: int
    max_frame: int
    read_timeout: float
    idle_timeout: float
    max_connections: int
    max_in_flight: int
    publish_timeout: float
    tls_cert_file: str = ""
    tls_key_file: str = ""
    tls_client_ca_file: str = ""


class HTTPSettings(BaseModel):
    host: str
    port: int


class HL7Settings(BaseModel):
    supported_versions: list[str]
    fallback_charset: str
    hub_application: str
    hub_facility: str
    honour_accept_ack_conditions: bool


class IdentitySettings(BaseModel):
    exempt_message_codes: list[str]
    matricule_authorities: list[str]


class WorkerSettings(BaseModel):
    threads: int
    batch_size: int
    batch_wait: float
    prefetch: int
    unmapped_policy: Literal["park"]


class ConsentSettings(BaseModel):
    """The design's policy switch: whether a declared référent sees the dossier without a grant
    (unless the patient blocked them)."""

    referent_access_by_default: bool


class OutboundSettings(BaseModel):
    """Delivery to professionals: attempts, timeouts, backoff, and the hub's client TLS."""

    max_attempts: int = Field(ge=1)
    timeout: float = Field(gt=0)
    interval: float = Field(gt=0)
    backoff_base: float = Field(gt=1)
    backoff_cap: float = Field(gt=0)
    lease: float = Field(gt=0)
    tls_ca_file: str = ""
    tls_cert_file: str = ""
    tls_key_file: str = ""


class LogSettings(BaseModel):
    level: str
    json_lines: bool = False


class Settings(BaseSettings):
    """Every setting the hub reads; all commands build the same one, so they see the same hub."""

    model_config = SettingsConfigDict(env_prefix="HUB_", env_nested_delimiter="__", extra="ignore")

    broker_url: str
    database_url: str
    namespace: str
    key_file: str
    cns_spool: str
    mappings_dir: str
    routing_file: str
    mllp: MLLPSettings
    http: HTTPSettings
    hl7: HL7Settings
    identity: IdentitySettings
    worker: WorkerSettings
    log: LogSettings
    consent: ConsentSettings
    outbound: OutboundSettings

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config_dir = Path(os.environ.get("HUB_CONFIG_DIR", REPO_ROOT / "config"))
        toml = TomlConfigSettingsSource(settings_cls, toml_file=config_dir / "default.toml")
        return init_settings, env_settings, dotenv_settings, toml


def load_settings(**overrides: object) -> Settings:
    """Build the settings from every layer; a bad value is a `ConfigError` naming the setting."""
    for flat, nested in FLAT_ALIASES.items():
        if flat in os.environ and nested not in os.environ:
            os.environ[nested] = os.environ[flat]
    env_file = os.environ.get("HUB_ENV_FILE", str(REPO_ROOT / "config" / "local.env"))
    try:
        return Settings(_env_file=env_file if Path(env_file).exists() else None, **overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"bad settings: {problems}") from None

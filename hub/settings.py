"""Layered settings: config/default.toml, then an environment file, then HUB_* variables.

Nested sections use a double underscore in the environment: `HUB_MLLP__PORT=2576`. The flat
names the design promises (`HUB_MLLP_PORT`, `HUB_HTTP_PORT`) are accepted as aliases.

Every relative path, from any layer, is read against one base (`home()`): `HUB_HOME` when set,
else the directory of the config file in use, never the working directory, so that a command
or a worker started anywhere finds the same database, key file, spool, mappings and routing.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from hub.domain.delivery import MAX_CONNECTIONS
from hub.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG_FILE_NAME = "default.toml"
FLAT_ALIASES = {"HUB_MLLP_PORT": "HUB_MLLP__PORT", "HUB_HTTP_PORT": "HUB_HTTP__PORT"}


class MLLPSettings(BaseModel):
    host: str
    port: int
    max_frame: int
    read_timeout: float
    idle_timeout: float
    max_connections: int
    max_in_flight: int
    max_connections_per_peer: int = 50
    publish_timeout: float
    tls_cert_file: str = ""
    tls_key_file: str = ""
    tls_client_ca_file: str = ""


class HTTPSettings(BaseModel):
    """Health, metrics and the dashboard (hub/http_server.py): `threads` run requests,
    `connection_limit` connections may be open (`max_connections_per_peer` from one address),
    and one silent for `channel_timeout` seconds is closed."""

    host: str
    port: int
    threads: int = Field(default=8, ge=1, le=64)
    connection_limit: int = Field(default=1000, ge=1)
    channel_timeout: int = Field(default=30, ge=1)
    max_connections_per_peer: int = Field(default=50, ge=1)


class HL7Settings(BaseModel):
    supported_versions: list[str]
    fallback_charset: str
    hub_application: str
    hub_facility: str
    honour_accept_ack_conditions: bool


class IdentitySettings(BaseModel):
    exempt_message_codes: list[str]
    matricule_authorities: list[str]
    # A legacy 11-digit matricule and its 13-digit successor are one dossier (README, "Legacy
    # matricules"). Off: they are linked only when a message carries both or an operator says so.
    link_legacy_forms: bool = False


class WorkerSettings(BaseModel):
    threads: int
    batch_size: int
    batch_wait: float
    prefetch: int
    # "reject": the listener answers AR 200/201 to a type nothing handles (HL7's behaviour);
    # "park": it is accepted and the worker parks it as unmapped.
    unmapped_policy: Literal["reject", "park"] = "reject"


class ConsentSettings(BaseModel):
    """The design's policy switch: whether a declared référent sees the dossier without a grant
    (unless the patient blocked them)."""

    referent_access_by_default: bool
    referent_senders: list[str] = ["CNS^*"]


class OutboundSettings(BaseModel):
    """Delivery to professionals: attempts, timeouts, backoff, and the hub's client TLS."""

    max_attempts: int = Field(ge=1)
    timeout: float = Field(gt=0)
    interval: float = Field(gt=0)
    backoff_base: float = Field(gt=1)
    backoff_cap: float = Field(gt=0)
    unreachable_backoff_cap: float = Field(default=60.0, gt=0)
    ack_patience: float = Field(default=2.0, gt=0)
    lease: float = Field(gt=0)
    tls_ca_file: str = ""
    tls_cert_file: str = ""
    tls_key_file: str = ""
    # Several senders on one database (hub/outbound/lanes.py): seconds a sender owns a
    # destination's lane without renewing (renewed every third of it); a crashed sender's
    # lanes are taken over after it.
    lane_lease: float = Field(default=30.0, gt=0)
    # Connections (lanes) per destination, each a disjoint share of the patients, so a
    # patient's deliveries keep their order (hub/domain/delivery.Lane); 1 suits a recipient that
    # takes one connection only.
    connections: int = Field(default=1, ge=1, le=MAX_CONNECTIONS)


class StatusSettings(BaseModel):
    """When `hub status` calls the hub unhealthy: each threshold is the most still healthy."""

    max_queue_depth: int = Field(default=1000, ge=0)
    max_pending_age: float = Field(default=900.0, gt=0)
    max_parked_messages: int = Field(default=0, ge=0)
    max_parked_deliveries: int = Field(default=0, ge=0)
    max_unreachable: float = Field(default=300.0, gt=0)


class DashboardSettings(BaseModel):
    """The read-only web dashboard under /dashboard on the HTTP port; off while no hash is set.

    `password_hash` comes from `python -m hub.dashboard.auth` and belongs in the environment
    (`HUB_DASHBOARD__PASSWORD_HASH`) or the environment file, never in a file of the repo."""

    user: str = "ops"
    password_hash: str = ""
    sample_interval: float = Field(default=10.0, gt=0)
    history: float = Field(default=3600.0, gt=0)


class ResumeSettings(BaseModel):
    """The résumé patient clock: which MDM^T02 document is a résumé, when it is due after a
    référent declaration, how often overdue declarations are looked for, and how often the
    résumé must be brought up to date after the first (hub/domain/resume.py)."""

    document_type: str = Field(default="60591-5", min_length=1)
    months: int = Field(default=3, ge=1)
    check_interval: float = Field(default=3600.0, gt=0)
    update_months: int = Field(default=12, ge=1)


class JobsSettings(BaseModel):
    """The scheduler role's periodic jobs (hub/compose.py): seconds between runs, and
    the lease a hub holds on a job while it runs it (a crashed hub's lease runs out)."""

    lease: float = Field(default=600.0, gt=0)
    grant_expiry_interval: float = Field(default=300.0, gt=0)
    key_rotation_interval: float = Field(default=300.0, gt=0)
    key_rotation_batch: int = Field(default=200, ge=1)
    retention_interval: float = Field(default=3600.0, gt=0)
    watchdog_interval: float = Field(default=60.0, gt=0)
    watchdog_checks: int = Field(default=5, ge=1)
    representative_majority_interval: float = Field(default=3600.0, gt=0)


class RetentionSettings(BaseModel):
    """How long raw message copies are kept, and a closed dossier's content (the audit log and
    the journal are kept forever)."""

    raw_days: int = Field(default=0, ge=0)   # 0 keeps them forever
    # A closed dossier's entries, raw copies and demographics are erased this many years after
    # its closure (hub/jobs/dossier_erasure.py); 0 keeps them forever. Ten: Luxembourg keeps a
    # patient record at least ten years after the care ended (loi du 24 juillet 2014 relative
    # aux droits et obligations du patient, art. 15), so a patient who reopens within them
    # finds their history, and nothing is kept longer than that rule asks.
    closed_dossier_years: int = Field(default=10, ge=0)


class SpoolSettings(BaseModel):
    """The CNS batch feed (the directory is `cns_spool`): how often it is looked at."""

    interval: float = Field(default=1.0, gt=0)


class BrokerSettings(BaseModel):
    """How the inbound stream is partitioned (README "Workers and partitions"). Fixed for a
    deployment: changing it is a drained operation (listeners stopped, queues empty)."""

    partitions: int = Field(default=16, ge=1, le=256)


class LogSettings(BaseModel):
    level: str
    json_lines: bool = False
    lifecycle: str = "INFO"  # level of the per-message lifecycle lines (logger hub.lifecycle)


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
    # Who may send what (hub/inbound/senders_file.py); "" runs the hub open to clinical
    # messages only, and says so.
    senders_file: str = "senders.toml"
    # Codes whose results are filed restricted (hub/mapping/sensitive.py); "" lists none.
    sensitive_codes_file: str = "sensitive_codes.toml"
    mllp: MLLPSettings
    http: HTTPSettings
    hl7: HL7Settings
    identity: IdentitySettings
    worker: WorkerSettings
    log: LogSettings
    consent: ConsentSettings
    outbound: OutboundSettings
    spool: SpoolSettings = SpoolSettings()
    dashboard: DashboardSettings = DashboardSettings()
    status: StatusSettings = StatusSettings()
    resume: ResumeSettings = ResumeSettings()
    jobs: JobsSettings = JobsSettings()
    retention: RetentionSettings = RetentionSettings()
    broker: BrokerSettings = BrokerSettings()

    @model_validator(mode="after")
    def _anchor_paths(self) -> Settings:
        """Relative paths become absolute against `home()`, once, here: everything downstream
        (the engine, the keyring, the spool, `hub serve`'s start lines) sees the same path."""
        base = home()
        for name in ("key_file", "cns_spool", "mappings_dir", "routing_file", "senders_file",
                     "sensitive_codes_file"):
            setattr(self, name, anchored(getattr(self, name), base))
        tls_files = ((self.mllp, ("tls_cert_file", "tls_key_file", "tls_client_ca_file")),
                     (self.outbound, ("tls_ca_file", "tls_cert_file", "tls_key_file")))
        for section, names in tls_files:
            for name in names:
                setattr(section, name, anchored(getattr(section, name), base))
        self.database_url = anchored_database_url(self.database_url, base)
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=config_file())
        return init_settings, env_settings, dotenv_settings, toml


def config_file() -> Path:
    """The config file in use: `default.toml` in HUB_CONFIG_DIR, else in the repo's config/."""
    config_dir = Path(os.environ.get("HUB_CONFIG_DIR", REPO_ROOT / "config"))
    return config_dir.expanduser().absolute() / CONFIG_FILE_NAME


def home() -> Path:
    """The base of every relative path in the settings: HUB_HOME when set, else the directory
    of the config file in use (so the shipped `../var/hub.db` is the repo's var/)."""
    explicit = os.environ.get("HUB_HOME", "")
    return Path(explicit).expanduser().absolute() if explicit else config_file().parent


def anchored(value: str, base: Path) -> str:
    """`value` as an absolute path against `base` ("" stays "": a file that is not set)."""
    if not value:
        return value
    path = Path(value).expanduser()
    return value if path.is_absolute() else str((base / path).resolve())


def anchored_database_url(url: str, base: Path) -> str:
    """A SQLite URL whose file is relative gets that file against `base`; in-memory and
    `file:` URIs, absolute files and every other backend's URL are kept as written."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return url  # make_engine says what is wrong with it
    database = parsed.database or ""
    if (parsed.get_backend_name() != "sqlite" or database in ("", ":memory:")
            or database.startswith("file:") or parsed.query.get("mode") == "memory"
            or Path(database).expanduser().is_absolute()):
        return url
    return parsed.set(database=anchored(database, base)).render_as_string(hide_password=False)


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

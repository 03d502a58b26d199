"""The hub's one error tree. Library exceptions (pika, SQLAlchemy, cryptography, hl7apy) are
translated into these at the boundary of the module that calls the library."""


class HubError(Exception):
    """Base of every error the hub raises on purpose."""


class ConfigError(HubError):
    """Settings, key file, mapping or routing configuration is unusable; the hub must not start."""


class BrokerError(HubError):
    """The message broker could not be reached or did not do what was asked."""


class PublishNotConfirmed(BrokerError):
    """The broker nacked, returned, or did not confirm a publish in time."""


class StoreError(HubError):
    """The database failed."""


class DatabaseUnavailable(StoreError):
    """The database could not be reached, or dropped the connection, or is busy (SQLite's lock):
    the surroundings' fault, never a message's. Retry later; the same work will go through."""


class DecryptionError(StoreError):
    """A ciphertext failed authentication: wrong key, wrong row, or tampered bytes."""


class HL7Error(HubError):
    """A message could not be read as HL7 v2."""


class MappingError(HubError):
    """A message could not be turned into dossier entries."""


class UnknownMatricule(HubError):
    """No dossier for this matricule."""


class FramingError(HubError):
    """MLLP framing is broken (no end block within the size cap); the connection must close."""


class InvalidMatricule(HubError):
    """A matricule fails its format or check digits."""


class RawCopyPurged(StoreError):
    """A message's bytes were purged by retention; its record and entries remain."""


class StoreConflict(StoreError):
    """A write broke a uniqueness or reference rule (a duplicate id, an unknown patient...)."""


class MLLPError(HubError):
    """An MLLP peer could not be reached, closed the connection, or did not answer in time."""


class InvalidCnsCode(HubError):
    """A professional's CNS code is not of the form NNNNNN-NN."""

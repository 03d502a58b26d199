"""The hub's TLS client side, for recipients whose registry destination says `tls`."""
from __future__ import annotations

import ssl

from hub.errors import ConfigError


def client_ssl_context(ca_file: str = "", cert_file: str = "",
                       key_file: str = "") -> ssl.SSLContext:
    """A client context that checks recipients' certificates and host names against
    `ca_file` (PEM) when given, else the system's CAs, and presents the hub's own certificate
    (`cert_file` with `key_file`) when given, for recipients that require one.

    Raises ConfigError naming the file when one cannot be read or used.
    """
    if key_file and not cert_file:
        raise ConfigError("outbound.tls_key_file is set but outbound.tls_cert_file is not")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # PROTOCOL_TLS_CLIENT's defaults, said here so that no later edit loosens them unseen: the
    # recipient's chain must lead to a trusted CA, and its certificate must name the registry's
    # host (hub/mllp/client.py passes it as server_hostname: a DNS name or an IP address SAN).
    context.verify_mode = ssl.CERT_REQUIRED
    context.check_hostname = True
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if ca_file:
        try:
            context.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"cannot use outbound.tls_ca_file {ca_file}: "
                              f"{_why(exc)}") from None
    else:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    if cert_file:
        try:
            context.load_cert_chain(cert_file, key_file or None)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"cannot use outbound.tls_cert_file {cert_file}"
                              f"{' with ' + key_file if key_file else ''}: {_why(exc)}") from None
    return context


def _why(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)

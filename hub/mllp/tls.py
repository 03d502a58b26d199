"""What a failed TLS handshake is said as: a bounded class for metrics, a short text for a log
line or a CLI error.

The text is OpenSSL's reason code (e.g. CERTIFICATE_VERIFY_FAILED, TLSV1_ALERT_UNKNOWN_CA,
WRONG_VERSION_NUMBER) and, for a refused certificate, the verifier's message ("unable to get
local issuer certificate"): never the certificate itself, nor anything else the peer sent.
"""
from __future__ import annotations

import ssl

from hub.errors import MLLPError

# The values of hub_mllp_tls_handshake_failures_total's `reason`: a fixed set, whatever the
# peer does.
CERTIFICATE = "certificate"  # a certificate refused, missing or not trusted (either side)
PROTOCOL = "protocol"        # not TLS, no common version or cipher, a malformed handshake
TIMEOUT = "timeout"          # not finished within the handshake timeout
CLOSED = "closed"            # the peer went away mid-handshake
OTHER = "other"

_CERTIFICATE_WORDS = ("CERTIFICATE", "CERT_", "_CERT", "UNKNOWN_CA", "PEER_DID_NOT_RETURN")


def handshake_failure(exc: BaseException) -> tuple[str, str]:
    """(class, text) of the exception a TLS handshake ended with."""
    if isinstance(exc, ssl.SSLError):
        reason = getattr(exc, "reason", None) or type(exc).__name__
        verify = getattr(exc, "verify_message", None)
        text = f"{reason} ({verify})" if verify else str(reason)
        if isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
            return CLOSED, text
        if isinstance(exc, ssl.SSLCertVerificationError) or any(
                word in str(reason) for word in _CERTIFICATE_WORDS):
            return CERTIFICATE, text
        return PROTOCOL, text
    if isinstance(exc, (TimeoutError, ConnectionAbortedError)):
        # asyncio aborts a handshake past ssl_handshake_timeout with ConnectionAbortedError
        return TIMEOUT, "handshake timed out"
    if isinstance(exc, (ConnectionError, EOFError)):
        return CLOSED, "connection closed during the handshake"
    if isinstance(exc, OSError):
        return OTHER, exc.strerror or type(exc).__name__
    return OTHER, type(exc).__name__


def client_context(ca_file: str = "", cert_file: str = "", key_file: str = "") -> ssl.SSLContext:
    """The TLS context of `hub send`: the server's certificate and host name checked against
    `ca_file` (PEM) when given, else the system's CAs; `cert_file` (with `key_file`, unless the
    key is in the same PEM) presented as the client certificate when given.

    Raises MLLPError naming the option and file when one cannot be read or used.
    """
    if key_file and not cert_file:
        raise MLLPError("--key needs --cert (the client certificate it goes with)")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # checks certificates and host names
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        if ca_file:
            context.load_verify_locations(cafile=ca_file)
        else:
            context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    except (OSError, ssl.SSLError) as exc:
        raise MLLPError(f"cannot use --ca {ca_file}: {_file_error(exc)}") from None
    if cert_file:
        try:
            context.load_cert_chain(cert_file, key_file or None)
        except (OSError, ssl.SSLError) as exc:
            key = f" with --key {key_file}" if key_file else ""
            raise MLLPError(f"cannot use --cert {cert_file}{key}: {_file_error(exc)}") from None
    return context


def _file_error(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return f"not a usable PEM certificate or key ({getattr(exc, 'reason', None) or exc})"
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    return type(exc).__name__

"""What a failed TLS handshake is said as: a bounded class for metrics, a short text for a log
line or a CLI error.

The text is OpenSSL's reason code (e.g. CERTIFICATE_VERIFY_FAILED, TLSV1_ALERT_UNKNOWN_CA,
WRONG_VERSION_NUMBER) and, for a refused certificate, the verifier's message ("unable to get
local issuer certificate"): never the certificate itself, nor anything else the peer sent.
"""
from __future__ import annotations

import ssl

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

"""The blocking MLLP client against a tiny loopback server running in a thread."""

import datetime
import socket
import ssl
import threading
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hub.errors import FramingError, HubError, MLLPError
from hub.mllp.client import MLLPClient
from hub.mllp.framing import FrameReader, wrap


@pytest.fixture
def serve():
    """Start a one-connection loopback server running ``handler(conn)``; return its port."""
    started = []

    def start(handler, wrap_server=None):
        listener = socket.create_server(("127.0.0.1", 0))
        listener.settimeout(5)

        def run():
            with listener:
                conn, _ = listener.accept()
                if wrap_server is not None:
                    conn = wrap_server(conn)
                with conn:
                    handler(conn)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        started.append(thread)
        return listener.getsockname()[1]

    yield start
    for thread in started:
        thread.join(timeout=5)


def ack_each_frame(conn, split=False):
    reader = FrameReader(max_frame=1 << 20)
    while chunk := conn.recv(4096):
        for payload in reader.feed(chunk):
            response = wrap(b"ACK for " + payload)
            if split:
                for i in range(len(response)):
                    conn.sendall(response[i:i + 1])
                    time.sleep(0.001)
            else:
                conn.sendall(response)


def test_send_returns_the_response_payload(serve):
    port = serve(ack_each_frame)
    with MLLPClient("127.0.0.1", port, timeout=5) as client:
        assert client.send(b"MSH|one") == b"ACK for MSH|one"
        assert client.send(b"MSH|two") == b"ACK for MSH|two"


def test_a_response_trickling_in_byte_by_byte_is_reassembled(serve):
    port = serve(lambda conn: ack_each_frame(conn, split=True))
    with MLLPClient("127.0.0.1", port, timeout=5) as client:
        assert client.send(b"MSH|x") == b"ACK for MSH|x"


def test_two_responses_in_one_write_are_returned_one_per_call(serve):
    def two_at_once(conn):
        conn.recv(4096)
        conn.sendall(wrap(b"first") + b"\r\n" + wrap(b"second"))
        conn.recv(4096)

    port = serve(two_at_once)
    with MLLPClient("127.0.0.1", port, timeout=5) as client:
        assert client.send(b"MSH|a") == b"first"
        assert client.receive() == b"second"


def test_silent_peer_times_out_as_mllp_error(serve):
    done = threading.Event()
    port = serve(lambda conn: done.wait(5))
    with MLLPClient("127.0.0.1", port, timeout=0.3) as client:
        started = time.monotonic()
        with pytest.raises(MLLPError, match="timed out"):
            client.send(b"MSH|x")
        assert time.monotonic() - started < 2
    done.set()


def test_dripping_peer_cannot_extend_the_deadline(serve):
    def drip(conn):
        conn.recv(4096)
        conn.sendall(b"\x0b")
        for _ in range(40):
            time.sleep(0.05)
            try:
                conn.sendall(b"x")
            except OSError:
                return

    port = serve(drip)
    with MLLPClient("127.0.0.1", port, timeout=0.5) as client:
        started = time.monotonic()
        with pytest.raises(MLLPError):
            client.send(b"MSH|x")
        assert time.monotonic() - started < 1.5


def test_peer_closing_before_responding_is_mllp_error(serve):
    port = serve(lambda conn: conn.recv(4096))
    with MLLPClient("127.0.0.1", port, timeout=5) as client:
        with pytest.raises(MLLPError, match="closed"):
            client.send(b"MSH|x")


def test_connection_refused_is_mllp_error():
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    with pytest.raises(MLLPError, match="cannot connect") as caught:
        MLLPClient("127.0.0.1", port, timeout=2).connect()
    assert isinstance(caught.value, HubError)


def test_send_without_connecting_is_mllp_error():
    with pytest.raises(MLLPError, match="not connected"):
        MLLPClient("127.0.0.1", 1).send(b"x")


def test_oversize_response_is_a_framing_error(serve):
    def flood(conn):
        conn.recv(4096)
        conn.sendall(b"\x0b" + b"x" * 5000)

    port = serve(flood)
    with MLLPClient("127.0.0.1", port, timeout=5, max_frame=1000) as client:
        with pytest.raises(FramingError):
            client.send(b"MSH|x")


def _self_signed(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_file, key_file


def test_tls_round_trip_and_untrusted_certificate(serve, tmp_path):
    cert_file, key_file = _self_signed(tmp_path)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert_file, key_file)

    def wrap_server(conn):
        return server_ctx.wrap_socket(conn, server_side=True)

    port = serve(ack_each_frame, wrap_server)
    trusting = ssl.create_default_context(cafile=str(cert_file))
    with MLLPClient("localhost", port, timeout=5, ssl_context=trusting) as client:
        assert client.send(b"MSH|tls") == b"ACK for MSH|tls"

    def handshake_fails(conn):
        with pytest.raises((ssl.SSLError, OSError)):
            wrap_server(conn)
        return conn

    port = serve(lambda conn: None, handshake_fails)
    with pytest.raises(MLLPError, match="cannot connect"):
        MLLPClient("localhost", port, timeout=5, ssl_context=ssl.create_default_context()).connect()

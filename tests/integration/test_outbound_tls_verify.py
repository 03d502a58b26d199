"""The hub's outbound TLS (hub/outbound/tls.py, as hub/bootstrap.py builds it from the settings)
verifies a recipient's certificate against the configured CA and the registry's host name: a
recipient with a certificate of another CA, or one not naming the host the registry gives, gets
nothing. The CAs are made with `cryptography` for the test (tests/fixtures/certs.py)."""
import ssl

import pytest

from hub.bootstrap import Hub
from hub.outbound.ack_reader import NO_ANSWER
from hub.outbound.readdress import readdress
from hub.outbound.sender import DestinationSender
from hub.outbound.tls import client_ssl_context
from hub.settings import load_settings
from tests.fixtures.certs import make_pki
from tests.fixtures.fake_recipient import recipients_started
from tests.fixtures.messages import encoded, oru_r01, patient


def outbound(control_id: str) -> bytes:
    raw = encoded(oru_r01(patient(1), control_id, n_obx=1))
    return readdress(raw, control_id=control_id, receiving_application="CAB",
                     receiving_facility="DOC", sending_application="DSP", sending_facility="HUB")


@pytest.fixture
def tls_recipient(tmp_path):
    """A recipient on 127.0.0.1 whose certificate (IP SAN 127.0.0.1 only) a test CA signed."""
    (tmp_path / "ours").mkdir()
    pki = make_pki(tmp_path / "ours")
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(pki.server_cert, pki.server_key)
    with recipients_started() as start:
        yield pki, start(ssl_context=server)


def _send(host: str, port: int, context: ssl.SSLContext, control_id: str):
    sender = DestinationSender(host, port, timeout=2, ssl_context=context)
    try:
        return sender.send(outbound(control_id), control_id)
    finally:
        sender.close()


def test_the_configured_ca_and_host_name_are_checked(tls_recipient, tmp_path, monkeypatch):
    pki, recipient = tls_recipient
    monkeypatch.setenv("HUB_OUTBOUND__TLS_CA_FILE", str(pki.ca))
    context = Hub(load_settings()).outbound_tls  # the CA comes from the settings
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED

    assert _send("127.0.0.1", recipient.port, context, "TLS-OK").accepted
    # "localhost" reaches the same socket, but the certificate does not name it.
    wrong_name = _send("localhost", recipient.port, context, "TLS-NAME")
    assert wrong_name.code == NO_ANSWER and not wrong_name.accepted
    (tmp_path / "theirs").mkdir()
    other_ca = client_ssl_context(str(make_pki(tmp_path / "theirs").ca))
    untrusted = _send("127.0.0.1", recipient.port, other_ca, "TLS-CA")
    assert untrusted.code == NO_ANSWER and not untrusted.accepted
    assert recipient.control_ids() == ["TLS-OK"]

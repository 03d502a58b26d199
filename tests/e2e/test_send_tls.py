"""`hub send` over TLS to a real `hub serve` whose MLLP port requires client certificates
(issue 14): a trusted certificate delivers; a bad file or a refused handshake is one line on
stderr and exit 1, never a traceback; the hub logs and counts the refused handshake."""
from __future__ import annotations

import urllib.request

from tests.fixtures.certs import make_pki

SAMPLE = "tests/fixtures/samples/oru_r01.hl7"


def _metric(port: int, line_start: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(line_start))


def test_hub_send_over_tls_with_a_client_certificate(hub_env, tmp_path):
    pki = make_pki(tmp_path)
    (tmp_path / "stranger").mkdir()
    stranger = make_pki(tmp_path / "stranger")  # another CA, its own client certificate
    hub_env.start(HUB_MLLP__TLS_CERT_FILE=str(pki.server_cert),
                  HUB_MLLP__TLS_KEY_FILE=str(pki.server_key),
                  HUB_MLLP__TLS_CLIENT_CA_FILE=str(pki.ca))
    port = str(hub_env.mllp_port)

    def send(*options: str):
        return hub_env.hub("send", SAMPLE, "--port", port, *options, check=False)

    sent = send("--tls", "--cert", str(pki.client_cert), "--key", str(pki.client_key),
                "--ca", str(pki.ca))
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.strip().split("\t")[1:3] == ["SAMPLE-ORU-1", "AA"]

    def one_line_error(result) -> str:
        assert (result.returncode, result.stdout) == (1, ""), result
        assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1, result.stderr
        assert result.stderr.startswith("hub: "), result.stderr
        return result.stderr

    missing = tmp_path / "missing.crt"
    assert one_line_error(send("--tls", "--cert", str(missing), "--key", str(pki.client_key),
                               "--ca", str(pki.ca))) == (
        f"hub: cannot use --cert {missing} with --key {pki.client_key}: "
        "No such file or directory\n")
    assert "cannot use --ca" in one_line_error(send("--tls", "--ca", str(missing)))
    # the key of another certificate
    assert "cannot use --cert" in one_line_error(send(
        "--cert", str(pki.client_cert), "--key", str(stranger.client_key), "--ca", str(pki.ca)))
    # the hub's certificate checked against the wrong CA: refused by hub send
    assert "TLS handshake failed: CERTIFICATE_VERIFY_FAILED" in one_line_error(send(
        "--cert", str(pki.client_cert), "--key", str(pki.client_key), "--ca", str(stranger.ca)))
    # a certificate from a CA the hub does not trust, then none: refused by the hub
    assert "refuses the client certificate" in one_line_error(send(
        "--cert", str(stranger.client_cert), "--key", str(stranger.client_key),
        "--ca", str(pki.ca)))
    one_line_error(send("--tls", "--ca", str(pki.ca)))

    http = int(hub_env.env["HUB_HTTP__PORT"])
    assert hub_env.wait_until(lambda: _metric(
        http, 'hub_mllp_tls_handshake_failures_total{reason="certificate"}') == 2, timeout=10)
    lines = [line for line in hub_env.logs().splitlines() if "TLS handshake from" in line]
    refused = [line for line in lines if "WARNING" in line and "CERTIFICATE" in line]
    # both counted; said once a minute per address and kind: the first with OpenSSL's reason
    assert len(refused) == 1 and "TLS handshake from 127.0.0.1:" in refused[0], lines
    assert "failed: CERTIFICATE_VERIFY_FAILED (" in refused[0], lines
    assert "BEGIN CERTIFICATE" not in hub_env.logs()

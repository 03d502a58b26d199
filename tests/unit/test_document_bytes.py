"""document_bytes: what `hub dossier document` writes for a document entry's payload."""
import base64

import pytest

from hub.cli.document_cmd import document_bytes, write_document
from hub.errors import HubError

PDF = b"%PDF-1.4\n\x00\xff\xfe binary \x80\n%%EOF\n"


def test_base64_with_line_breaks_and_without_padding():
    text = base64.b64encode(PDF).decode()
    wrapped = "\n".join(text[i:i + 10] for i in range(0, len(text), 10)).rstrip("=")
    assert document_bytes({"content": wrapped, "encoding": "Base64"}) == PDF


def test_parts_padded_one_by_one_are_joined():
    parts = [base64.b64encode(PDF[:7]).decode(), base64.b64encode(PDF[7:]).decode()]
    assert "=" in parts[0]
    assert document_bytes({"content": "\n".join(parts), "encoding": "BASE64"}) == PDF


def test_hex_and_plain_text():
    assert document_bytes({"content": PDF.hex().upper(), "encoding": "Hex"}) == PDF
    assert document_bytes({"content": "Lëtzebuerg", "encoding": "A"}) == "Lëtzebuerg".encode()
    assert document_bytes({"content": "Brief"}) == b"Brief"


@pytest.mark.parametrize("payload, says", [
    ({"content": "not*base64!", "encoding": "Base64"}, "not valid base64"),
    ({"content": "zz", "encoding": "Hex"}, "not valid hex"),
    ({"encoding": "Base64"}, "has no content"),
])
def test_bad_content_is_a_hub_error_that_does_not_quote_it(payload, says):
    with pytest.raises(HubError) as raised:
        document_bytes(payload)
    assert says in str(raised.value) and "not*base64" not in str(raised.value)


def test_an_out_file_that_cannot_be_written_is_one_line_hub_error(tmp_path):
    target = tmp_path / "no-such-folder" / "report.pdf"
    with pytest.raises(HubError, match="cannot write .*report.pdf: No such file or directory"):
        write_document(PDF, str(target))
    write_document(PDF, str(tmp_path / "report.pdf"))
    assert (tmp_path / "report.pdf").read_bytes() == PDF

"""The keyring: row-bound AES-256-GCM, rotation, keyed hashes, and a key file that fails clearly."""
import base64
import json
import stat
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.hmac import HMAC

from hub.errors import ConfigError, DecryptionError
from hub.store.keyring import Keyring


@pytest.fixture
def keyring(tmp_path):
    return Keyring.create(tmp_path / "keys" / "hub.json")


def test_round_trip(keyring):
    key_id, blob = keyring.encrypt(b"Weydert-\xc3\x8bmeline", table="patients", row_id="r1")
    assert key_id == "k1"
    assert keyring.decrypt(blob, table="patients", row_id="r1", key_id=key_id) == \
        b"Weydert-\xc3\x8bmeline"
    assert b"Weydert" not in blob


def test_two_encryptions_of_one_value_differ(keyring):
    _, first = keyring.encrypt(b"same", table="t", row_id="r")
    _, second = keyring.encrypt(b"same", table="t", row_id="r")
    assert first != second
    assert first[:12] != second[:12]


def test_encrypt_many_seals_each_value_for_its_row_with_its_own_nonce(keyring):
    values = [b"same", b"same", b"Weydert-\xc3\x8bmeline", b""]
    rows = ["r1", "r2", "r3", "r4"]
    key_id, blobs = keyring.encrypt_many(values, table="entries", row_ids=rows)
    assert key_id == "k1" and len(blobs) == 4
    assert [keyring.decrypt(blob, table="entries", row_id=row, key_id=key_id)
            for blob, row in zip(blobs, rows)] == values
    assert len({blob[:12] for blob in blobs}) == 4  # a fresh nonce per value
    assert blobs[0] != blobs[1]
    with pytest.raises(DecryptionError):  # bound to its own row, not its neighbour's
        keyring.decrypt(blobs[0], table="entries", row_id="r2", key_id=key_id)
    with pytest.raises(DecryptionError):
        keyring.decrypt(blobs[0], table="deliveries", row_id="r1", key_id=key_id)


def test_encrypt_many_uses_the_current_key(keyring):
    new_key = keyring.add_key()
    key_id, [blob] = keyring.encrypt_many([b"secret"], table="t", row_ids=["r"])
    assert key_id == new_key
    assert keyring.decrypt(blob, table="t", row_id="r", key_id=new_key) == b"secret"
    assert keyring.encrypt_many([], table="t", row_ids=[]) == (new_key, [])


def test_encrypt_many_refuses_a_row_id_missing(keyring):
    with pytest.raises(ValueError):
        keyring.encrypt_many([b"a", b"b"], table="t", row_ids=["r1"])


@pytest.mark.parametrize("change", [
    {"row_id": "other-row"},
    {"table": "entries"},
    {"key_id": "k9"},
])
def test_ciphertext_is_bound_to_table_row_and_key_id(keyring, change):
    key_id, blob = keyring.encrypt(b"secret", table="patients", row_id="r1")
    where = {"table": "patients", "row_id": "r1", "key_id": key_id} | change
    with pytest.raises(DecryptionError):
        keyring.decrypt(blob, **where)


def test_wrong_key_fails(keyring, tmp_path):
    other = Keyring.create(tmp_path / "other.json")
    key_id, blob = keyring.encrypt(b"secret", table="t", row_id="r")
    with pytest.raises(DecryptionError):
        other.decrypt(blob, table="t", row_id="r", key_id=key_id)


def test_rotated_key_id_under_the_old_one_fails(keyring):
    key_id, blob = keyring.encrypt(b"secret", table="t", row_id="r")
    new_id = keyring.add_key()
    with pytest.raises(DecryptionError):
        keyring.decrypt(blob, table="t", row_id="r", key_id=new_id)


def test_every_tampered_byte_is_detected(keyring):
    key_id, blob = keyring.encrypt(b"a result of 5.4 mmol/l", table="t", row_id="r")
    for position in range(len(blob)):
        tampered = bytearray(blob)
        tampered[position] ^= 0x01
        with pytest.raises(DecryptionError):
            keyring.decrypt(bytes(tampered), table="t", row_id="r", key_id=key_id)
    with pytest.raises(DecryptionError):
        keyring.decrypt(blob[:10], table="t", row_id="r", key_id=key_id)


def test_rotation_keeps_old_data_readable_and_survives_reload(keyring):
    old_id, old_blob = keyring.encrypt(b"before", table="t", row_id="r")
    new_id = keyring.add_key()
    assert new_id == "k2" and keyring.current_key_id == "k2"
    reloaded = Keyring.load(keyring.path)
    assert reloaded.current_key_id == "k2"
    assert reloaded.decrypt(old_blob, table="t", row_id="r", key_id=old_id) == b"before"
    key_id, blob = reloaded.encrypt(b"after", table="t", row_id="r")
    assert key_id == "k2"
    assert keyring.decrypt(blob, table="t", row_id="r", key_id=key_id) == b"after"


def test_key_file_is_private_and_load_or_create_keeps_it(tmp_path):
    path = tmp_path / "a" / "b" / "keys.json"
    created = Keyring.load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    document = json.loads(path.read_text())
    assert document["version"] == 1 and document["current"] == "k1"
    assert len(base64.b64decode(document["keys"]["k1"])) == 32
    assert len(base64.b64decode(document["index_key"])) == 32
    again = Keyring.load_or_create(path)
    _, blob = created.encrypt(b"x", table="t", row_id="r")
    assert again.decrypt(blob, table="t", row_id="r", key_id="k1") == b"x"
    assert [p.name for p in path.parent.iterdir()] == ["keys.json"]


def test_lookup_hash_is_keyed_and_separated_by_purpose(keyring, tmp_path):
    value = "1893120105732"
    digest = keyring.lookup_hash(value, purpose="matricule")
    assert len(digest) == 64 and value not in digest
    assert keyring.lookup_hash(value.encode(), purpose="matricule") == digest
    assert keyring.lookup_hash(value, purpose="message-content") != digest
    assert Keyring.create(tmp_path / "other.json").lookup_hash(value, purpose="matricule") != \
        digest


def _write(path, document):
    path.write_text(json.dumps(document) if not isinstance(document, str) else document)
    return path


GOOD_KEY = base64.b64encode(b"\x01" * 32).decode()


@pytest.mark.parametrize("document", [
    "not json {",
    [],
    {"version": 2, "current": "k1", "keys": {"k1": GOOD_KEY}, "index_key": GOOD_KEY},
    {"version": 1, "current": "k1", "keys": {}, "index_key": GOOD_KEY},
    {"version": 1, "current": "k2", "keys": {"k1": GOOD_KEY}, "index_key": GOOD_KEY},
    {"version": 1, "current": "k1", "keys": {"k1": "!!notbase64"}, "index_key": GOOD_KEY},
    {"version": 1, "current": "k1", "keys": {"k1": base64.b64encode(b"short").decode()},
     "index_key": GOOD_KEY},
    {"version": 1, "current": "k1", "keys": {"k1": GOOD_KEY}},
])
def test_malformed_key_file_is_a_config_error_naming_the_file(tmp_path, document):
    path = _write(tmp_path / "bad.json", document)
    with pytest.raises(ConfigError) as caught:
        Keyring.load(path)
    assert str(path) in str(caught.value)
    assert GOOD_KEY not in str(caught.value)


def test_missing_key_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="missing.json"):
        Keyring.load(tmp_path / "missing.json")


def test_repr_shows_no_key_material(keyring):
    document = json.loads(keyring.path.read_text())
    assert document["keys"]["k1"] not in repr(keyring)
    assert document["index_key"] not in repr(keyring)


def test_two_rotations_from_keyrings_loaded_before_either_keep_both_keys(tmp_path):
    # Two `hub keys rotate` at once (two operators, or one per host on a shared file): each
    # loaded the file first; the second must not overwrite the first's key under the same id.
    path = tmp_path / "keys.json"
    Keyring.create(path)
    first, second = Keyring.load(path), Keyring.load(path)
    first_id = first.add_key()
    key_id, sealed = first.encrypt(b"re-encrypted by the first", table="t", row_id="r")
    second_id = second.add_key()
    assert first_id != second_id
    on_disk = Keyring.load(path)
    assert on_disk.current_key_id == second_id
    assert on_disk.decrypt(sealed, table="t", row_id="r", key_id=key_id) == \
        b"re-encrypted by the first"


def test_create_never_replaces_an_existing_key_file(tmp_path):
    path = tmp_path / "keys.json"
    first = Keyring.create(path)
    before = path.read_bytes()
    with pytest.raises(FileExistsError):
        Keyring.create(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keys.json"]
    assert Keyring.load(path).lookup_hash("x", purpose="p") == first.lookup_hash("x", purpose="p")


def test_commands_starting_side_by_side_on_a_fresh_install_share_one_key(tmp_path):
    # `hub serve` and a first `hub consent grant` started together: each found no key file;
    # before, each wrote its own and the last rename won, so the other's rows were unreadable.
    path = tmp_path / "keys" / "hub.json"
    barrier = threading.Barrier(8)

    def start() -> Keyring:
        barrier.wait()
        return Keyring.load_or_create(path)

    with ThreadPoolExecutor(8) as pool:
        keyrings = list(pool.map(lambda _: start(), range(8)))
    sealed = [k.encrypt(b"row", table="t", row_id="r") for k in keyrings]
    on_disk = Keyring.load(path)
    assert all(on_disk.decrypt(blob, table="t", row_id="r", key_id=kid) == b"row"
               for kid, blob in sealed)


def test_the_keyed_hash_is_hmac_sha256_of_purpose_nul_value_by_an_independent_library(tmp_path):
    """Stored lookup hashes and partition keys must never change bytes (a row written before
    would no longer be found): checked against the `cryptography` package's HMAC, not against
    the standard library the keyring uses."""
    index_key = bytes(range(32))
    keyring = Keyring(tmp_path / "k.json", {"k1": bytes(32)}, "k1", index_key)
    for value, purpose in (("some value", "patient"), (b"\xc3\x8b\x00x", "partition"),
                           ("", "x")):
        reference = HMAC(index_key, hashes.SHA256())
        data = value.encode("utf-8") if isinstance(value, str) else value
        reference.update(purpose.encode("utf-8") + b"\0" + data)
        assert keyring.lookup_hash(value, purpose=purpose) == reference.finalize().hex()

"""The artifact store against a local directory and a real HTTP S3 endpoint (moto server)."""

from __future__ import annotations

import socket

import pytest

from spotlab.infra.runs import ChecksumMismatch, Run
from spotlab.infra.storage import InvalidKey, LocalStore, S3Store, StorageError, open_store, validate_key


@pytest.mark.parametrize(
    "key", ["", "/etc/passwd", "../escape", "runs/../../x", "a//b", "a/./b", "a\\b", "runs/x/.hidden", "a b"]
)
def test_unsafe_keys_are_rejected(key):
    with pytest.raises(InvalidKey):
        validate_key(key)


def test_safe_key_passes():
    assert validate_key("runs/20261126-1/train/checkpoints/epoch-0005.pt") == (
        "runs/20261126-1/train/checkpoints/epoch-0005.pt"
    )


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return LocalStore(tmp_path / "artifacts")
    url = request.getfixturevalue("s3_bucket")
    return open_store(url, request.getfixturevalue("s3_server"))


def test_round_trip_listing_and_existence(store, tmp_path):
    store.put_bytes("runs/r1/prep/a.json", b'{"a": 1}')
    source = tmp_path / "big.bin"
    source.write_bytes(bytes(range(256)) * 40_000)  # 10 MB: above boto3's multipart threshold (8 MB)
    store.put_file("runs/r1/train/model.pt", source)
    assert store.get_bytes("runs/r1/prep/a.json") == b'{"a": 1}'
    dest = tmp_path / "back.bin"
    store.get_file("runs/r1/train/model.pt", dest)
    assert dest.read_bytes() == source.read_bytes()
    assert store.list_keys("runs/r1") == ["runs/r1/prep/a.json", "runs/r1/train/model.pt"]
    assert store.exists("runs/r1/prep/a.json") and not store.exists("runs/r1/prep/missing.json")
    with pytest.raises(StorageError, match="no artifact"):
        store.get_bytes("runs/r1/prep/missing.json")


def test_traversal_is_rejected_before_touching_the_store(store):
    with pytest.raises(InvalidKey):
        store.put_bytes("runs/../../outside", b"x")


def test_manifest_lists_artifacts_with_checksums(store):
    run = Run.create(store, "demo", {"seed": 1}, "cafe")
    ref = run.write("prep", "x.json", b"[1, 2, 3]", "application/json", "k")
    from spotlab.infra.runs import StageRecord

    record = StageRecord(artifacts={"x.json": ref}, metrics={}, config_hash="h", cache_key="k", started="s",
                         finished="f")
    run.record_stage("prep", record, [])
    reopened = Run.open(store, run.run_id)
    [entry] = reopened.manifest.artifacts
    assert (entry.path, entry.bytes, entry.stage) == ("prep/x.json", 9, "prep")
    import hashlib

    assert entry.sha256 == hashlib.sha256(b"[1, 2, 3]").hexdigest()
    assert reopened.read(entry) == b"[1, 2, 3]"


def test_checksum_mismatch_fails_loudly(store):
    run = Run.create(store, "demo", {}, "cafe")
    ref = run.write("prep", "x.json", b"original", "application/json", "k")
    store.put_bytes(ref.key, b"tampered")
    with pytest.raises(ChecksumMismatch, match="checksum mismatch"):
        run.read(ref)


def test_local_write_failure_leaves_nothing_visible(tmp_path):
    store = LocalStore(tmp_path)

    class Boom(Exception):
        pass

    def exploding(handle):
        handle.write(b"half")
        raise Boom

    with pytest.raises(Boom):
        store._atomic_write("runs/r/x.bin", exploding)
    assert store.list_keys("runs") == []
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_unreachable_s3_fails_with_a_clear_error(s3_server):
    with socket.socket() as sock:  # a port with nothing listening
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    store = S3Store("s3://bucket/prefix", endpoint_url=dead, max_attempts=2, timeout_s=1)
    with pytest.raises(StorageError, match="failed on .* after retries"):
        store.put_bytes("runs/r/x", b"x")

"""A store's objects in S3 under Object Lock (COMPLIANCE mode), against a real server.

SeaweedFS (``testing/seaweed.py``) runs once for the session, on 127.0.0.1, with an S3 gateway
that requires keys; each test takes a prefix (or a bucket) of its own. Its filer's HTTP API
is the back door around Object Lock that the audit tests go through.
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import inspect
import io
import os
import secrets
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from base.errors import DalelError
from evidence.storage import s3objects
from evidence.storage.backends import objects_url
from evidence.storage.s3objects import S3BlobStore, prepare_bucket
from evidence.storage.store import Store
from testing.seaweed import free_ports
from tests.conftest import ROOT, VALID_IIN, make_photo, use_s3

BUCKET = "dalel-evidence"


@pytest.fixture(scope="module")
def seaweed(seaweed_server):
    """The session's SeaweedFS server (``tests/conftest.py``; killed, its folder removed,
    even on failure)."""
    return seaweed_server


@pytest.fixture
def s3_env(seaweed, monkeypatch):
    """The server's endpoint and keys in the standard AWS variables, and no others."""
    use_s3(monkeypatch, seaweed)
    return seaweed


@pytest.fixture
def url(s3_env) -> str:
    """A fresh ``s3://BUCKET/PREFIX`` for one test, its bucket ready (Object Lock on)."""
    where = f"s3://{BUCKET}/t-{secrets.token_hex(4)}"
    prepare_bucket(where, 1)
    return where


@pytest.fixture
def blobs(url, tmp_path) -> S3BlobStore:
    return S3BlobStore(objects_url(url), 1, tmp_path / "tmp")


@pytest.fixture
def raw(s3_env):
    """A plain boto3 client with the same keys: what anyone holding them could do."""
    return s3objects.client_from_environment()


def fresh(blobs: S3BlobStore) -> S3BlobStore:
    """Another store on the same prefix: nothing remembered of what was written."""
    return S3BlobStore(blobs.where, blobs.retain_days, blobs.tmp)


def versions(raw, blobs: S3BlobStore, sha: str) -> list[dict]:
    key = blobs.key(sha)
    page = raw.list_object_versions(Bucket=blobs.bucket, Prefix=key)
    return [v for v in page.get("Versions", []) if v["Key"] == key]


# --- the blob store -----------------------------------------------------------------------


def test_round_trips_through_s3(blobs, tmp_path):
    writer = fresh(blobs)
    small = writer.put_bytes(b"a timestamp token")
    assert small.new and small.sha256 == hashlib.sha256(b"a timestamp token").hexdigest()
    streamed = writer.put_stream(io.BytesIO(b"x" * 3_000_000))
    photo = make_photo(tmp_path / "p.jpg")
    with open(photo, "rb") as f:
        filed = writer.put_file(f, head=10, durable=False)
    assert filed.head == photo.read_bytes()[:10]
    assert filed.sha256 == hashlib.sha256(photo.read_bytes()).hexdigest()
    # what intake reads next (its metadata) is the copy just uploaded, not a download
    with writer.local_copy(filed.sha256) as path:
        assert path.parent == tmp_path / "tmp" and path.read_bytes() == photo.read_bytes()
    assert len(list((tmp_path / "tmp").iterdir())) == 1  # the stream's copy, kept likewise
    del writer
    gc.collect()
    assert list((tmp_path / "tmp").iterdir()) == []  # dropped with the store

    reader = fresh(blobs)
    for stored, data in (
        (small, b"a timestamp token"),
        (streamed, b"x" * 3_000_000),
        (filed, photo.read_bytes()),
    ):
        assert reader.exists(stored.sha256)
        assert reader.size(stored.sha256) == len(data) == stored.size
        assert reader.read(stored.sha256) == data
        assert reader.hash_of(stored.sha256) == stored.sha256
        with reader.open(stored.sha256) as f:
            f.seek(1)  # (PIL seeks)
            assert f.read() == data[1:]
        with reader.local_copy(stored.sha256) as path:
            assert path.read_bytes() == data
        assert not path.exists()
    assert sorted(reader.list()) == sorted({small.sha256, streamed.sha256, filed.sha256})

    missing = hashlib.sha256(b"never stored").hexdigest()
    assert not reader.exists(missing) and reader.size(missing) is None
    assert reader.hash_of(missing) is None
    with pytest.raises(FileNotFoundError):
        reader.open(missing)
    reader.make_durable([small.sha256])  # nothing to do: a PUT that returned is durable
    assert list((tmp_path / "tmp").iterdir()) == []  # no temporary copy left behind


def test_each_object_is_written_once_locked_with_its_sha256(blobs, raw):
    first = blobs.put_bytes(b"protocol photo")
    again = fresh(blobs).put_bytes(b"protocol photo")
    assert first.new and not again.new and again.sha256 == first.sha256
    [only] = versions(raw, blobs, first.sha256)  # not written a second time
    head = raw.head_object(
        Bucket=blobs.bucket,
        Key=blobs.key(first.sha256),
        VersionId=only["VersionId"],
        ChecksumMode="ENABLED",
    )
    assert head["ObjectLockMode"] == "COMPLIANCE"
    until = head["ObjectLockRetainUntilDate"] - dt.datetime.now(dt.UTC)
    assert dt.timedelta(hours=23) < until <= dt.timedelta(days=1)
    assert head["ChecksumSHA256"] == s3objects._b64(bytes.fromhex(first.sha256))
    assert blobs.key(first.sha256) == blobs.prefix + first.sha256[:2] + "/" + first.sha256[2:]


def test_the_storage_refuses_bytes_that_do_not_match_the_hash_given(blobs, tmp_path):
    path = tmp_path / "upload"
    path.write_bytes(b"what arrived")
    wrong = hashlib.sha256(b"what was announced").hexdigest()
    with pytest.raises(ValueError, match="does not have the SHA-256"):
        blobs.adopt(path, wrong)
    assert not blobs.exists(wrong)
    right = blobs.adopt(path, hashlib.sha256(b"what arrived").hexdigest())
    assert right.new and fresh(blobs).read(right.sha256) == b"what arrived"


def test_a_large_object_goes_up_in_checked_parts_and_stays_locked(blobs, raw):
    blobs.single_put_max, blobs.part_size = 6 << 20, 5 << 20
    data = os.urandom(11 << 20)  # three parts
    stored = blobs.put_stream(io.BytesIO(data))
    assert stored.new and stored.sha256 == hashlib.sha256(data).hexdigest()
    reader = fresh(blobs)
    found = reader.version(stored.sha256)
    assert found is not None and found.locked and found.size == len(data)
    assert reader.hash_of(stored.sha256) == stored.sha256
    [only] = versions(raw, blobs, stored.sha256)
    with pytest.raises(raw.exceptions.ClientError):
        raw.delete_object(
            Bucket=blobs.bucket, Key=blobs.key(stored.sha256), VersionId=only["VersionId"]
        )


# --- Object Lock -------------------------------------------------------------------------


def test_a_locked_object_cannot_be_deleted_or_overwritten_through_s3(blobs, raw):
    original = b"the protocol as photographed"
    stored = blobs.put_bytes(original)
    key = blobs.key(stored.sha256)
    [locked] = versions(raw, blobs, stored.sha256)

    # deleting the version: refused, whoever asks
    for bypass in ({}, {"BypassGovernanceRetention": True}):
        with pytest.raises(raw.exceptions.ClientError) as refused:
            raw.delete_object(Bucket=blobs.bucket, Key=key, VersionId=locked["VersionId"], **bypass)
        assert refused.value.response["Error"]["Code"] == "AccessDenied"
    # shortening the retention: refused
    with pytest.raises(raw.exceptions.ClientError):
        raw.put_object_retention(
            Bucket=blobs.bucket,
            Key=key,
            VersionId=locked["VersionId"],
            Retention={"Mode": "GOVERNANCE", "RetainUntilDate": dt.datetime.now(dt.UTC)},
        )
    # an overwrite only adds a version; a plain delete only adds a marker
    raw.put_object(Bucket=blobs.bucket, Key=key, Body=b"a forged protocol")
    assert raw.get_object(Bucket=blobs.bucket, Key=key)["Body"].read() == b"a forged protocol"
    raw.delete_object(Bucket=blobs.bucket, Key=key)

    assert len(versions(raw, blobs, stored.sha256)) == 2
    body = raw.get_object(Bucket=blobs.bucket, Key=key, VersionId=locked["VersionId"])["Body"]
    assert body.read() == original  # the locked version is intact
    reader = fresh(blobs)  # and the store reads it, not the newest version
    assert reader.read(stored.sha256) == original
    assert reader.hash_of(stored.sha256) == stored.sha256
    assert reader.size(stored.sha256) == len(original)
    assert list(reader.list()) == [stored.sha256]
    assert not reader.put_bytes(original).new  # still there: not written again


def test_an_object_forged_before_the_store_wrote_it_does_not_stand_for_it(blobs, raw):
    data = b"a photo the store has yet to receive"
    sha = hashlib.sha256(data).hexdigest()
    raw.put_object(Bucket=blobs.bucket, Key=blobs.key(sha), Body=b"planted bytes")  # no lock
    assert blobs.put_bytes(data).new  # the planted object is not taken for it
    assert fresh(blobs).read(sha) == data


# --- the whole store: init, ingest, audit ------------------------------------------------


def _ingest(dalel, store: Path, inbox: Path) -> list[str]:
    r = dalel(
        "--store", store, "ingest", inbox, "--observer", VALID_IIN, "--precinct", "7", "--json"
    )
    assert r.code == 0, r.err
    return [x["sha256"] for x in r.json()["results"] if x["stage"] == "intake"]


@pytest.fixture
def s3_store(url, dalel, tmp_path) -> tuple[Path, str, list[str]]:
    """A store made with ``--objects``, two photos ingested: (folder, url, their hashes)."""
    store = tmp_path / "store"
    r = dalel(
        "--store", store, "init", "--org", "Coalition", "--objects", url, "--retain-days", "1"
    )
    assert r.code == 0, r.err
    inbox = tmp_path / "inbox"
    make_photo(inbox / "protocol-1.jpg", (200, 30, 30))
    make_photo(inbox / "protocol-2.jpg", (30, 200, 30))
    return store, url, _ingest(dalel, store, inbox)


def test_init_ingest_audit_with_objects_in_s3(s3_store, dalel, raw):
    store, url, items = s3_store
    assert len(items) == 2
    config = (store / "config.toml").read_text()
    assert url in config and "retain_days = 1" in config
    assert os.environ["AWS_SECRET_ACCESS_KEY"] not in config  # keys never in the config
    objects = Store.open(store).objects
    assert isinstance(objects, S3BlobStore)
    listed = set(objects.list())
    assert set(items) <= listed and len(listed) > len(items)  # and the timestamp tokens
    leftovers = [p for p in (store / "objects").rglob("*") if p.is_file()]
    assert leftovers == []  # nothing of them on the local disk
    r = dalel("--store", store, "audit", "--json")
    assert r.code == 0, r.out + r.err
    report = r.json()
    assert report["objects_checked"] >= len(listed), report


@pytest.mark.parametrize(
    ("how", "reason"),
    [
        ("deleted", "OBJECT_MISSING"),  # the locked version's file removed
        ("replaced", "OBJECT_MISSING"),  # written over: S3 no longer knows it as a version
        ("altered", "HASH_MISMATCH"),  # one byte changed, its S3 attributes kept
    ],
)
def test_audit_names_an_object_changed_behind_the_s3_gateway(s3_store, dalel, seaweed, how, reason):
    store, _, items = s3_store
    victim = items[0]
    blobs = Store.open(store).objects
    assert isinstance(blobs, S3BlobStore)
    original = blobs.read(victim)
    [version] = seaweed.version_files(blobs.bucket, blobs.key(victim))  # around the gateway
    assert version.headers["Seaweed-X-Amz-Object-Lock-Mode"] == "COMPLIANCE"
    if how == "deleted":
        seaweed.delete_version(version)
    elif how == "replaced":
        seaweed.filer("PUT", version.url, b"\xff\xd8 a different picture")
    else:
        forged = original[:-3] + bytes([original[-3] ^ 1]) + original[-2:]
        seaweed.alter_version(version, forged)
        assert fresh(blobs).read(victim) == forged  # what S3 now serves for it
    r = dalel("--store", store, "audit", "--json")
    assert r.code == 1, r.out + r.err
    failed = [c for c in r.json()["checks"] if c["status"] == "FAILED"]
    assert [(c["check"], c["subject"], c["reason"]) for c in failed] == [
        ("object", victim, reason)
    ], failed
    assert items[1] not in r.out  # the other object is fine


# --- bad input, clear errors --------------------------------------------------------------


def _refused(dalel, store: Path, url: str, code: int, *words: str) -> str:
    r = dalel("--store", store, "init", "--objects", url, "--retain-days", "1")
    assert r.code == code, r.out + r.err
    assert "Traceback" not in r.err and "botocore" not in r.err, r.err
    assert "fix:" in r.err
    for word in words:
        assert word in r.err, r.err
    assert not store.exists()  # a refused bucket leaves no store behind
    return r.err


def test_missing_variables_are_named(s3_env, dalel, tmp_path, monkeypatch):
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    _refused(dalel, tmp_path / "s", f"s3://{BUCKET}/x", 4, "AWS_SECRET_ACCESS_KEY", "not set")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    _refused(dalel, tmp_path / "s", f"s3://{BUCKET}/x", 4, "AWS_ACCESS_KEY_ID and")


def test_wrong_keys_are_refused_plainly(s3_env, dalel, tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    _refused(dalel, tmp_path / "s", f"s3://{BUCKET}/x", 4, "refused the keys")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "NOSUCHKEY")
    _refused(dalel, tmp_path / "s", f"s3://{BUCKET}/x", 4, "refused the keys")


def test_an_unreachable_endpoint_is_said_so(s3_env, dalel, tmp_path, monkeypatch):
    [port] = free_ports(1)  # nothing listens there
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    _refused(dalel, tmp_path / "s", f"s3://{BUCKET}/x", 4, "cannot reach", f":{port}")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "127.0.0.1:9")
    _refused(dalel, tmp_path / "s", f"s3://{BUCKET}/x", 4, "not an http(s) URL")


def test_a_bucket_without_object_lock_is_refused(s3_env, raw, dalel, tmp_path):
    bucket = "plain-" + secrets.token_hex(4)
    raw.create_bucket(Bucket=bucket)  # no Object Lock
    _refused(dalel, tmp_path / "s", f"s3://{bucket}/p", 2, "no Object Lock")


def test_a_prefix_another_store_uses_is_refused(url, dalel, tmp_path, raw):
    where = objects_url(url)
    raw.put_object(Bucket=where.bucket, Key=where.prefix + "ab/cd", Body=b"x")
    _refused(dalel, tmp_path / "s", url, 2, "already holds objects")


def test_a_store_opened_without_its_keys_says_so(s3_store, dalel, monkeypatch):
    store, _, _ = s3_store
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    r = dalel("--store", store, "audit")
    assert r.code == 4 and "AWS_ACCESS_KEY_ID" in r.err and "Traceback" not in r.err, r.err


def test_every_error_is_a_dalel_error():
    classes = [
        c
        for _, c in inspect.getmembers(s3objects, inspect.isclass)
        if issubclass(c, BaseException) and c.__module__ == s3objects.__name__
    ]
    assert len(classes) >= 6
    for c in classes:
        if c.__name__.startswith("_"):  # internal: never leaves the module
            continue
        assert issubclass(c, DalelError), c


def test_a_folder_store_never_loads_boto3(tmp_path):
    from evidence.provision import init_store

    init_store(tmp_path / "folder")
    code = (
        "import sys; from pathlib import Path; from evidence.storage.store import Store; "
        f"s = Store.open(Path({str(tmp_path / 'folder')!r})); list(s.objects.list()); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("days", [None, "seven", -1.5])
def test_a_config_without_a_number_of_days_is_said_plainly(tmp_path, dalel, days):
    """An [objects] section edited by hand without a whole number of days is named when the
    objects are first used (no trace)."""
    import tomli_w

    from evidence.provision import init_store

    init_store(tmp_path / "s", org="Test Coalition")
    config = tomllib.loads((tmp_path / "s" / "config.toml").read_text())
    config["objects"] = {"url": f"s3://{BUCKET}/x"}
    if days is not None:
        config["objects"]["retain_days"] = days
    (tmp_path / "s" / "config.toml").write_text(tomli_w.dumps(config))
    r = dalel("--store", tmp_path / "s", "audit")
    assert r.code == 2, (r.code, r.err)
    assert "retain_days" in r.err and "--retain-days" in r.err, r.err
    assert "Traceback" not in r.err

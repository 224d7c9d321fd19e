"""Intake servers that keep nothing of their own: a store with its index in PostgreSQL and its
objects in S3 keeps uploads in progress there (app/upload_parts.py), so that any server of it
goes on with an upload another one started, and a server that dies loses nothing acknowledged.
Real PostgreSQL and SeaweedFS, started by the tests, and real ``dalel serve`` processes."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app import observers, upload_parts, uploads
from evidence.storage.store import Store
from testing.seaweed import SeaweedServer
from tests.conftest import dalel_subprocess, make_photo
from tests.web.test_server import Server, _auth, _create, _patch, _receipt

BUCKET = "dalel-intake"


@pytest.fixture(scope="module")
def s3() -> Iterator[SeaweedServer]:
    with SeaweedServer.start() as server:
        yield server


@pytest.fixture
def national(postgres_server, s3, tmp_path, monkeypatch) -> Path:
    """A store of the national kind (index in PostgreSQL, objects in S3) in ``tmp_path/store``."""
    monkeypatch.setenv("PGPASSWORD", postgres_server.password)
    for name, value in s3.environ().items():
        monkeypatch.setenv(name, value)
    store = tmp_path / "store"
    made = dalel_subprocess(
        "--store",
        store,
        "init",
        "--org",
        "Coalition",
        "--db",
        postgres_server.create_database(),
        "--objects",
        f"s3://{BUCKET}/{tmp_path.name}",
        "--retain-days",
        "1",
    )
    assert made.returncode == 0, made.stderr
    return store


@pytest.fixture
def photo(tmp_path) -> bytes:
    return make_photo(tmp_path / "p.jpg", (10, 120, 200), (320, 240)).read_bytes()


def _elsewhere(store: Path, where: Path) -> Path:
    """A folder as on another machine: the store's config.toml and keys, nothing else."""
    where.mkdir()
    shutil.copy(store / "config.toml", where / "config.toml")
    shutil.copytree(store / "keys", where / "keys")
    return where


def _parts_in_bucket(s3: SeaweedServer, store: Path) -> list[str]:
    """Every version of anything under the store's ``uploads/`` prefix in the bucket."""
    import boto3

    client = boto3.client("s3", **_boto_args(s3))
    prefix = Store.open(store).config.raw["objects"]["url"].split("/", 3)[3].rstrip("/")
    got = client.list_object_versions(Bucket=BUCKET, Prefix=f"{prefix}/uploads/")
    return [v["Key"] for v in got.get("Versions", [])] + [
        m["Key"] for m in got.get("DeleteMarkers", [])
    ]


def _boto_args(s3: SeaweedServer) -> dict[str, str]:
    env = s3.environ()
    return {
        "endpoint_url": env["AWS_ENDPOINT_URL"],
        "aws_access_key_id": env["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
        "region_name": env.get("AWS_DEFAULT_REGION", "us-east-1"),
    }


def test_an_upload_started_on_a_server_that_died_is_finished_on_another(
    national, s3, tmp_path, photo
):
    """Half a photo sent to a server on another machine (its folder holds no log), that
    server killed; the phone asks the other server where the upload stands, sends the rest
    there and gets a receipt that verifies, from either server. Nothing of the upload stays
    in the bucket but the object, and no server keeps it in a folder."""
    store = Store.open(national)
    issued = observers.invite(store, "31")
    far = Server(_elsewhere(national, tmp_path / "far")).start()
    near = Server(national).start()
    try:
        assert httpx.get(far.url + "/health").json()["sequencer"].startswith("on the server")
        assert httpx.get(far.url + "/w/").status_code == 404  # (uploads only there)
        r = _create(far, issued.token, photo, kind="protocol")
        assert r.status_code == 201, r.text
        loc = r.headers["Location"]
        half = len(photo) // 2
        assert _patch(far, issued.token, loc, 0, photo[:half]).status_code == 204
        far.kill()

        head = httpx.head(near.url + loc, headers=_auth(issued.token))
        assert head.headers["Upload-Offset"] == str(half)
        assert _patch(near, issued.token, loc, half, photo[half:]).status_code == 204
        got = _receipt(near, issued.token, loc)
        assert got.status_code == 200, got.text
        receipt = got.json()
        assert receipt["entry"]["item"]["sha256"] == hashlib.sha256(photo).hexdigest()

        far.start()  # (again: it answers with the receipt the other server's batch made)
        again = httpx.get(far.url + loc + "/receipt", headers=_auth(issued.token))
        assert again.status_code == 200 and again.json() == receipt
    finally:
        far.stop()
        near.stop()
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(receipt))
    v = dalel_subprocess("receipt", "verify", path, "--store", national, "--json")
    assert v.returncode == 0, v.stdout + v.stderr
    assert Store.open(national).objects.read(receipt["entry"]["item"]["sha256"]) == photo
    assert _parts_in_bucket(s3, national) == []
    assert not (national / "uploads").exists() and not (tmp_path / "far" / "uploads").exists()
    assert not (tmp_path / "far" / "log").exists()  # (the far server wrote no log of its own)
    assert dalel_subprocess("--store", national, "audit").returncode == 0


def test_two_servers_sending_the_same_bytes_at_once_count_them_once(national, photo):
    """Two requests (as from two servers: two Store objects) send the same upload from the
    same byte at once: the first to keep its part moves the upload on; the other is told
    to ask for the offset (409) and what it sent is deleted, not counted."""
    a, b = Store.open(national), Store.open(national)
    inv = observers.authenticate(a, observers.invite(a, "31").token)
    assert inv is not None
    up = uploads.create(a, inv, len(photo), {"kind": "protocol"})
    first = uploads.open_append(a, inv, up.id, 0)
    second = uploads.open_append(b, inv, up.id, 0)
    first.write(photo[:1000])
    second.write(b"x" * 1000)  # other bytes: must never be counted
    assert first.close().offset == 1000
    with pytest.raises(uploads.UploadRefused) as refused:
        second.close()
    assert refused.value.reason is uploads.Reason.OFFSET_MISMATCH
    done = uploads.append(b, inv, up.id, 1000, [photo[1000:]])
    assert done.received is not None
    assert done.received["sha256"] == hashlib.sha256(photo).hexdigest()
    parts = upload_parts.SharedUploads(a).parts(up.id)
    assert [(p.start, p.size) for p in parts] == [(0, 1000), (1000, len(photo) - 1000)]
    assert uploads.commit_received(a) == [up.id]
    state = uploads.receipt(b, inv, up.id)
    assert state.state == "receipted"
    assert a.objects.read(state.body["entry"]["item"]["sha256"]) == photo
    assert upload_parts.SharedUploads(a).parts(up.id) == []


def test_what_a_dying_server_kept_stays_and_the_rest_is_sent_again(national, monkeypatch):
    """A request that ends without its close (the server died): the parts it had kept (one
    every PART_BYTES) count, what it gathered since does not; another server goes on."""
    monkeypatch.setattr(uploads, "PART_BYTES", 4096)
    data = os.urandom(10_000)
    a, b = Store.open(national), Store.open(national)
    inv = observers.authenticate(a, observers.invite(a, "31").token)
    assert inv is not None
    up = uploads.create(a, inv, len(data), {"kind": "other"})
    dying = uploads.open_append(a, inv, up.id, 0)
    for i in range(0, 9000, 1000):
        dying.write(data[i : i + 1000])  # a part kept at 5,000 bytes; 4,000 gathered since
    assert uploads.get(b, inv, up.id).offset == 5000
    with pytest.raises(uploads.UploadRefused):  # (not from where the dead one had got to)
        uploads.open_append(b, inv, up.id, 9000)
    done = uploads.append(b, inv, up.id, 5000, [data[5000:]])
    assert done.received is not None
    assert done.received["sha256"] == hashlib.sha256(data).hexdigest()  # read back from S3


def test_the_hourly_limit_and_abandoning_hold_across_servers(national, s3):
    """The uploads an invite may start in an hour are counted across servers; an upload
    abandoned on one server is gone on the other, its parts deleted from the bucket."""
    a, b = Store.open(national), Store.open(national)
    config = national / "config.toml"
    config.write_text(config.read_text() + "\n[web]\nuploads_per_hour = 2\n")
    a, b = Store.open(national), Store.open(national)
    inv = observers.authenticate(a, observers.invite(a, "31").token)
    assert inv is not None
    first = uploads.create(a, inv, 10, {"kind": "other"})
    uploads.create(b, inv, 10, {"kind": "other"})
    with pytest.raises(uploads.UploadRefused) as refused:
        uploads.create(a, inv, 10, {"kind": "other"})
    assert refused.value.reason is uploads.Reason.RATE_LIMITED
    uploads.append(a, inv, first.id, 0, [b"12345"])
    assert _parts_in_bucket(s3, national) != []
    uploads.terminate(b, inv, first.id)
    with pytest.raises(uploads.UploadRefused) as gone:
        uploads.get(a, inv, first.id)
    assert gone.value.reason is uploads.Reason.NOT_FOUND
    assert _parts_in_bucket(s3, national) == []
    with pytest.raises(uploads.UploadRefused):  # (abandoned uploads still count)
        uploads.create(b, inv, 10, {"kind": "other"})


def test_two_sequencers_never_take_one_upload_twice(national, photo):
    """Two servers' sequencers commit at the same moment: each upload gets one custody
    entry and one outcome."""
    a, b = Store.open(national), Store.open(national)
    inv = observers.authenticate(a, observers.invite(a, "31").token)
    assert inv is not None
    ids = []
    for i in range(4):
        data = photo + bytes([i])  # four different files
        up = uploads.create(a, inv, len(data), {"kind": "other"})
        uploads.append(a, inv, up.id, 0, [data])
        ids.append(up.id)
    done: list[list[str]] = []
    threads = [
        threading.Thread(target=lambda s=s: done.append(uploads.commit_received(s))) for s in (a, b)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(x for d in done for x in d) == sorted(ids)  # one batch took them all
    store = Store.open(national)
    store.index.catch_up()
    for i, upload_id in enumerate(ids):
        sha = hashlib.sha256(photo + bytes([i])).hexdigest()
        entries = [e for e in store.index.history(sha) if e.get("event") == "ingest"]
        assert [e.get("channel") for e in entries] == [uploads.CHANNEL_PREFIX + upload_id]
        assert uploads.receipt(b, inv, upload_id).state == "receipted"
    assert uploads.pending(a) == []


def test_a_batch_that_died_before_its_outcomes_is_not_taken_twice(
    national, photo, monkeypatch, tmp_path
):
    """The sequencer died after the commit and before writing the outcome: the next batch
    finds the upload's entry in the log, writes the outcome with its receipt (for every
    server), and logs nothing twice."""
    store = Store.open(national)
    inv = observers.authenticate(store, observers.invite(store, "31").token)
    assert inv is not None
    up = uploads.create(store, inv, len(photo), {"kind": "protocol"})
    uploads.append(store, inv, up.id, 0, [photo])

    def dies(*_a: object) -> None:
        raise RuntimeError("the sequencer died here")

    with monkeypatch.context() as m:
        m.setattr(uploads, "_finish", dies)
        with pytest.raises(RuntimeError):
            uploads.commit_received(store)
    assert uploads.pending(store) == [up.id]
    assert uploads.commit_received(store) == [up.id]
    far = Store.open(_elsewhere(national, tmp_path / "far"))  # (no receipts of its own)
    state = uploads.receipt(far, inv, up.id)
    assert state.state == "receipted"
    sha = hashlib.sha256(photo).hexdigest()
    entries = [e for e in store.index.history(sha) if e.get("event") == "ingest"]
    assert len(entries) == 1 and state.body["entry"]["seq"] == entries[0]["seq"]

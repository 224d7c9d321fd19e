"""The log's tiles published into the store's S3 bucket (``PREFIX + "log/"``), against a real
SeaweedFS: every commit brings them up to date, byte for byte what ``dalel log tiles`` writes
into a folder, with the cache headers a CDN needs, full tiles under Object Lock."""

from __future__ import annotations

from pathlib import Path

import pytest

from evidence.core import checkpoint as cp
from evidence.core import tiles
from evidence.storage.store import Store
from tests.conftest import make_photo
from tests.evidence import test_s3_objects as s3t

# the S3 server, its keys, a bucket prefix and a store on it: test_s3_objects' fixtures
seaweed, s3_env, url, raw, s3_store = s3t.seaweed, s3t.s3_env, s3t.url, s3t.raw, s3t.s3_store
_ingest = s3t._ingest


def _published(raw, store: Path) -> dict[str, bytes]:
    """Every object under the store's ``log/`` prefix, by its path below it."""
    objects = Store.open(store).objects
    prefix = f"{objects.prefix}log/"
    out: dict[str, bytes] = {}
    pages = raw.get_paginator("list_objects_v2").paginate(Bucket=objects.bucket, Prefix=prefix)
    for page in pages:
        for o in page.get("Contents", []):
            got = raw.get_object(Bucket=objects.bucket, Key=o["Key"])
            out[o["Key"][len(prefix) :]] = got["Body"].read()
    return out


def _folder(dalel, store: Path, out: Path) -> dict[str, bytes]:
    r = dalel("--store", store, "log", "tiles", "--out", out)
    assert r.code == 0, r.err
    return {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def test_each_commit_publishes_the_tiles_into_the_bucket(s3_store, dalel, raw, tmp_path):
    store, _, _ = s3_store
    published = _published(raw, store)
    latest = Store.open(store).latest_checkpoint()
    assert latest is not None
    assert published["checkpoint"] == latest.text.encode()  # the newest, as signed
    assert cp.parse(published["checkpoint"].decode()).signed_by(Store.open(store).public_key())
    assert published == _folder(dalel, store, tmp_path / "tiles")  # byte for byte

    inbox = tmp_path / "more"  # another commit: the bucket follows
    make_photo(inbox / "act.jpg", (10, 10, 200))
    _ingest(dalel, store, inbox)
    again = _published(raw, store)
    newer = Store.open(store).latest_checkpoint()
    assert newer is not None and newer.checkpoint.size > latest.checkpoint.size
    assert again["checkpoint"] == newer.text.encode()
    fresh = _folder(dalel, store, tmp_path / "tiles2")
    assert {k: again[k] for k in fresh} == fresh  # every tile of the newer size, the same
    assert all(".p/" in k for k in set(again) - set(fresh))  # and older partial tiles


@pytest.mark.timeout(600)
def test_a_full_tile_is_final_locked_and_cached_for_ever(s3_store, dalel, raw, tmp_path):
    store, _, _ = s3_store
    inbox = tmp_path / "many"
    for i in range(tiles.WIDTH):  # past one full tile of leaves
        make_photo(inbox / f"p{i:03d}.jpg", (i % 256, (7 * i) % 256, 90), size=(16, 12))
    _ingest(dalel, store, inbox)
    objects = Store.open(store).objects
    full = f"{objects.prefix}log/{tiles.tile_path(0, 0, tiles.WIDTH)}"
    head = raw.head_object(Bucket=objects.bucket, Key=full)
    assert head["CacheControl"] == "public, max-age=31536000, immutable"
    assert head["ObjectLockMode"] == "COMPLIANCE"
    with pytest.raises(raw.exceptions.ClientError) as refused:
        raw.delete_object(Bucket=objects.bucket, Key=full, VersionId=head["VersionId"])
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    checkpoint = raw.head_object(Bucket=objects.bucket, Key=f"{objects.prefix}log/checkpoint")
    assert checkpoint["CacheControl"] == "no-cache"  # asked again each time
    fresh = _folder(dalel, store, tmp_path / "tiles")
    assert {k: v for k, v in _published(raw, store).items() if k in fresh} == fresh


def test_the_bucket_keeps_one_version_of_the_checkpoint(s3_store, dalel, raw, tmp_path):
    """The checkpoint is written again at every commit; a versioned bucket would keep each
    one (some 20,000 a night): only the newest stays. Full tiles are never rewritten."""
    store, _, _ = s3_store
    for i in range(3):
        inbox = tmp_path / f"more-{i}"
        make_photo(inbox / "act.jpg", (10 * i, 10, 200))
        _ingest(dalel, store, inbox)
    objects = Store.open(store).objects
    key = f"{objects.prefix}log/checkpoint"
    listed = raw.list_object_versions(Bucket=objects.bucket, Prefix=key)
    versions = [v for v in listed.get("Versions", []) if v["Key"] == key]
    assert len(versions) == 1 and versions[0]["IsLatest"]
    latest = Store.open(store).latest_checkpoint()
    assert latest is not None
    held = raw.get_object(Bucket=objects.bucket, Key=key)["Body"].read()
    assert held == latest.text.encode()

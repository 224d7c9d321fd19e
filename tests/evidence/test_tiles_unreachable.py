"""A bucket the log's tiles go to that cannot be reached (nothing listens at its endpoint):
the commit still succeeds, its entries durable in the log; the tiles fall behind, with a
warning, and the next commit (or ``dalel log tiles``) catches up."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from evidence.core import events
from evidence.storage import tiles_out
from evidence.storage.s3objects import S3BlobStore, objects_url
from evidence.storage.store import Store


@pytest.fixture
def refusing_endpoint(monkeypatch) -> Iterator[str]:
    """An S3 endpoint that refuses connections: a port held, and never listened on."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{held.getsockname()[1]}"
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "dalel-test")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "dalel-test-secret")
        monkeypatch.setenv("AWS_REGION", "us-east-1")
        yield url


def _unreachable_bucket(tmp_path: Path) -> tiles_out.Bucket:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    return tiles_out.Bucket(S3BlobStore(objects_url("s3://dalel/store/"), 1, tmp))


def _entry(n: int) -> dict:
    return {
        "event": events.USER_CHANGE,
        "actor": {"role": "workspace", "id": "cli"},
        "user": "cli",
        "change": f"signup-link-{n}",
    }


def test_reading_an_unreachable_bucket_is_an_oserror(refusing_endpoint, tmp_path):
    with pytest.raises(OSError, match="reading s3://dalel/store/log/checkpoint"):
        _unreachable_bucket(tmp_path).get("checkpoint")


@pytest.mark.timeout(300)
def test_a_commit_succeeds_when_the_tiles_bucket_is_unreachable(
    refusing_endpoint, tmp_path, caplog
):
    store = Store.create(tmp_path / "s", "Coalition")
    store.add_hook(tiles_out.TilesHook(_unreachable_bucket(tmp_path)))
    with caplog.at_level(logging.WARNING, logger="dalel"):
        with store.writer() as w:  # (the hook reads the bucket's checkpoint when it opens)
            w.append(_entry(1))
            w.commit()  # (and publishes after the commit)
            w.append(_entry(2))
    lines = store.log_path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2  # both durable
    latest = Store.open(store.root).latest_checkpoint()
    assert latest is not None and latest.checkpoint.size == 2  # and signed
    warned = [r.getMessage() for r in caplog.records if r.name == "dalel"]
    assert any("s3://dalel/store/log/" in m for m in warned), warned

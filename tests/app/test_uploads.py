"""Uploads without a second read: hashed as the bytes are written, linked into the object
store, receipt requests that wait for their batch."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import io
import os
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path
from typing import Self

import httpx
import numpy as np
import pytest
from PIL import Image
from starlette.requests import Request

from app import observers, uploads
from evidence.storage.objects import FileBlobStore
from evidence.storage.store import Store
from web.app import MAX_WAIT, _prefer_wait, create_app

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def photo(tmp_path) -> bytes:
    """A noisy photo of some 45 KB (a plain one would be a few hundred bytes)."""
    rng = np.random.default_rng(3)
    out = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)).save(out, "JPEG")
    assert len(out.getvalue()) > 20_000
    return out.getvalue()


@pytest.fixture
def observer(store_dir) -> tuple[Store, observers.Invite, str]:
    store = Store.open(store_dir)
    issued = observers.invite(store, "31")
    inv = observers.authenticate(store, issued.token)
    assert inv is not None
    return store, inv, issued.token


class Opens:
    """Every file opened for reading under ``folder`` while it is active (Python's audit
    hook for ``open``: what the code does, not what it says it does)."""

    active: Opens | None = None
    installed = False

    def __init__(self, folder: Path) -> None:
        self.folder = str(folder)
        self.read: list[str] = []

    def __enter__(self) -> Self:
        if not Opens.installed:
            sys.addaudithook(Opens._hook)
            Opens.installed = True
        Opens.active = self
        return self

    def __exit__(self, *exc: object) -> None:
        Opens.active = None

    @staticmethod
    def _hook(event: str, args: tuple) -> None:
        me = Opens.active
        if me is None or event != "open" or not isinstance(args[0], str | Path):
            return
        path, mode, flags = str(args[0]), args[1], args[2]
        if mode is None:  # os.open: the flags say
            reads = (flags & os.O_ACCMODE) in (os.O_RDONLY, os.O_RDWR)
        else:
            reads = "r" in str(mode) or "+" in str(mode)
        if path.startswith(me.folder) and reads:
            me.read.append(path)


def _data(store: Store, upload_id: str) -> Path:
    return store.root / uploads.UPLOADS_DIR / upload_id / "data"


def test_an_upload_is_hashed_as_its_bytes_are_written_never_read_again(observer, photo):
    store, inv, _ = observer
    up = uploads.create(store, inv, len(photo), {"filename": "a.jpg"})
    with Opens(store.root / uploads.UPLOADS_DIR / up.id) as opens:
        uploads.append(store, inv, up.id, 0, [photo[:1000]])
        done = uploads.append(store, inv, up.id, 1000, [photo[1000:5000], photo[5000:]])
    assert done.received is not None
    assert done.received["sha256"] == hashlib.sha256(photo).hexdigest()
    assert done.received["ack"]["statement"]["sha256"] == hashlib.sha256(photo).hexdigest()
    assert [p for p in opens.read if p.endswith("/data")] == []


def test_a_resumed_upload_whose_hash_the_server_lost_is_hashed_from_its_bytes(observer, photo):
    """A server restarted mid-upload holds no hash state: the bytes so far are hashed once
    when the phone resumes; a state that does not match the file is not trusted."""
    store, inv, _ = observer
    up = uploads.create(store, inv, len(photo), {"filename": "a.jpg"})
    uploads.append(store, inv, up.id, 0, [photo[:3000]])
    uploads._HASHING.clear()  # what a restart leaves
    done = uploads.append(store, inv, up.id, 3000, [photo[3000:]])
    assert done.received is not None
    assert done.received["sha256"] == hashlib.sha256(photo).hexdigest()

    up2 = uploads.create(store, inv, len(photo), {"filename": "b.jpg"})
    uploads.append(store, inv, up2.id, 0, [photo[:3000]])
    key = (str(store.root), up2.id)
    _, state = uploads._HASHING[key]
    uploads._HASHING[key] = (2000, state)  # a state for fewer bytes than the file holds
    done = uploads.append(store, inv, up2.id, 3000, [photo[3000:]])
    assert done.received is not None
    assert done.received["sha256"] == hashlib.sha256(photo).hexdigest()


def test_bytes_refused_for_running_past_the_end_are_not_hashed(observer, photo):
    store, inv, _ = observer
    up = uploads.create(store, inv, len(photo), {"filename": "a.jpg"})
    with pytest.raises(uploads.UploadRefused):
        uploads.append(store, inv, up.id, 0, [photo[:100], photo + b"extra"])
    done = uploads.append(store, inv, up.id, 100, [photo[100:]])
    assert done.received is not None
    assert done.received["sha256"] == hashlib.sha256(photo).hexdigest()


# The folder only: what is shown is one inode, the upload's file become the object's file in
# objects/ (into S3 it is uploaded: the next test reads it back on both backends).
@pytest.mark.parametrize("store_dir", ["folder"], indirect=True)
def test_a_received_upload_is_linked_into_the_store_not_copied(observer, photo):
    store, inv, _ = observer
    up = uploads.create(store, inv, len(photo), {"filename": "a.jpg", "kind": "protocol"})
    uploads.append(store, inv, up.id, 0, [photo])
    inode = _data(store, up.id).stat().st_ino
    assert uploads.commit_received(store) == [up.id]
    sha = hashlib.sha256(photo).hexdigest()
    obj = store.root / "objects" / sha[:2] / sha[2:]
    assert obj.stat().st_ino == inode  # the same file, no copy
    assert obj.read_bytes() == photo
    assert oct(obj.stat().st_mode & 0o777) == oct(0o444)
    assert not _data(store, up.id).exists()  # the upload's own name for it is gone
    assert obj.stat().st_nlink == 1
    state = uploads.receipt(store, inv, up.id)
    assert state.state == "receipted" and state.body["entry"]["item"]["sha256"] == sha


def test_the_same_photo_uploaded_twice_is_stored_once(observer, photo):
    store, inv, _ = observer
    ids = []
    for name in ("a.jpg", "b.jpg"):
        up = uploads.create(store, inv, len(photo), {"filename": name})
        uploads.append(store, inv, up.id, 0, [photo])
        ids.append(up.id)
    assert sorted(uploads.commit_received(store)) == sorted(ids)
    sha = hashlib.sha256(photo).hexdigest()
    assert store.objects.read(sha) == photo
    assert all(uploads.receipt(store, inv, i).state == "receipted" for i in ids)


def _received_uploads(store: Store, inv: observers.Invite, n: int) -> list[str]:
    ids = []
    for i in range(n):
        data = f"photo {i} {time.time_ns()}".encode() * 40
        up = uploads.create(store, inv, len(data), {"filename": f"{i}.jpg"})
        uploads.append(store, inv, up.id, 0, [data])
        ids.append(up.id)
    return ids


def test_two_sequencers_at_once_take_each_upload_once(observer):
    """A sequencer left running by a server killed while it started, and the next server's:
    both at once on the same received uploads. Each upload is committed once, by one of them,
    and none is refused for bytes the other already took into the store."""
    store, inv, _ = observer
    ids = _received_uploads(store, inv, 40)
    start = threading.Barrier(2)
    done: list[list[str]] = []
    failed: list[BaseException] = []

    def sequencer() -> None:
        mine = Store.open(store.root)
        start.wait()
        try:
            done.append(uploads.commit_received(mine, limit=100))
        except BaseException as e:
            failed.append(e)

    threads = [threading.Thread(target=sequencer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not failed, failed
    assert sorted(i for d in done for i in d) == sorted(ids)  # each taken by one of them
    s = Store.open(store.root)
    s.index.catch_up()
    channels = [e.get("channel") for e in s.index.entries_by_event("ingest")]
    assert sorted(c for c in channels if c) == sorted("web:" + i for i in ids)
    assert all(uploads.receipt(s, inv, i).state == "receipted" for i in ids)


def test_a_sequencer_whose_server_is_already_gone_ends_at_once(observer):
    """A server killed while its sequencer's interpreter was starting: the sequencer finds
    itself given to init, ends at once, and commits nothing (the next server's does)."""
    store, inv, _ = observer
    ids = _received_uploads(store, inv, 2)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pid that is not our sequencer's parent
    ran = subprocess.run(
        [sys.executable, "-m", "web.sequencer", "--parent", str(gone.pid), str(store.root)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        capture_output=True,
        timeout=60,
    )
    assert ran.returncode == 0 and ran.stdout == b""
    assert sorted(uploads.pending(store)) == sorted(ids)  # nothing taken
    ran = subprocess.run(  # its true parent given: it commits them when its stdin closes
        [sys.executable, "-m", "web.sequencer", "--parent", str(os.getpid()), str(store.root)],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=120,
    )
    assert ran.returncode == 0 and b"done" in ran.stdout
    assert not uploads.pending(store)


def test_adopt_across_file_systems_copies_and_checks_the_hash(tmp_path, photo):
    """/dev/shm is another file system (tmpfs): no link there, a copy hashed as usual."""
    shm = Path("/dev/shm")
    assert shm.is_dir() and os.stat(shm).st_dev != os.stat(tmp_path).st_dev
    blobs = FileBlobStore(tmp_path / "objects")
    src = shm / f"dalel-test-{os.getpid()}.jpg"
    try:
        src.write_bytes(photo)
        with pytest.raises(OSError) as e:
            os.link(src, tmp_path / "x")
        assert e.value.errno == errno.EXDEV
        sha = hashlib.sha256(photo).hexdigest()
        stored = blobs.adopt(src, sha)
        assert (stored.sha256, stored.size, stored.new) == (sha, len(photo), True)
        assert blobs.read(sha) == photo
        other = shm / f"dalel-test-{os.getpid()}-2.jpg"
        other.write_bytes(photo + b"x")
        with pytest.raises(ValueError, match="does not have the SHA-256"):
            blobs.adopt(other, hashlib.sha256(b"something else").hexdigest())
    finally:
        for p in shm.glob(f"dalel-test-{os.getpid()}*"):
            p.unlink()


def _request(prefer: str | None) -> Request:
    headers = [(b"prefer", prefer.encode())] if prefer is not None else []
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers})


@pytest.mark.parametrize(
    "prefer, seconds",
    [
        (None, 0.0),
        ("wait=5", 5.0),
        ("respond-async, wait=2.5", 2.5),
        ('WAIT="3"', 3.0),
        ("wait=100000", MAX_WAIT),
        ("wait=-4", 0.0),
        ("wait=nan", 0.0),
        ("wait=inf", 0.0),
        ("wait=soon", 0.0),
        ("return=minimal", 0.0),
    ],
)
def test_prefer_wait_is_read_within_bounds(prefer, seconds):
    assert _prefer_wait(_request(prefer)) == seconds


def test_a_receipt_request_waits_for_its_batch(observer, photo):
    """``Prefer: wait=N``: the answer comes when the batch is committed, not before and
    not a poll later; with nothing committed it comes at the end of the wait, still 202."""
    store, inv, token = observer
    up = uploads.create(store, inv, len(photo), {"filename": "a.jpg"})
    uploads.append(store, inv, up.id, 0, [photo])
    app = create_app(store)
    service = app.state.service  # its sequencer is not started: the test commits
    auth = {"Authorization": f"Bearer {token}"}
    url = f"/api/uploads/{up.id}/receipt"

    async def main() -> None:
        service._loop = asyncio.get_running_loop()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            assert (await c.get(url, headers=auth)).status_code == 202  # no wait asked
            t = time.monotonic()
            r = await c.get(url, headers={**auth, "Prefer": "wait=1"})
            assert r.status_code == 202 and time.monotonic() - t >= 1.0
            assert r.headers["preference-applied"] == "wait=1"
            waiting = asyncio.create_task(c.get(url, headers={**auth, "Prefer": "wait=25"}))
            await asyncio.sleep(0.3)
            assert not waiting.done()
            await asyncio.to_thread(uploads.commit_received, store)
            t = time.monotonic()
            service._batch_done()  # what the sequencer does after each batch
            r = await asyncio.wait_for(waiting, 10)
            assert r.status_code == 200 and time.monotonic() - t < 5
            assert r.json()["entry"]["item"]["sha256"] == hashlib.sha256(photo).hexdigest()

    asyncio.run(main())


# --- uploads abandoned ---------------------------------------------------------------------
def _age(store: Store, upload_id: str, days: float) -> None:
    """Make an upload look as if its last byte came ``days`` ago (its row's times, or its
    files' modification times)."""
    from app import upload_parts

    then = time.time() - days * 86400
    if upload_parts.shared(store):
        with upload_parts.SharedUploads(store)._db() as con:
            con.execute(
                "UPDATE uploads SET started=?, touched=? WHERE id=?", (then, then, upload_id)
            )
    else:
        for f in (store.root / uploads.UPLOADS_DIR / upload_id).iterdir():
            os.utime(f, (then, then))


def _left_of(store: Store, upload_id: str) -> list[str]:
    """What is left of an upload's bytes: its folder's files, or its parts' versions in the
    bucket."""
    from app import upload_parts

    if upload_parts.shared(store):
        blobs = upload_parts.SharedUploads(store).blobs
        got = blobs.client.list_object_versions(
            Bucket=blobs.bucket, Prefix=f"{blobs.prefix}uploads/{upload_id}/"
        )
        return [v["Key"] for v in got.get("Versions", [])]
    d = store.root / uploads.UPLOADS_DIR / upload_id
    return [f.name for f in d.iterdir()] if d.exists() else []


def test_an_upload_without_a_byte_for_a_week_is_deleted_and_a_received_one_never(observer, photo):
    store, inv, _ = observer
    half = len(photo) // 2
    made = {}
    for name in ("idle", "recent", "received"):
        up = uploads.create(store, inv, len(photo), {"filename": f"{name}.jpg"})
        uploads.append(store, inv, up.id, 0, [photo if name == "received" else photo[:half]])
        made[name] = up.id
    _age(store, made["idle"], 8)
    _age(store, made["received"], 8)
    _age(store, made["recent"], 6)
    assert _left_of(store, made["idle"])

    assert uploads.expire_abandoned(store) == [made["idle"]]
    assert _left_of(store, made["idle"]) == []
    for asked in (
        lambda: uploads.get(store, inv, made["idle"]),
        lambda: uploads.append(store, inv, made["idle"], half, [photo[half:]]),
    ):
        with pytest.raises(uploads.UploadRefused) as e:
            asked()
        assert e.value.reason == uploads.Reason.NOT_FOUND
    assert uploads.get(store, inv, made["recent"]).offset == half
    # the received one is committed as any other, a week late or not
    assert uploads.commit_received(store) == [made["received"]]
    assert uploads.receipt(store, inv, made["received"]).state == "receipted"
    assert uploads.expire_abandoned(store) == []


def test_a_byte_sent_later_keeps_an_upload_and_zero_days_keeps_every_one(
    observer, photo, store_dir
):
    import tomli_w

    store, inv, _ = observer
    third = len(photo) // 3
    up = uploads.create(store, inv, len(photo), {"filename": "slow.jpg"})
    uploads.append(store, inv, up.id, 0, [photo[:third]])
    _age(store, up.id, 8)
    uploads.append(store, inv, up.id, third, [photo[third : 2 * third]])  # (a week later)
    assert uploads.expire_abandoned(store) == []
    assert uploads.get(store, inv, up.id).offset == 2 * third

    _age(store, up.id, 30)
    config = tomllib.loads((store_dir / "config.toml").read_text())
    config.setdefault("web", {})["abandoned_upload_days"] = 0
    (store_dir / "config.toml").write_text(tomli_w.dumps(config))
    assert uploads.expire_abandoned(Store.open(store_dir)) == []
    done = uploads.append(store, inv, up.id, 2 * third, [photo[2 * third :]])
    assert done.received is not None
    assert done.received["sha256"] == hashlib.sha256(photo).hexdigest()


def test_the_sequencer_deletes_abandoned_uploads_and_says_which(observer, photo):
    import json

    from web import sequencer

    store, inv, _ = observer
    up = uploads.create(store, inv, len(photo), {"filename": "left.jpg"})
    uploads.append(store, inv, up.id, 0, [photo[:1000]])
    _age(store, up.id, 8)
    woken, ended = threading.Event(), threading.Event()
    ended.set()  # (one pass: what it does at its start, then it ends)
    sequencer.run(store, 0.1, woken, ended)
    assert _left_of(store, up.id) == []
    said = (store.root / "logs" / "abandoned-uploads.jsonl").read_text().splitlines()
    assert json.loads(said[-1])["uploads"] == [up.id]


# The folder only: a request sending bytes holds the upload's file locked (a shared upload is
# kept by the time of its last part, above).
@pytest.mark.parametrize("store_dir", ["folder"], indirect=True)
def test_an_upload_being_sent_is_not_deleted_however_long_it_was_idle(observer, photo):
    store, inv, _ = observer
    up = uploads.create(store, inv, len(photo), {"filename": "resumed.jpg"})
    uploads.append(store, inv, up.id, 0, [photo[:1000]])
    _age(store, up.id, 8)
    sending = uploads.open_append(store, inv, up.id, 1000)  # (its first bytes not yet in)
    try:
        assert uploads.expire_abandoned(store) == []
        sending.write(photo[1000:])
    finally:
        done = sending.close()
    assert done.received is not None
    assert done.received["sha256"] == hashlib.sha256(photo).hexdigest()
    # a request that opened the file and waits for its lock while the upload is deleted,
    # and one that looked the upload up just before, are each told it is gone
    import fcntl

    for opened_first in (True, False):
        later = uploads.create(store, inv, len(photo), {"filename": "late.jpg"})
        uploads.append(store, inv, later.id, 0, [photo[:1000]])
        _age(store, later.id, 8)
        looked_up = uploads._load(store, later.id)
        assert looked_up is not None
        real_flock = fcntl.flock

        def flock_after_expiry(fd, op, later=later, real_flock=real_flock):
            fcntl.flock = real_flock
            assert uploads.expire_abandoned(store) == [later.id]
            return real_flock(fd, op)

        if opened_first:
            fcntl.flock = flock_after_expiry
        else:
            assert uploads.expire_abandoned(store) == [later.id]
        try:
            with pytest.raises(uploads.UploadRefused) as e:
                uploads.Appender(store, looked_up)
        finally:
            fcntl.flock = real_flock
        assert e.value.reason == uploads.Reason.NOT_FOUND
        assert not (store.root / uploads.UPLOADS_DIR / later.id).exists()


@pytest.mark.parametrize("store_dir", ["folder"], indirect=True)
def test_a_mark_left_for_a_folder_that_is_no_upload_is_dropped_not_tried_for_ever(observer, photo):
    """A received upload whose folder lost its info.json is not an upload any more: its mark
    is dropped (the sequencer would otherwise find it waiting at every pass, and spin)."""
    store, inv, _ = observer
    up = uploads.create(store, inv, len(photo), {"filename": "a.jpg"})
    uploads.append(store, inv, up.id, 0, [photo])
    assert uploads.pending(store) == [up.id]
    (store.root / uploads.UPLOADS_DIR / up.id / "info.json").unlink()
    assert uploads.pending(store) == []
    assert uploads.commit_received(store) == []

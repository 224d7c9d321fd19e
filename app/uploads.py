"""Uploads from observers' phones: received in pieces (tus), committed in batches, receipted.

A store with its index in PostgreSQL and its objects in S3 keeps its uploads in progress
there, for every intake server to share (:mod:`app.upload_parts`: the same states, a row and
parts in the bucket). Any other store keeps each upload in ``uploads/ID/`` (0700) until it
is committed:

- ``info.json``: who may touch it (the invite's id), its declared length and metadata;
- ``data``: the bytes so far (the offset is its size: a cut connection resumes there);
- ``complete.json``: written once every byte is in and fsynced, with the SHA-256 the server
  computed and the signed acknowledgement given to the phone. From here the upload is
  *received*: nothing may lose it;
- ``outcome.json``: what the sequencer made of it (the custody entry and receipt, or the
  refusal and its quarantine), after which ``data`` is removed.

The sequencer (:func:`commit_received`) takes received uploads in batches into the store
through the same pipeline as ``dalel ingest`` (intake, timestamp, receipt). It is idempotent
across crashes: an upload's custody entry names it (``channel`` = ``web:ID``), so an upload
whose entry is in the log but whose outcome was never written is not ingested twice.
"""

from __future__ import annotations

import base64
import dataclasses
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO

from app import observers, upload_parts
from app.observers import Invite, check_precinct
from base.errors import UsageError
from base.fsio import atomic_write
from evidence.content import privacy
from evidence.core import custody, events
from evidence.storage.store import Store
from evidence.storage.writer import FileLock
from pipeline import order
from pipeline.intake import KINDS, Rejected, safe_text
from pipeline.run import run_submissions
from pipeline.stages import Status, Submission

UPLOADS_DIR = "uploads"
CHANNEL_PREFIX = "web:"
DEFAULT_MAX_BYTES = 2 * 1024**3
DEFAULT_PER_HOUR = 300
DEFAULT_ABANDONED_DAYS = 7.0
"""An upload not received that has had no byte for this many days is abandoned: its bytes
are deleted (the phone still holds the file: it sends it again as a new upload)."""
MAX_NOTE = 2000
MAX_NAME = 255
BATCH = 500
_ID = re.compile(r"[A-Za-z0-9_-]{22}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
SHA256_MISMATCH = "SHA256_MISMATCH"
"""Named reason: the bytes received do not have the SHA-256 the phone computed."""


class Reason(StrEnum):
    """Why an upload request is refused (the web front end maps each to an HTTP status)."""

    NOT_FOUND = "NOT_FOUND"
    BAD_METADATA = "BAD_METADATA"
    TOO_LARGE = "TOO_LARGE"
    RATE_LIMITED = "RATE_LIMITED"
    OFFSET_MISMATCH = "OFFSET_MISMATCH"
    ALREADY_RECEIVED = "ALREADY_RECEIVED"


class UploadRefused(UsageError):
    """An upload request that cannot be done as asked, with its named reason."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Limits:
    """Per-invite limits (``[web]`` in the store's config)."""

    max_bytes: int = DEFAULT_MAX_BYTES
    per_hour: int = DEFAULT_PER_HOUR
    abandoned_days: float = DEFAULT_ABANDONED_DAYS
    """``abandoned_upload_days``: 0 keeps every upload in progress for ever."""

    @classmethod
    def of(cls, store: Store) -> Limits:
        web = store.config.raw.get("web", {})
        return cls(
            int(web.get("max_upload_bytes", DEFAULT_MAX_BYTES)),
            int(web.get("uploads_per_hour", DEFAULT_PER_HOUR)),
            float(web.get("abandoned_upload_days", DEFAULT_ABANDONED_DAYS)),
        )


@dataclass(frozen=True)
class Declared:
    """What the phone says of a file (tus ``Upload-Metadata``), checked."""

    filename: str
    sha256: str | None
    kind: str
    precinct: str
    note: str

    @classmethod
    def check(cls, meta: dict[str, str], invite: Invite) -> Declared:
        """Check metadata keys ``filename``, ``sha256``, ``kind``, ``precinct``, ``note``."""
        name = safe_text(meta.get("filename", "") or "upload")
        name = name.replace("\\", "/").rsplit("/", 1)[-1].strip() or "upload"
        if len(name.encode()) > MAX_NAME or name in (".", ".."):
            raise UploadRefused(Reason.BAD_METADATA, "the file name is too long")
        sha = (meta.get("sha256") or "").strip().lower() or None
        if sha is not None and not _HEX64.fullmatch(sha):
            raise UploadRefused(Reason.BAD_METADATA, "sha256 must be 64 hexadecimal digits")
        kind = (meta.get("kind") or "other").strip()
        if kind not in KINDS:
            raise UploadRefused(Reason.BAD_METADATA, f"kind must be one of {', '.join(KINDS)}")
        try:
            precinct = check_precinct(meta.get("precinct") or invite.precinct)
        except UsageError as e:
            raise UploadRefused(Reason.BAD_METADATA, e.message) from None
        note = safe_text(meta.get("note", ""))
        if len(note) > MAX_NOTE:
            raise UploadRefused(Reason.BAD_METADATA, f"the note is over {MAX_NOTE} characters")
        return cls(name, sha, kind, precinct, note)


@dataclass(frozen=True)
class Upload:
    """One upload's state."""

    id: str
    invite: str
    length: int
    offset: int
    declared: Declared
    created: str
    received: dict[str, Any] | None
    """``complete.json``: the server's SHA-256 and the acknowledgement, once every byte is in."""
    outcome: dict[str, Any] | None
    """``outcome.json``: receipted (with the entry's seq) or refused (with the reason)."""


def intake_only(store: Store) -> bool:
    """Whether a server of ``store`` takes uploads only: its uploads in progress are shared
    (:mod:`app.upload_parts`) and its folder holds no log (another machine's server, the one
    that holds the log, commits them and answers the workspace). Such a server needs the
    store's ``config.toml`` and ``keys/`` (it signs the acknowledgements), the database's
    password and the bucket's credentials."""
    return upload_parts.shared(store) and not store.log_path.exists()


def _root(store: Store) -> Path:
    d = store.root / UPLOADS_DIR
    d.mkdir(mode=0o700, exist_ok=True)
    return d


def _dir(store: Store, upload_id: str) -> Path:
    if not _ID.fullmatch(upload_id):
        raise UploadRefused(Reason.NOT_FOUND, "no such upload")
    return _root(store) / upload_id


def _json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _load(store: Store, upload_id: str) -> Upload | None:
    if upload_parts.shared(store):
        return _load_shared(store, upload_id)
    d = _dir(store, upload_id)
    info = _json(d / "info.json")
    if info is None:
        return None
    data = d / "data"
    outcome = _json(d / "outcome.json")
    received = _json(d / "complete.json")
    offset = info["length"] if received else (data.stat().st_size if data.exists() else 0)
    return Upload(
        upload_id,
        info["invite"],
        int(info["length"]),
        offset,
        Declared(**info["declared"]),
        info["created"],
        received,
        outcome,
    )


def _load_shared(store: Store, upload_id: str) -> Upload | None:
    if not _ID.fullmatch(upload_id):
        raise UploadRefused(Reason.NOT_FOUND, "no such upload")
    row = upload_parts.SharedUploads(store).row(upload_id)
    if row is None or row.terminated:
        return None
    return Upload(
        row.id,
        row.invite,
        row.length,
        row.length if row.received else row.offset,
        Declared(**row.declared),
        row.created,
        row.received,
        row.outcome,
    )


def get(store: Store, invite: Invite, upload_id: str) -> Upload:
    """The upload ``upload_id`` when it belongs to ``invite``; NOT_FOUND otherwise (another
    observer's upload is not told apart from one that does not exist)."""
    up = _load(store, upload_id)
    if up is None or not secrets.compare_digest(up.invite, invite.id):
        raise UploadRefused(Reason.NOT_FOUND, "no such upload")
    return up


def _counted(store: Store, invite: Invite, within: timedelta) -> int:
    """Uploads ``invite`` started within ``within``; records this one (``uploads/by-invite/``
    holds one line per upload started: the cost is the invite's uploads, not everyone's)."""
    d = _root(store) / "by-invite"
    d.mkdir(mode=0o700, exist_ok=True)
    path = d / invite.id
    since = (datetime.now(UTC) - within).timestamp()
    try:
        stamps = [float(x) for x in path.read_text().split()]
    except (OSError, ValueError):
        stamps = []
    recent = [x for x in stamps if x >= since]
    return len(recent)


def _count(store: Store, invite: Invite) -> None:
    with open(_root(store) / "by-invite" / invite.id, "a") as f:
        f.write(f"{datetime.now(UTC).timestamp():.3f}\n")


def create(store: Store, invite: Invite, length: int, meta: dict[str, str]) -> Upload:
    """Start an upload of ``length`` bytes (tus creation)."""
    limits = Limits.of(store)
    if length < 1:
        raise UploadRefused(Reason.BAD_METADATA, "an upload must have at least one byte")
    if length > limits.max_bytes:
        raise UploadRefused(
            Reason.TOO_LARGE,
            f"the file is larger than this server takes ({limits.max_bytes // 1024**2} MB)",
        )
    declared = Declared.check(meta, invite)
    # An IIN typed into the name or the note never reaches the disk in clear, not even
    # in the upload's own folder (the same pseudonym as everywhere else).
    declared = dataclasses.replace(
        declared,
        filename=privacy.scrub(store.secret, declared.filename),
        note=privacy.scrub(store.secret, declared.note),
    )
    limited = UploadRefused(
        Reason.RATE_LIMITED,
        f"more than {limits.per_hour} files in an hour from this link; try again later",
    )
    upload_id = secrets.token_urlsafe(16)
    if upload_parts.shared(store):
        now = datetime.now(UTC)
        row = upload_parts.Row(
            upload_id, invite.id, length, 0, declared.__dict__, custody.utc_now(), None, None, False
        )
        since = (now - timedelta(hours=1)).timestamp()
        shared = upload_parts.SharedUploads(store)
        if not shared.start(row, now.timestamp(), since=since, per_hour=limits.per_hour):
            raise limited
        up = _load(store, upload_id)
        assert up is not None
        return up
    if _counted(store, invite, timedelta(hours=1)) >= limits.per_hour:
        raise limited
    d = _dir(store, upload_id)
    d.mkdir(mode=0o700)
    info = {
        "invite": invite.id,
        "length": length,
        "declared": declared.__dict__,
        "created": custody.utc_now(),
    }
    (d / "data").touch(mode=0o600)
    atomic_write(d / "info.json", json.dumps(info).encode(), mode=0o600)
    _count(store, invite)
    up = _load(store, upload_id)
    assert up is not None
    return up


_HASHING: OrderedDict[tuple[str, str], tuple[int, Any]] = OrderedDict()
"""The SHA-256 of each upload in progress over the bytes it has so far, kept between PATCH
requests (keyed by store and upload, the oldest dropped past :data:`_HASHING_MAX`): a
received upload's hash is known when its last byte is in, without reading it again. A state
that was dropped, or that does not match the bytes on disk (a server restarted, a write that
failed half way), is rebuilt from the file."""
_HASHING_MAX = 4096
_hashing_lock = threading.Lock()


def _hash_state(store: Store, upload_id: str, offset: int) -> Any:
    key = (str(store.root), upload_id)
    with _hashing_lock:
        held = _HASHING.pop(key, None)
    if held is not None and held[0] == offset:
        return held[1]
    h = hashlib.sha256()
    if offset == 0:
        return h
    if upload_parts.shared(store):  # (another server may have taken the bytes so far)
        for chunk in upload_parts.SharedUploads(store).read(upload_id, offset):
            h.update(chunk)
        return h
    with open(_dir(store, upload_id) / "data", "rb") as f:  # the bytes so far, read once
        left = offset
        while left:
            chunk = f.read(min(left, 1 << 20))
            if not chunk:
                break
            h.update(chunk)
            left -= len(chunk)
    return h


def _keep_hash_state(store: Store, upload_id: str, offset: int, h: Any) -> None:
    with _hashing_lock:
        _HASHING[(str(store.root), upload_id)] = (offset, h)
        while len(_HASHING) > _HASHING_MAX:
            _HASHING.popitem(last=False)


def _drop_hash_state(store: Store, upload_id: str) -> None:
    with _hashing_lock:
        _HASHING.pop((str(store.root), upload_id), None)


class Appender:
    """Bytes of one PATCH, written as they arrive (:func:`open_append`) and hashed as they
    are written. Whatever was written stays when the connection is cut: the phone resumes
    from there."""

    def __init__(self, store: Store, up: Upload) -> None:
        self.store = store
        self.upload = up
        self.offset = up.offset
        try:
            fd = os.open(_dir(store, up.id) / "data", os.O_WRONLY | os.O_APPEND)
        except FileNotFoundError:  # (deleted as abandoned since it was looked up)
            raise UploadRefused(Reason.NOT_FOUND, "no such upload") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise UploadRefused(
                Reason.OFFSET_MISMATCH, "another request is sending this upload's bytes"
            ) from None
        st = os.fstat(fd)
        if st.st_nlink == 0:  # deleted as abandoned while this request waited for the lock
            os.close(fd)
            raise UploadRefused(Reason.NOT_FOUND, "no such upload")
        if st.st_size != up.offset:  # a request that finished meanwhile
            os.close(fd)
            raise UploadRefused(Reason.OFFSET_MISMATCH, "the upload moved on; ask for its offset")
        self._fd: int | None = fd
        try:
            self._hash = _hash_state(store, up.id, up.offset)
        except BaseException:
            os.close(fd)
            self._fd = None
            raise

    def write(self, chunk: bytes) -> None:
        """Append ``chunk``; TOO_LARGE past the declared length (nothing of it written)."""
        assert self._fd is not None
        if self.offset + len(chunk) > self.upload.length:
            raise UploadRefused(Reason.TOO_LARGE, "more bytes than the upload declared")
        view = memoryview(chunk)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        self._hash.update(chunk)  # only bytes written: the state matches the file
        self.offset += len(chunk)

    def close(self) -> Upload:
        """Make the bytes durable; when the last one is in, receive the upload (sign the
        acknowledgement with the hash of what was written) before returning it."""
        if self._fd is not None:
            try:
                os.fsync(self._fd)
            finally:
                os.close(self._fd)
                self._fd = None
        return _settle(self.store, self.upload, self.offset, self._hash)


def _settle(store: Store, up: Upload, offset: int, state: Any, *, lost: bool = False) -> Upload:
    """The end of a request's appending: the upload received when its last byte is in (its
    acknowledgement signed with the hash of what was written), else the hash so far kept for
    the next request (dropped when the request ``lost`` the upload to another); the upload as
    it now stands."""
    if lost:
        _drop_hash_state(store, up.id)
    elif offset == up.length and up.received is None:
        _drop_hash_state(store, up.id)
        _receive(store, up, state.hexdigest())
    else:
        _keep_hash_state(store, up.id, offset, state)
    now = _load(store, up.id)
    if now is None:  # (deleted meanwhile as abandoned: expire_abandoned)
        _drop_hash_state(store, up.id)
        raise UploadRefused(Reason.NOT_FOUND, "no such upload")
    return now


PART_BYTES = 8 * 1024**2
"""A shared upload's bytes (:mod:`app.upload_parts`) are put in the bucket this many at a
time, and what is left when the request ends: an intake server that dies in the middle of a
request loses at most this much of it, the phone sends it again from the last byte kept."""


class PartAppender:
    """:class:`Appender` for an upload kept in PostgreSQL and the bucket: the bytes of one
    PATCH are gathered in a temporary file and kept as a part every :data:`PART_BYTES`, and
    when the request ends. A part counts only if the upload was still where it starts (two
    servers sending one upload: the second is told the upload moved on)."""

    def __init__(self, store: Store, up: Upload) -> None:
        self.store = store
        self.upload = up
        self.offset = up.offset
        self.shared = upload_parts.SharedUploads(store)
        self._start = up.offset
        self._lost = False
        self._hash = _hash_state(store, up.id, up.offset)
        tmp = self.shared.blobs.tmp
        tmp.mkdir(parents=True, exist_ok=True)
        self._buf: BinaryIO = tempfile.TemporaryFile(dir=tmp, prefix="upload-")

    def write(self, chunk: bytes) -> None:
        """Take ``chunk``; TOO_LARGE past the declared length (nothing of it taken)."""
        if self._lost:
            raise UploadRefused(Reason.OFFSET_MISMATCH, "the upload moved on; ask for its offset")
        if self.offset + len(chunk) > self.upload.length:
            raise UploadRefused(Reason.TOO_LARGE, "more bytes than the upload declared")
        self._buf.write(chunk)
        self._hash.update(chunk)
        self.offset += len(chunk)
        if self.offset - self._start >= PART_BYTES:
            self._keep()

    def _keep(self) -> None:
        size = self.offset - self._start
        if size == 0 or self._lost:
            return
        self._buf.seek(0)
        try:
            kept = self.shared.add_part(self.upload.id, self._start, self._buf, size)
        except BaseException:
            self._lost = True  # (what was gathered is sent again by the phone)
            raise
        if not kept:
            self._lost = True
            raise UploadRefused(
                Reason.OFFSET_MISMATCH, "another request is sending this upload's bytes"
            )
        self._buf.seek(0)
        self._buf.truncate()
        self._start = self.offset

    def close(self) -> Upload:
        """Keep what is gathered; when the last byte is in, receive the upload."""
        try:
            self._keep()
        finally:
            self._buf.close()
        return _settle(self.store, self.upload, self.offset, self._hash, lost=self._lost)


def open_append(
    store: Store, invite: Invite, upload_id: str, offset: int
) -> Appender | PartAppender:
    """Start appending at ``offset`` (tus PATCH): OFFSET_MISMATCH unless the upload is at
    ``offset``, ALREADY_RECEIVED when every byte is in. May read the bytes so far (to hash
    them) when the server no longer holds their hash: call it off the event loop."""
    up = get(store, invite, upload_id)
    if up.received is not None:
        raise UploadRefused(Reason.ALREADY_RECEIVED, "every byte of this upload is in")
    if offset != up.offset:
        raise UploadRefused(
            Reason.OFFSET_MISMATCH, f"the upload is at byte {up.offset}, not {offset}"
        )
    if upload_parts.shared(store):
        return PartAppender(store, up)
    return Appender(store, up)


def append(
    store: Store, invite: Invite, upload_id: str, offset: int, chunks: Iterable[bytes]
) -> Upload:
    """Append ``chunks`` at ``offset`` in one go (what a PATCH does)."""
    appender = open_append(store, invite, upload_id, offset)
    try:
        for chunk in chunks:
            appender.write(chunk)
    finally:
        up = appender.close()
    return up


def _receive(store: Store, up: Upload, sha: str) -> None:
    """Every byte is in (``sha`` their SHA-256, hashed as they were written): sign the
    acknowledgement, mark the upload received."""
    ack = acknowledgement(store, up, sha)
    if upload_parts.shared(store):
        received = {"sha256": sha, "ack": ack}
        upload_parts.SharedUploads(store).receive(up.id, received, time.time())
        return
    d = _dir(store, up.id)
    atomic_write(d / "complete.json", json.dumps({"sha256": sha, "ack": ack}).encode(), mode=0o600)
    queue = _root(store) / "queue"
    queue.mkdir(mode=0o700, exist_ok=True)
    (queue / up.id).touch()  # for the sequencer: received, not yet committed


def acknowledgement(store: Store, up: Upload, sha256: str) -> dict[str, Any]:
    """The signed acknowledgement the phone gets at once: the item's SHA-256, the upload,
    the server's time, signed with the log's key (Ed25519 over the canonical JSON of
    ``statement``)."""
    statement = {
        "type": "dalel-upload-ack/v1",
        "origin": store.config.origin,
        "upload": up.id,
        "sha256": sha256,
        "size": up.length,
        "received_at": custody.utc_now(),
        "then": "a custody entry and a receipt for it, within seconds",
    }
    key = store.log_key
    return {
        "statement": statement,
        "key": key.public.id_hex,
        "signature": base64.b64encode(key.sign(custody.canonical(statement))).decode(),
    }


def terminate(store: Store, invite: Invite, upload_id: str) -> None:
    """Abandon an upload not yet received (tus termination); a received one stays."""
    up = get(store, invite, upload_id)
    if up.received is not None:
        raise UploadRefused(
            Reason.ALREADY_RECEIVED, "this file was received; evidence is never deleted"
        )
    _drop_hash_state(store, upload_id)
    if upload_parts.shared(store):
        if not upload_parts.SharedUploads(store).terminate(upload_id):
            raise UploadRefused(
                Reason.ALREADY_RECEIVED, "this file was received; evidence is never deleted"
            )
        return
    shutil.rmtree(_dir(store, upload_id))


def expire_abandoned(store: Store, now: float | None = None) -> list[str]:
    """Delete the uploads not received that have had no byte for ``abandoned_upload_days``
    (``[web]``, 7 by default; 0: never), as a phone's termination does: the upload is then
    unknown (404), and the phone, which still holds the file, sends it as a new upload. A
    received upload is never touched. The ids deleted."""
    days = Limits.of(store).abandoned_days
    if days <= 0:
        return []
    before = (time.time() if now is None else now) - days * 86400
    gone = []
    if upload_parts.shared(store):
        shared = upload_parts.SharedUploads(store)
        for upload_id in shared.idle_since(before):
            if shared.terminate(upload_id, idle_before=before):
                gone.append(upload_id)
        return gone
    for d in sorted(_root(store).iterdir()):
        if _ID.fullmatch(d.name) and _expire_folder(d, before):
            gone.append(d.name)
    return gone


def _expire_folder(d: Path, before: float) -> bool:
    """Delete the upload in folder ``d`` if it is idle since before ``before`` and not
    received, holding its lock (a request sending its bytes holds it: the upload is kept);
    the folder is renamed away first, so that no request finds half of it."""
    try:
        fd = os.open(d / "data", os.O_RDONLY)
    except OSError:  # (no data: one being made, or made by hand)
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # being sent right now
            return False
        if (d / "complete.json").exists():
            return False
        try:
            last = max(os.fstat(fd).st_mtime, (d / "info.json").stat().st_mtime)
        except OSError:
            return False
        if last >= before:
            return False
        away = d.with_name(".abandoned-" + d.name)
        os.rename(d, away)
    finally:
        os.close(fd)  # (the lock goes with it: a request waiting finds the file unlinked)
    shutil.rmtree(away, ignore_errors=True)
    return True


# --- the sequencer -------------------------------------------------------------------------
def pending(store: Store) -> list[str]:
    """Uploads received and not yet committed, oldest first (``uploads/queue/`` marks them;
    an upload whose mark was lost in a crash is found again by :func:`recover`)."""
    if upload_parts.shared(store):
        return upload_parts.SharedUploads(store).waiting()
    queue = _root(store) / "queue"
    if not queue.is_dir():
        return []
    out = []
    for mark in queue.iterdir():
        d = _root(store) / mark.name
        if (
            (d / "outcome.json").exists()
            or not (d / "complete.json").exists()
            or not (d / "info.json").exists()  # (not an upload any more: nothing to commit)
        ):
            mark.unlink(missing_ok=True)
            continue
        out.append((mark.stat().st_mtime, mark.name))
    return [name for _, name in sorted(out)]


def recover(store: Store) -> int:
    """Mark for the sequencer every upload received and not committed (run at start: a
    crash between ``complete.json`` and its mark leaves one unmarked). Returns how many."""
    if upload_parts.shared(store):  # (the rows say it: nothing is marked apart)
        return len(pending(store))
    queue = _root(store) / "queue"
    queue.mkdir(mode=0o700, exist_ok=True)
    n = 0
    for d in _root(store).iterdir():
        if (d / "complete.json").exists() and not (d / "outcome.json").exists():
            (queue / d.name).touch()
            n += 1
    return n


def _logged(store: Store, upload_id: str, sha256: str) -> int | None:
    """The seq of the custody entry already made for this upload (a crash after the commit
    and before its outcome was written), if there is one."""
    for e in store.index.history(sha256):
        if e.get("channel") == CHANNEL_PREFIX + upload_id and e.get("event") in (
            events.INGEST,
            events.REFUSED,
        ):
            return int(e["seq"])
    return None


def commit_received(store: Store, limit: int = BATCH) -> list[str]:
    """Take up to ``limit`` received uploads into the store in one batch (intake, timestamp,
    custody entry, receipt) and write each one's outcome. Returns the uploads done.

    One batch at a time per store, whoever runs it: a sequencer left running by a server
    killed at the wrong moment, and the next server's, never take the same upload twice (the
    second finds the first one's outcome, or its custody entry, once it holds the lock)."""
    if upload_parts.shared(store):  # one batch at a time across every server
        with upload_parts.SharedUploads(store).sequencing():
            return _commit_received(store, limit)
    lock = FileLock(_root(store) / ".sequencer.lock", wait=_SEQUENCER_WAIT, on_wait=None)
    lock.acquire()
    try:
        return _commit_received(store, limit)
    finally:
        lock.release()


_SEQUENCER_WAIT = 600.0
"""How long a batch waits for another one running on the same store (then StoreBusy)."""


def _commit_received(store: Store, limit: int) -> list[str]:
    ids = pending(store)[:limit]
    if not ids:
        return []
    store.index.catch_up()
    subs: list[Submission | Rejected] = []
    opened = []
    todo: list[str] = []
    fetched: list[Path] = []  # (a shared upload's bytes, fetched from the bucket)
    given = observers.pseudonyms(store)
    try:
        for upload_id in ids:
            up = _load(store, upload_id)
            if up is None or up.received is None:
                continue
            sha = up.received["sha256"]
            seq = _logged(store, upload_id, sha)
            if seq is not None:
                outcome: dict[str, Any] = {"status": "receipted", "seq": seq, "sha256": sha}
                kept = store.receipts_dir / f"{seq:08d}.json"
                if upload_parts.shared(store) and kept.exists():
                    outcome["receipt"] = json.loads(kept.read_bytes())
                _finish(store, upload_id, outcome)
                continue
            if upload_parts.shared(store):
                data = _fetch(store, up)
                fetched.append(data)
            else:
                data = _dir(store, upload_id) / "data"
            f = open(data, "rb")
            opened.append(f)
            sub = Submission.of_stream(
                f,
                up.declared.filename,
                observer=up.invite,
                pseudonym=given.get(up.invite),
                precinct=up.declared.precinct,
                kind=up.declared.kind,
                channel=CHANNEL_PREFIX + upload_id,
                note=up.declared.note,
                sha256=sha,
                held=data,  # hashed as it arrived: linked into the store, not copied
            )
            if up.declared.sha256 is not None and up.declared.sha256 != sha:
                subs.append(
                    Rejected(
                        data,
                        up.declared.filename,
                        SHA256_MISMATCH,
                        f"the phone computed {up.declared.sha256}, the server received {sha}",
                        sub,
                    )
                )
            else:
                subs.append(sub)
            todo.append(upload_id)
        batch = run_submissions(store, subs, stages=order.INGEST_STAGES)
    finally:
        for f in opened:
            f.close()
        for path in fetched:
            path.unlink(missing_ok=True)
    intake = [r for r in batch.results if r.stage == "intake"] if subs else []
    for upload_id, result in zip(todo, intake, strict=True):
        if result.status is Status.REFUSED:
            outcome = {
                "status": "refused",
                "reason": result.data.get("reason"),
                "detail": result.detail,
                "seq": result.entries[0] if result.entries else None,
            }
        else:
            outcome = {"status": "receipted", "seq": result.entries[0]}
            made = batch.receipt_for(result)
            if upload_parts.shared(store) and made is not None:
                # every intake server answers with it, not only the one holding the log
                outcome["receipt"] = json.loads(made.read_bytes())
        _finish(store, upload_id, outcome)
    return ids


def _fetch(store: Store, up: Upload) -> Path:
    """A shared upload's bytes, from its parts in the bucket, in a temporary file (the
    store's own for what it puts in the bucket)."""
    shared = upload_parts.SharedUploads(store)
    tmp = shared.blobs.tmp
    tmp.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=tmp, prefix="upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in shared.read(up.id, up.length):
                out.write(chunk)
    except BaseException:
        os.unlink(name)
        raise
    return Path(name)


def _finish(store: Store, upload_id: str, outcome: dict[str, Any]) -> None:
    if upload_parts.shared(store):
        upload_parts.SharedUploads(store).finish(upload_id, outcome)
        return
    d = _dir(store, upload_id)
    # Not synced: the custody entry is durable already, and an outcome lost in a crash is
    # found again from it (:func:`recover`, then :func:`_logged`), the bytes not needed.
    atomic_write(d / "outcome.json", json.dumps(outcome).encode(), mode=0o600, durable=False)
    (d / "data").unlink(missing_ok=True)
    (_root(store) / "queue" / d.name).unlink(missing_ok=True)


@dataclass(frozen=True)
class UploadState:
    """Where an upload stands, for ``GET <upload>/receipt``."""

    state: str
    """``uploading``, ``received`` (acknowledged, batch pending), ``receipted``, ``refused``."""
    body: dict[str, Any]


def receipt(store: Store, invite: Invite, upload_id: str) -> UploadState:
    """The receipt of an upload once committed; the acknowledgement while it waits."""
    up = get(store, invite, upload_id)
    if up.received is None:
        return UploadState("uploading", {"offset": up.offset, "length": up.length})
    out = up.outcome
    if out is None:
        return UploadState("received", {"ack": up.received["ack"]})
    if out["status"] == "refused":
        return UploadState("refused", {"reason": out.get("reason"), "detail": out.get("detail")})
    if isinstance(out.get("receipt"), dict):
        return UploadState("receipted", out["receipt"])
    path = store.receipts_dir / f"{int(out['seq']):08d}.json"
    try:
        return UploadState("receipted", json.loads(path.read_bytes()))
    except (OSError, ValueError):
        return UploadState("received", {"ack": up.received["ack"], "receipt": "owed"})

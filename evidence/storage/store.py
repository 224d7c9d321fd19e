"""The store: one directory holding objects, the custody log, checkpoints, receipts, keys.

Layout (see ``shared/design.md``)::

    config.toml               store id, origin, organisation, precinct locations
    objects/ab/cdef…          write-once blobs named by SHA-256
    log/custody.jsonl         the append-only custody log (source of truth)
    log/checkpoints/N.note    signed checkpoints, N = tree size (zero-padded)
    receipts/SEQ.json         one receipt per received file
    keys/                     private (0700): log key, pseudonym secret
    public/                   what an auditor needs: log.pub (verifier key), log.pem
    quarantine/               refused inputs, byte for byte, with their reason
    index.sqlite              an index over objects and log, rebuildable

Writers take an exclusive lock (``lock``); readers never need it. Every append is
recoverable: a crash at any moment leaves a store that passes ``audit``.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import secrets
import time
import tomllib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import tomli_w
from cryptography.hazmat.primitives import serialization

from base.errors import StoreBusy, StoreCorrupt, StoreExists, StoreNotFound, UsageError
from base.fsio import atomic_write, fsync_dir, sync_file, sync_filesystem
from evidence.core import checkpoint as cp
from evidence.core import custody, merkle, receipts
from evidence.core.keys import PublicKey, SigningKey, public_pem, write_private
from evidence.storage.objects import FileBlobStore

if TYPE_CHECKING:
    from evidence.storage.index import Index

LOG_KEY_FILE = "log.ed25519.pem"
SECRET_FILE = "pseudonym.secret"
RECEIPTED_EVENTS = frozenset({"ingest"})
DEFAULT_LOCK_WAIT = 600.0


def default_store_path() -> Path:
    """``$DALEL_STORE`` or ``./dalel-store``."""
    return Path(os.environ.get("DALEL_STORE", "dalel-store"))


def _slug(text: str) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return s[:40] or "org"


@dataclass(frozen=True)
class StoreConfig:
    """What ``config.toml`` says."""

    store_id: str
    origin: str
    org: str
    created: str
    precincts: dict[str, dict[str, float]] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    def precinct_location(self, precinct: str) -> tuple[float, float] | None:
        p = self.precincts.get(str(precinct))
        if p and "lat" in p and "lon" in p:
            return float(p["lat"]), float(p["lon"])
        return None

    def precinct_radius_km(self, precinct: str, default: float = 2.0) -> float:
        p = self.precincts.get(str(precinct)) or {}
        return float(p.get("radius_km", default))


class Store:
    """An opened store. Use :meth:`init` or :meth:`open`."""

    def __init__(self, root: Path, config: StoreConfig) -> None:
        self.root = root
        self.config = config
        self.objects = FileBlobStore(root / "objects")
        self._log_key: SigningKey | None = None
        self._secret: bytes | None = None
        self._index: Index | None = None

    @property
    def index(self) -> Index:
        """The store's index, built once per opened store (one engine, one schema check)."""
        if self._index is None:
            from evidence.storage.index import Index

            self._index = Index(self)
        return self._index

    # --- paths -----------------------------------------------------------------------
    @property
    def log_path(self) -> Path:
        return self.root / "log" / "custody.jsonl"

    @property
    def checkpoints_dir(self) -> Path:
        return self.root / "log" / "checkpoints"

    @property
    def receipts_dir(self) -> Path:
        return self.root / "receipts"

    @property
    def quarantine_dir(self) -> Path:
        return self.root / "quarantine"

    @property
    def keys_dir(self) -> Path:
        return self.root / "keys"

    @property
    def public_dir(self) -> Path:
        return self.root / "public"

    @property
    def index_path(self) -> Path:
        return self.root / "index.sqlite"

    # --- creation and opening --------------------------------------------------------
    @classmethod
    def init(cls, root: Path, org: str = "Dalel") -> Store:
        """Create a new store at ``root``; refuse to touch an existing one."""
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise StoreExists(
                f"{root} already exists and is not empty; Dalel never touches an existing store",
                fix="choose another --store directory",
            )
        root.mkdir(parents=True, exist_ok=True)
        for d in ("objects", "log/checkpoints", "receipts", "quarantine", "public"):
            (root / d).mkdir(parents=True, exist_ok=True)
        (root / "keys").mkdir(mode=0o700, exist_ok=True)
        store_id = str(uuid.uuid4())
        origin = f"dalel.kz/{_slug(org)}/{store_id[:8]}"
        config = {
            "store": {
                "id": store_id,
                "origin": origin,
                "org": org,
                "created": custody.utc_now(),
                "format": 1,
            },
            "precincts": {},
        }
        key = SigningKey.generate(origin)
        write_private(root / "keys" / LOG_KEY_FILE, key.private_pem())
        write_private(root / "keys" / SECRET_FILE, secrets.token_bytes(32))
        (root / "public" / "log.pub").write_text(key.public.verifier() + "\n")
        (root / "public" / "log.pem").write_bytes(public_pem(key.public.raw))
        (root / "log" / "custody.jsonl").touch()
        (root / "config.toml").write_bytes(tomli_w.dumps(config).encode())
        from evidence.pdf import sign as pdfsign
        from evidence.timestamping import stamping

        stamping.create(root, org)
        pdfsign.create_org_identity(root / "keys", root / "public", org)
        return cls.open(root)

    @classmethod
    def open(cls, root: Path) -> Store:
        """Open an existing store."""
        cfg_path = root / "config.toml"
        if not cfg_path.is_file():
            raise StoreNotFound(
                f"no Dalel store at {root}",
                fix=f"create one with: dalel --store {root} init --org NAME",
            )
        try:
            raw = tomllib.loads(cfg_path.read_text())
            s = raw["store"]
            config = StoreConfig(
                store_id=s["id"],
                origin=s["origin"],
                org=s.get("org", ""),
                created=s.get("created", ""),
                precincts=raw.get("precincts", {}),
                raw=raw,
            )
        except (tomllib.TOMLDecodeError, KeyError, TypeError) as e:
            raise StoreCorrupt(f"{cfg_path} cannot be read: {e}") from None
        return cls(root, config)

    def set_precinct_location(self, precinct: str, lat: float, lon: float,
                              radius_km: float) -> None:
        """Record where a precinct is, so photos taken far from it are flagged."""
        if not (-90 <= lat <= 90 and -180 <= lon <= 180) or radius_km <= 0:
            raise UsageError("latitude must be within ±90, longitude within ±180, and the "
                             "radius positive")
        raw = dict(self.config.raw)
        precincts = dict(raw.get("precincts", {}))
        precincts[str(precinct)] = {"lat": lat, "lon": lon, "radius_km": radius_km}
        raw["precincts"] = precincts
        self.write_config(raw)

    def write_config(self, raw: dict[str, Any]) -> None:
        """Replace config.toml atomically and reload it."""
        atomic_write(self.root / "config.toml", tomli_w.dumps(raw).encode())
        self.config = Store.open(self.root).config

    # --- keys ------------------------------------------------------------------------
    @property
    def log_key(self) -> SigningKey:
        if self._log_key is None:
            pem = (self.keys_dir / LOG_KEY_FILE).read_bytes()
            self._log_key = SigningKey.from_pem(self.config.origin, pem)
        return self._log_key

    @property
    def secret(self) -> bytes:
        if self._secret is None:
            self._secret = (self.keys_dir / SECRET_FILE).read_bytes()
        return self._secret

    def public_key(self) -> PublicKey:
        """The log's public key as published in ``public/log.pub``."""
        return PublicKey.from_verifier((self.public_dir / "log.pub").read_text())

    # --- reading ---------------------------------------------------------------------
    def log_lines(self) -> Iterator[bytes]:
        """Every complete line of the custody log (without newline), in order."""
        yield from read_log_lines(self.log_path)

    def checkpoint_paths(self) -> list[Path]:
        """Checkpoint files, oldest first."""
        return sorted(self.checkpoints_dir.glob("*.note"))

    def latest_checkpoint(self) -> cp.SignedCheckpoint | None:
        paths = self.checkpoint_paths()
        return cp.parse(paths[-1].read_text()) if paths else None

    def receipt_paths(self) -> list[Path]:
        return sorted(self.receipts_dir.glob("*.json"))

    def load_tree(self) -> merkle.MerkleTree:
        """The Merkle tree over the current log."""
        return merkle.MerkleTree(merkle.leaf_hash(line) for line in self.log_lines())

    # --- writing ---------------------------------------------------------------------
    def writer(self, *, wait: float = DEFAULT_LOCK_WAIT, on_wait=None) -> Writer:
        """An exclusive writer; use as a context manager."""
        return Writer(self, wait=wait, on_wait=on_wait)


def read_log_lines(path: Path) -> Iterator[bytes]:
    """Complete lines of a log file; a torn final fragment (no newline) is not yielded."""
    with open(path, "rb") as f:
        for line in f:
            if line.endswith(b"\n"):
                yield line[:-1]


def torn_tail(path: Path) -> int:
    """Bytes after the last newline of the log (an interrupted append), 0 when none."""
    size = path.stat().st_size
    if size == 0:
        return 0
    with open(path, "rb") as f:
        back = min(size, 1 << 16)
        while True:
            f.seek(size - back)
            chunk = f.read(back)
            i = chunk.rfind(b"\n")
            if i >= 0:
                return back - i - 1
            if back == size:
                return size
            back = min(size, back * 4)


@dataclass(frozen=True)
class Appended:
    """An entry appended by a writer."""

    seq: int
    line: bytes
    entry: dict[str, Any]


@dataclass
class Commit:
    """What a writer's commit produced."""

    checkpoint: Path | None = None
    receipts: dict[int, Path] = field(default_factory=dict)


class Writer:
    """Holds the store's write lock; appends entries; on commit writes a checkpoint and receipts.

    Order of durability: objects (fsynced before they are named in an entry), log lines,
    fsync of the log, the signed checkpoint (temp + rename), receipts, the index.
    """

    def __init__(self, store: Store, *, wait: float, on_wait=None) -> None:
        self.store = store
        self._wait = wait
        self._on_wait = on_wait
        self._lock_fd: int | None = None
        self._log_fd: int | None = None
        self._pending: list[Appended] = []
        self._committed: list[Appended] = []
        self._appended_in_session = 0
        self._roots_pem: dict[str, bytes] = {}
        #: stamp each new checkpoint with the store's TSAs (off only in tests of the core)
        self.stamp_checkpoints = (store.public_dir / "tsa-root.pem").exists()
        self.commit_result: Commit | None = None

    def __enter__(self) -> Self:
        self._acquire()
        try:
            self._recover_torn_tail()
            self.tree = merkle.MerkleTree()
            self.last_hash = custody.GENESIS_PREV
            for line in self.store.log_lines():
                self.tree.append(line)
                self.last_hash = custody.line_hash(line)
            self._log_fd = os.open(self.store.log_path, os.O_WRONLY | os.O_APPEND)
            self.store.objects.durable_each = False  # commit syncs the file system once
            from evidence.storage.index import Index

            self.index = Index(self.store)
            self.index.catch_up()
        except BaseException:
            self._release()
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self.commit_result = self.commit()
        finally:
            if self._log_fd is not None:
                os.close(self._log_fd)
                self._log_fd = None
            self.store.objects.durable_each = True
            self._release()

    # --- lock ------------------------------------------------------------------------
    def _acquire(self) -> None:
        fd = os.open(self.store.root / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self._wait
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise StoreBusy(
                        "another Dalel process has been writing to this store for too long",
                        fix="wait for it to finish, or check for a stuck process",
                    ) from None
                if not told and self._on_wait:
                    self._on_wait()
                    told = True
                time.sleep(0.05)
        self._lock_fd = fd

    def _release(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    # --- recovery --------------------------------------------------------------------
    def _recover_torn_tail(self) -> None:
        """Move an interrupted, never-committed append out of the log into quarantine."""
        path = self.store.log_path
        n = torn_tail(path)
        if not n:
            return
        size = path.stat().st_size
        with open(path, "rb") as f:
            f.seek(size - n)
            fragment = f.read()
        qdir = self.store.quarantine_dir / f"{_stamp()}-torn-log-append"
        qdir.mkdir(parents=True)
        (qdir / "fragment").write_bytes(fragment)
        (qdir / "reason.json").write_bytes(
            custody.canonical(
                {"reason": "TORN_LOG_APPEND", "detail": "an append was interrupted before it "
                 "completed; the fragment was never part of the log", "bytes": n}
            )
        )
        fsync_dir(qdir)
        os.truncate(path, size - n)

    # --- appending -------------------------------------------------------------------
    @property
    def size(self) -> int:
        return self.tree.size

    def append(self, entry: dict[str, Any]) -> Appended:
        """Sign one entry and queue it; ``seq``, ``prev``, ``v`` and ``time`` are filled in.

        Queued entries reach the log at the next :meth:`commit`, after the objects they
        name are durable.
        """
        assert self._log_fd is not None, "writer is not open"
        full = dict(entry)
        full["v"] = custody.FORMAT_VERSION
        full["seq"] = self.tree.size
        full["prev"] = self.last_hash
        full.setdefault("time", custody.utc_now())
        line = custody.make_line(full, self.store.log_key)
        self.tree.append(line)
        self.last_hash = custody.line_hash(line)
        appended = Appended(full["seq"], line, full)
        self._pending.append(appended)
        self._appended_in_session += 1
        return appended

    def commit(self) -> Commit:
        """Make the queued entries durable, sign a checkpoint, write the receipts owed.

        Order: objects and quarantine (one syncfs), log lines (one write, fsync), the signed
        checkpoint (temp, fsync, rename), receipts (then one syncfs), the receipts mark, the
        index. A crash anywhere leaves a store that passes audit; the next writer finishes
        what was owed.
        """
        assert self._log_fd is not None
        result = Commit()
        self._write_pending()
        latest = self.store.latest_checkpoint()
        size = self.tree.size
        if size and (latest is None or latest.checkpoint.size < size) \
                and self._uncovered_needs_checkpoint(latest):
            text = cp.sign(cp.Checkpoint(self.store.config.origin, size, self.tree.root()),
                           self.store.log_key)
            path = self.store.checkpoints_dir / f"{size:012d}.note"
            atomic_write(path, text.encode())
            result.checkpoint = path
            latest = cp.parse(text)
        if latest is not None:
            result.receipts = self._write_owed_receipts(latest)
            if self.stamp_checkpoints:
                self._stamp_checkpoints()
        self.index.add([(a.seq, a.line, a.entry) for a in self._committed])
        # Receipted and indexed: keep nothing more in memory, however long the batch.
        self._committed = []
        return result

    def _uncovered_needs_checkpoint(self, latest: cp.SignedCheckpoint | None) -> bool:
        """Entries after the latest checkpoint need a new one, unless all they are is the
        latest checkpoint's own timestamp (else every session, even an idle one, would sign
        a checkpoint, stamp it, and so on: running again must add nothing)."""
        if self._appended_in_session or latest is None:
            return True
        for seq, line in enumerate(self.store.log_lines()):
            if seq < latest.checkpoint.size:
                continue
            e = custody.parse_line(line).entry
            if e.get("event") != "timestamp" or any(
                    t.get("target") != "checkpoint" for t in e.get("tokens", [])):
                return True
        return False

    def _write_pending(self, synced: tuple[Path, ...] | None = None) -> None:
        """Objects durable first, then the queued lines in one write, fsync. ``synced``: the
        only objects the queued entries name, fsynced one by one instead of the whole file
        system (cheaper for one small token)."""
        assert self._log_fd is not None
        if not self._pending:
            return
        if synced is None:
            sync_filesystem(self.store.root)
        else:
            for path in synced:
                sync_file(path)
                fsync_dir(path.parent)
        data = b"".join(a.line + b"\n" for a in self._pending)
        view = memoryview(data)
        while view:
            n = os.write(self._log_fd, view)
            view = view[n:]
        os.fsync(self._log_fd)
        self._committed.extend(self._pending)
        self._pending = []

    def _stamp_checkpoints(self) -> None:
        """Sign first, then timestamp: each checkpoint's token covers its signed note. Every
        checkpoint still owed one (this commit's, or one signed just before a crash) is
        stamped in one batch; the entry is logged now and signed into the next checkpoint.
        ``N.tsr`` beside the note marks a checkpoint as stamped."""
        from evidence.core.tokens import response_from_token
        from evidence.timestamping import stamping

        owed = [p for p in self.store.checkpoint_paths() if not p.with_suffix(".tsr").exists()]
        if not owed:
            return
        texts = [p.read_text() for p in owed]
        entry = stamping.stamp(self, [(stamping.checkpoint_digest(t), "checkpoint")
                                      for t in texts])
        if entry is None:
            return
        self._write_pending(tuple(self.store.objects.path(t["token_sha256"])
                                  for t in entry["tokens"]))
        for path, t in zip(owed, entry["tokens"], strict=True):
            token = self.store.objects.path(t["token_sha256"]).read_bytes()
            atomic_write(path.with_suffix(".tsr"), response_from_token(token))

    def _tokens_in_memory(self) -> dict[str, dict[str, Any]]:
        """Item tokens recorded in entries this writer holds, by the hash they cover."""
        out: dict[str, dict[str, Any]] = {}
        for a in self._committed:
            if a.entry.get("event") == "timestamp":
                for t in a.entry.get("tokens", []):
                    out.setdefault(t["subject"], {**t, "seq": a.seq, "time": a.entry["time"]})
        return out

    def _receipt_timestamp(self, stamp: dict[str, Any]) -> dict[str, Any]:
        """The item's token, with what verifies it offline (the root is to be pinned)."""
        import base64

        from evidence.timestamping import stamping

        token = self.store.objects.path(stamp["token_sha256"]).read_bytes()
        pem = self._roots_pem.get(stamp["source"])
        if pem is None:
            pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in
                           stamping.roots_for(self.store.public_dir, stamp["source"]))
            self._roots_pem[stamp["source"]] = pem
        return {"token": base64.b64encode(token).decode(), "source": stamp["source"],
                "kind": stamp["kind"], "gen_time": stamp["gen_time"],
                "recorded_at": stamp["time"], "entry_seq": stamp["seq"],
                "tsa_roots_pem": pem.decode()}

    def _entries_from(self, start: int, stop: int) -> Iterator[tuple[int, bytes, dict]]:
        """Log lines ``start..stop-1`` with their entries: from memory when this writer
        wrote them, else from the log (after a crash, the previous writer's)."""
        first_mine = self._committed[0].seq if self._committed else stop
        if start < first_mine:
            for seq, line in enumerate(self.store.log_lines()):
                if seq >= min(first_mine, stop):
                    break
                if seq >= start:
                    yield seq, line, custody.parse_line(line).entry
        for a in self._committed:
            if a.seq >= stop:
                break
            if a.seq >= start:
                yield a.seq, a.line, a.entry

    def _write_owed_receipts(self, head: cp.SignedCheckpoint) -> dict[int, Path]:
        """Receipts for every receipted entry from the last completed mark up to ``head``."""
        mark_path = self.store.receipts_dir / ".upto"
        try:
            upto = int(mark_path.read_text())
        except (FileNotFoundError, ValueError):
            upto = 0
        written: dict[int, Path] = {}
        pubkey = self.store.log_key.public
        stamps = self._tokens_in_memory()
        owed = [(seq, line, entry)
                for seq, line, entry in self._entries_from(upto, head.checkpoint.size)
                if entry.get("event") in RECEIPTED_EVENTS]
        if self.stamp_checkpoints:  # tokens recorded by an earlier writer (after a crash)
            missing = [e["item"]["sha256"] for _, _, e in owed
                       if e["item"]["sha256"] not in stamps]
            if missing:
                stamps.update(self.index.first_tokens(missing))
        for seq, line, entry in owed:
            path = self.store.receipts_dir / f"{seq:08d}.json"
            if not path.exists():
                receipt = receipts.build(line, entry, seq, self.tree, head, pubkey)
                stamp = stamps.get(entry["item"]["sha256"])
                if stamp is not None:
                    receipt["timestamp"] = self._receipt_timestamp(stamp)
                atomic_write(path, receipts.dumps(receipt), durable=False)
            written[seq] = path
        if written:
            sync_filesystem(self.store.root)
        atomic_write(mark_path, str(head.checkpoint.size).encode())
        return written


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")



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
    log/tree/, frontier.json  the Merkle tree a writer loads instead of re-hashing the log

One writer at a time (:mod:`evidence.storage.writer`) appends, under an exclusive lock
(``lock``); readers never need it. Every append is recoverable: a crash at any moment leaves
a store that passes ``audit``. What a commit does besides (receipts, timestamps, the index) is
in the hooks the layers above register with :meth:`Store.add_hook`.
"""

from __future__ import annotations

import re
import secrets
import shlex
import tomllib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from base.errors import StoreCorrupt, StoreExists, StoreNotFound, UsageError
from base.fsio import atomic_write
from evidence.core import checkpoint as cp
from evidence.core import custody, merkle
from evidence.core.keys import PublicKey, SigningKey, public_pem, write_private
from evidence.storage.log import read_log_lines
from evidence.storage.objects import FileBlobStore

if TYPE_CHECKING:  # the writer loads with the first write: a store only read needs none of it
    from evidence.storage.headlock import HeadGuard
    from evidence.storage.index import Index
    from evidence.storage.s3objects import S3BlobStore
    from evidence.storage.writer import CommitHook, Writer

LOG_KEY_FILE = "log.ed25519.pem"
SECRET_FILE = "pseudonym.secret"


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

    def external_tsas(self) -> list[dict[str, Any]]:
        """The external TSAs of ``[timestamp]`` (name, url, timeout), as configured."""
        return list(self.raw.get("timestamp", {}).get("external", []))


def blob_store(root: Path, config: StoreConfig) -> FileBlobStore | S3BlobStore:
    """Where the store's objects are: ``objects/`` in its folder, or the S3 bucket of its
    ``[objects]`` section (boto3 is only loaded for such a store)."""
    section = config.raw.get("objects")
    if not section:
        return FileBlobStore(root / "objects")
    from evidence.storage.s3objects import S3BlobStore

    return S3BlobStore.from_config(section, root / "objects" / "tmp")


class Store:
    """An opened store. Use :meth:`init` or :meth:`open`."""

    def __init__(self, root: Path, config: StoreConfig) -> None:
        self.root = root
        self.config = config
        self._log_key: SigningKey | None = None
        self._secret: bytes | None = None
        self._index: Index | None = None
        #: what every writer of this store does on commit, in order (see ``add_hook``)
        self.hooks: list[CommitHook] = []

    @cached_property
    def objects(self) -> FileBlobStore | S3BlobStore:
        """Where the objects are, opened when first used (a command that only reads the log,
        such as checking a receipt, loads no S3 client)."""
        return blob_store(self.root, self.config)

    def add_hook(self, hook: CommitHook) -> None:
        """Register work every writer of this store does on each commit (receipts,
        timestamps, the index…), after the hooks registered before it."""
        self.hooks.append(hook)

    @property
    def index(self) -> Index:
        """The store's index, built once per opened store (one engine, one schema check)."""
        if self._index is None:
            from evidence.storage.index import Index

            self._index = Index(self)
        return self._index

    def close(self) -> None:
        """Let go of the index's database connections (a long-lived process that opens the
        store again, e.g. after its config changed); the store can still be used after."""
        if self._index is not None:
            self._index.engine.dispose()
            self._index = None

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

    @property
    def index_url(self) -> str:
        """The index database's SQLAlchemy URL (``[index] url`` in the config, else the
        store's own SQLite file)."""
        url = self.config.raw.get("index", {}).get("url")
        return str(url) if url else f"sqlite:///{self.index_path}"

    # --- creation and opening --------------------------------------------------------
    @classmethod
    def create(
        cls,
        root: Path,
        org: str = "Dalel",
        *,
        index_url: str | None = None,
        objects: tuple[str, int] | None = None,
    ) -> Store:
        """Create the storage of a new store at ``root`` (folders, config, the log key, the
        pseudonym secret, the public key); refuse to touch an existing one. A whole store,
        with its TSA and its organisation's certificate, is made by
        :func:`evidence.provision.init_store`. ``index_url``: the index in that database
        (``[index] url``; default: ``index.sqlite``); ``objects``: (``s3://BUCKET/PREFIX``,
        retention in days) for objects kept in S3 under Object Lock (``[objects]``; default:
        ``objects/``), both checked by :mod:`evidence.storage.backends`."""
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
        if index_url is not None:
            config["index"] = {"url": index_url}
        if objects is not None:
            config["objects"] = {"url": objects[0], "retain_days": objects[1]}
        key = SigningKey.generate(origin)
        write_private(root / "keys" / LOG_KEY_FILE, key.private_pem())
        write_private(root / "keys" / SECRET_FILE, secrets.token_bytes(32))
        (root / "public" / "log.pub").write_text(key.public.verifier() + "\n")
        (root / "public" / "log.pem").write_bytes(public_pem(key.public.raw))
        (root / "log" / "custody.jsonl").touch()
        import tomli_w

        (root / "config.toml").write_bytes(tomli_w.dumps(config).encode())
        return cls.open(root)

    @classmethod
    def open(cls, root: Path) -> Store:
        """Open an existing store."""
        cfg_path = root / "config.toml"
        if not cfg_path.is_file():
            raise StoreNotFound(
                f"no Dalel store at {root}",
                fix=f"create one with: dalel --store {shlex.quote(str(root))} init --org NAME",
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

    def set_precinct_location(
        self, precinct: str, lat: float, lon: float, radius_km: float
    ) -> None:
        """Record where a precinct is, so photos taken far from it are flagged."""
        if not (-90 <= lat <= 90 and -180 <= lon <= 180) or radius_km <= 0:
            raise UsageError(
                "latitude must be within ±90, longitude within ±180, and the radius positive"
            )
        raw = dict(self.config.raw)
        precincts = dict(raw.get("precincts", {}))
        precincts[str(precinct)] = {"lat": lat, "lon": lon, "radius_km": radius_km}
        raw["precincts"] = precincts
        self.write_config(raw)

    def write_config(self, raw: dict[str, Any]) -> None:
        """Replace config.toml atomically and reload it."""
        import tomli_w

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
    def head_guard(self) -> HeadGuard | None:
        """What keeps one sequencer on this store's log across machines: its head in the
        index's PostgreSQL database (:mod:`evidence.storage.headlock`); None for SQLite."""
        url = self.index_url
        if not url.startswith(("postgresql", "postgres")):
            return None
        from evidence.storage.headlock import HeadGuard

        return HeadGuard(url, self.config.store_id)

    def writer(
        self, *, wait: float | None = None, on_wait: Callable[[], None] | None = None
    ) -> Writer:
        """The store's exclusive writer, with the store's commit hooks (those registered when
        it opens: a batch registers them while its files are read); use it as a context
        manager (commits on a clean exit), or ``open()`` it and keep it. ``wait``: how long
        to wait for the lock another writer holds (default
        :data:`~evidence.storage.writer.DEFAULT_LOCK_WAIT`)."""
        from evidence.storage.writer import DEFAULT_LOCK_WAIT, Writer

        wait = DEFAULT_LOCK_WAIT if wait is None else wait
        return Writer(self, hooks=self.hooks, wait=wait, on_wait=on_wait)

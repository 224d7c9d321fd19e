"""Intake: find the files handed in, store them, log them, quarantine what is refused.

Walking never follows a symlink out of the tree it was given, never reads a whole file
into memory, and never stops a batch for one bad file: a refused file goes to quarantine
byte for byte with its reason and a ``refused`` custody entry.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import itertools
import os
import stat
import threading
import tomllib
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from base.errors import InvalidObserverId, UsageError, cannot_write
from base.fsio import ChunkReader, fsync_dir
from evidence.content import privacy
from evidence.content.media import MediaType, detect_media_type, sniff
from evidence.content.metadata import Metadata, extract_metadata
from evidence.content.metadata_readers import HEAD_SCAN
from evidence.core import custody, events
from evidence.storage.objects import CHUNK, Stored, sha256_stream
from evidence.storage.store import Store
from pipeline.kinds import KINDS
from pipeline.registry import location as registry_location
from pipeline.registry import valid_precinct
from pipeline.stages import Context, Item, StageResult, Status, Submission

MANIFEST = "manifest.csv"
MANIFEST_COLUMNS = ("file", "observer", "precinct", "kind", "channel", "note")


# Named reasons a file is refused.
EMPTY_FILE = "EMPTY_FILE"
UNREADABLE = "UNREADABLE"
NOT_REGULAR_FILE = "NOT_REGULAR_FILE"
SYMLINK_OUTSIDE_TREE = "SYMLINK_OUTSIDE_TREE"
MANIFEST_ROW_INVALID = "MANIFEST_ROW_INVALID"
NOT_FOUND = "NOT_FOUND"
STORE_FOLDER = "STORE_FOLDER"
SECRET_KEY = "SECRET_KEY"
FOLDER_UNREADABLE = "FOLDER_UNREADABLE"
NOT_IN_FOLDER = "NOT_IN_FOLDER"
PRECINCT_INVALID = "PRECINCT_INVALID"

#: Refusals whose bytes are never copied into quarantine: nothing to copy, or a store's own
#: files and private keys, which must never become evidence (nor sit in its quarantine).
NOT_COPIED = (
    SYMLINK_OUTSIDE_TREE,
    NOT_REGULAR_FILE,
    NOT_FOUND,
    STORE_FOLDER,
    SECRET_KEY,
    FOLDER_UNREADABLE,
    NOT_IN_FOLDER,
)

#: How a private key announces itself in its first bytes (PEM, OpenSSH, PuTTY).
_KEY_MARKS = (b"PRIVATE KEY-----", b"PuTTY-User-Key-File-")
_HEAD = 8192


def is_store(folder: Path) -> bool:
    """Whether ``folder`` is a Dalel store, known by its config (a ``[store]`` with an id and
    an origin) and its ``log/`` and ``keys/``, whatever its name."""
    try:
        if not (folder / "log").is_dir() or not (folder / "keys").is_dir():
            return False
        raw = tomllib.loads((folder / "config.toml").read_text(errors="replace"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeError):
        return False
    s = raw.get("store")
    return isinstance(s, dict) and "id" in s and "origin" in s


def _in_store(path: Path) -> Path | None:
    """The store that holds ``path``, if one does."""
    for folder in [path, *path.absolute().parents]:
        if folder.is_dir() and is_store(folder):
            return folder
    return None


def _store_refusal(path: Path, rel: str, store: Path) -> Rejected:
    return Rejected(
        path,
        rel,
        STORE_FOLDER,
        ("a Dalel store" if path.absolute() == store.absolute() else "inside a Dalel store")
        + f" ({store.name}/): a store's keys, secret and log are never taken as evidence; "
        "not read",
    )


def looks_like_private_key(head: bytes) -> bool:
    """Whether the first bytes of a file are a private key's."""
    return any(mark in head for mark in _KEY_MARKS)


@dataclass(frozen=True)
class Rejected:
    """A path refused before intake could read it."""

    path: Path
    relpath: str
    reason: str
    detail: str
    submission: Submission | None = None
    line: int | None = None
    """The manifest line that refused it, if one did."""


def safe_text(text: str) -> str:
    """Text that is safe to log and print: valid UTF-8, no control characters."""
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return "".join("\ufffd" if unicodedata.category(c) == "Cc" else c for c in text)


def validate_kind(kind: str) -> str:
    if kind not in KINDS:
        raise UsageError(f"unknown kind {kind!r}", fix=f"use one of: {', '.join(KINDS)}")
    return kind


# --- finding the files ------------------------------------------------------------------
def collect(paths: list[Path], defaults: Submission) -> Iterator[Submission | Rejected]:
    """Every file under ``paths``, each with its submitter's details (manifest overrides)."""
    for given in paths:
        if given.is_symlink() and not given.exists():
            yield Rejected(given, given.name, NOT_FOUND, "a symbolic link to nothing")
            continue
        if not given.exists():
            yield Rejected(given, given.name, NOT_FOUND, "no such file or folder")
            continue
        store = _in_store(given)
        if store is not None:
            yield _store_refusal(given, given.name, store)
        elif given.is_dir():
            yield from _walk(given, defaults)
        else:
            yield _with(defaults, given, given.name)


def _walk(root: Path, defaults: Submission) -> Iterator[Submission | Rejected]:
    root_real = root.resolve()
    manifest = _read_manifest(root)
    seen: set[str] = set()
    unreadable: list[OSError] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False, onerror=unreadable.append):
        yield from _unreadable_folders(root, unreadable)
        dirnames.sort()
        here = Path(dirpath)
        if here != root and is_store(here):
            dirnames[:] = []
            yield _store_refusal(here, here.relative_to(root).as_posix(), here)
            continue
        for name in sorted(filenames + [d for d in dirnames if _is_link(here / d)]):
            path = here / name
            rel = path.relative_to(root).as_posix()
            if rel == MANIFEST:
                continue
            row = manifest.get(rel)
            seen.add(rel)
            if isinstance(row, Rejected):
                yield Rejected(path, rel, row.reason, row.detail)
                continue
            if _is_link(path):
                try:
                    target = path.resolve()
                except (OSError, RuntimeError) as e:
                    detail = getattr(e, "strerror", None) or "it loops"
                    yield Rejected(
                        path, rel, UNREADABLE, f"a symbolic link that cannot be followed: {detail}"
                    )
                    continue
                if not target.is_relative_to(root_real):
                    yield Rejected(
                        path,
                        rel,
                        SYMLINK_OUTSIDE_TREE,
                        f"points outside the folder handed in ({os.readlink(path)}); not followed",
                    )
                    continue
                if target.is_dir():
                    continue  # its files are reached inside the tree
            sub = _with(defaults, path, rel)
            if row:
                given = {k: v for k, v in row.items() if k != "_line"}
                sub = Submission(path, rel, **{**_defaults_dict(sub), **given})
            yield sub
    yield from _unreadable_folders(root, unreadable)
    for name, row in manifest.items():
        if name not in seen:
            line = row.line if isinstance(row, Rejected) else row.get("_line", "?")
            yield Rejected(
                root / name,
                name,
                NOT_IN_FOLDER,
                f"{MANIFEST} line {line} names a file that is not in the folder handed in; "
                "nothing was read",
            )


def _is_link(path: Path) -> bool:
    """Whether ``path`` is a symbolic link; a path the system cannot even look at (too long)
    is not one, and is refused as unreadable when intake opens it."""
    try:
        return path.is_symlink()
    except OSError:
        return False


def _unreadable_folders(root: Path, errors: list[OSError]) -> Iterator[Rejected]:
    """A folder the walk could not open, named as a refusal instead of skipped in silence."""
    while errors:
        e = errors.pop(0)
        where = Path(e.filename) if e.filename else root
        try:
            rel = where.relative_to(root).as_posix()
        except ValueError:
            rel = where.name
        yield Rejected(
            where, rel, FOLDER_UNREADABLE, f"the folder could not be read: {e.strerror or e}"
        )


def _defaults_dict(s: Submission) -> dict[str, str]:
    return {
        "observer": s.observer,
        "precinct": s.precinct,
        "kind": s.kind,
        "channel": s.channel,
        "note": s.note,
    }


def _with(defaults: Submission, path: Path, rel: str) -> Submission:
    return Submission(
        path,
        rel,
        defaults.observer,
        defaults.precinct,
        defaults.kind,
        defaults.channel,
        defaults.note,
    )


def _read_manifest(root: Path) -> dict[str, Any]:
    """``manifest.csv`` rows by file; a bad row becomes a Rejected for that file."""
    path = root / MANIFEST
    if not path.is_file():
        return {}
    rows: dict[str, Any] = {}
    try:
        with open(path, newline="", encoding="utf-8-sig", errors="replace") as f:
            _manifest_rows(root, csv.DictReader(f), rows)
    except csv.Error as exc:
        raise UsageError(
            f"{MANIFEST} cannot be read as CSV: {exc}",
            fix=f"correct {MANIFEST} (one row per file: {', '.join(MANIFEST_COLUMNS)}; a field "
            "of at most 128 KB, quotes closed) and hand the folder in again; nothing was stored",
        ) from None
    return rows


def _manifest_rows(root: Path, reader: Any, rows: dict[str, Any]) -> None:
    """Fill ``rows`` from the manifest's ``reader`` (each with its ``_line``); a file listed
    twice is refused, since which row is right cannot be known."""
    header = [h.strip() for h in (reader.fieldnames or [])]
    if not header:
        return  # an empty manifest lists nothing
    unknown = [h for h in header if h not in MANIFEST_COLUMNS]
    if "file" not in header or unknown:
        raise UsageError(
            f"{MANIFEST} line 1 names the columns {', '.join(map(repr, header))[:300]}: "
            + "; ".join(
                ([f"{', '.join(map(repr, unknown))[:200]} are unknown"] if unknown else [])
                + ([] if "file" in header else ["without a 'file' column"])
            ),
            fix=f"give {MANIFEST} a first line naming some of: {', '.join(MANIFEST_COLUMNS)} "
            "(file is required); nothing was stored",
        )
    reader.fieldnames = header
    for lineno, row in enumerate(reader, start=2):
        name = (row.get("file") or "").strip()
        if not name:
            continue
        values = {k: (row.get(k) or "").strip() for k in MANIFEST_COLUMNS[1:]}
        values = {k: v for k, v in values.items() if v}
        earlier = rows.get(name)
        if earlier is not None:
            first = earlier.line if isinstance(earlier, Rejected) else earlier["_line"]
            rows[name] = Rejected(
                root / name,
                name,
                MANIFEST_ROW_INVALID,
                f"{MANIFEST} lists this file twice (lines {first} and {lineno})",
                line=first,
            )
            continue
        if "kind" in values and values["kind"] not in KINDS:
            rows[name] = Rejected(
                root / name,
                name,
                MANIFEST_ROW_INVALID,
                f"{MANIFEST} line {lineno}: unknown kind {values['kind']!r}",
                line=lineno,
            )
            continue
        rows[name] = {**values, "_line": lineno}


# --- the intake stage -------------------------------------------------------------------
def _store_refused(e: OSError, root: Path) -> bool:
    """Whether ``e`` is the store's disk refusing a write (full, read-only, not permitted
    there), not the handed-in file failing to read."""
    if cannot_write(e) is None:
        return False
    if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
        return True
    return bool(e.filename) and Path(str(e.filename)).is_relative_to(root)


class IntakeStage:
    """Store a submitted file, extract its metadata, and append its custody entry."""

    name = "intake"

    def run(
        self, sub: Submission | Rejected, ctx: Context, prepared: Prepared | None = None
    ) -> StageResult:
        """Take ``sub`` in: refuse it, or store, describe and log it (``prepared``: what
        :meth:`prepare` already did of it)."""
        if isinstance(sub, Rejected):
            return quarantine(ctx, sub, None)
        store = ctx.store
        shown = privacy.scrub(store.secret, safe_text(sub.relpath))
        try:
            actor = sub.pseudonym or privacy.observer_pseudonym(store.secret, sub.observer)
        except InvalidObserverId as e:
            return quarantine(
                ctx, Rejected(sub.path, sub.relpath, MANIFEST_ROW_INVALID, e.message, sub), None
            )
        if not valid_precinct(sub.precinct):
            return quarantine(
                ctx,
                Rejected(
                    sub.path,
                    sub.relpath,
                    PRECINCT_INVALID,
                    "the precinct given for this file is not a precinct number (not kept)",
                    sub,
                ),
                actor,
            )
        if prepared is None:
            prepared = self.prepare(sub, store)  # raises when the store cannot be written
        if prepared.refused is not None:
            return quarantine(ctx, prepared.refused, actor)
        stored = prepared.stored
        assert stored is not None
        if stored.size == 0:
            return quarantine(
                ctx,
                Rejected(sub.path, sub.relpath, EMPTY_FILE, "the file had no bytes when read", sub),
                actor,
            )
        secret = store.secret
        name = privacy.scrub(secret, safe_text(sub.path.name))
        relpath = shown
        key = (stored.sha256, actor, sub.precinct, relpath)
        history = _history(ctx, stored.sha256, prepared.history)
        if ctx.dedupe and (key in ctx.seen or any(_source_key(e) == key for e in history)):
            return StageResult(
                self.name,
                shown,
                Status.SKIPPED,
                "already received from this observer for this precinct",
            )
        ctx.seen.add(key)
        if prepared.meta is None:
            prepared = _described(prepared, sub, store)
        media, meta, received = prepared.media, prepared.meta, prepared.received
        assert media is not None and meta is not None and received is not None
        first = next((e for e in history if e.get("event") == events.INGEST), None)
        entry: dict[str, Any] = {
            "event": events.INGEST,
            "time": custody.rfc3339(received),
            "actor": {"role": "observer", "id": actor},
            "item": {"sha256": stored.sha256, "size": stored.size, "media_type": media.mime},
            "media": privacy.scrub_all(secret, media.to_dict()),
            "name": name,
            "path": relpath,
            "precinct": str(sub.precinct),
            "kind": sub.kind,
            "channel": privacy.scrub(secret, safe_text(sub.channel)),
            "note": privacy.scrub(secret, safe_text(sub.note)),
            "metadata": privacy.scrub_all(secret, meta.to_dict()),
        }
        if first is not None:
            entry["received_again"] = {
                "first_seq": first["seq"],
                "first_observer": first["actor"]["id"],
            }
        appended = ctx.writer.append(entry)
        ctx.received.setdefault(stored.sha256, []).append(appended.entry)
        item = Item(stored.sha256, str(sub.precinct), sub.kind, media.mime, stored.size)
        detail = "stored" if stored.new else "received again; stored once"
        return StageResult(
            self.name,
            shown,
            Status.DONE,
            detail,
            item,
            (appended.seq,),
            {"flags": [f["reason"] for f in meta.to_dict()["flags"]]},
        )

    @staticmethod
    def will_read(sub: Submission | Rejected, store: Store) -> bool:
        """Whether :meth:`run` reads ``sub``'s bytes (else it refuses it before any read: a
        path refused when found, an observer ID or a precinct that is not one)."""
        if isinstance(sub, Rejected) or not valid_precinct(sub.precinct):
            return False
        if sub.pseudonym is None:
            try:
                privacy.observer_pseudonym(store.secret, sub.observer)
            except InvalidObserverId:
                return False
        return True

    def prepare(
        self,
        sub: Submission,
        store: Store,
        *,
        describe: bool = False,
        durable: bool | None = None,
    ) -> Prepared:
        """Read ``sub`` into the store's objects, or say why it is refused; with ``describe``,
        its media type and metadata too: everything of intake that reads the file and needs
        neither the log nor the index, so that the runner can do it for the next file on
        another thread while this one is logged. ``durable=False``: the object is not
        synced now (the batch's commit syncs the file system before its entry is written).
        Raises OSError when the store's disk refuses the write (the batch stops here)."""
        try:
            refused, stored = _read_in(sub, store, durable)
        except OSError as e:
            return _unreadable(e, sub, store)
        if refused is not None:
            return Prepared(refused=refused)
        prepared = Prepared(stored=stored)
        if describe:
            prepared = self.describe(prepared, sub, store)
        return prepared

    @staticmethod
    def describe(
        prepared: Prepared, sub: Submission, store: Store, places: Places | None = None
    ) -> Prepared:
        """``prepared`` with the stored file's media type and metadata (as it is when
        nothing was stored, or nothing with a byte). ``places``: the precincts' places as
        this batch looks them up."""
        if prepared.stored is None or not prepared.stored.size:
            return prepared
        return _described(prepared, sub, store, places)


def _unreadable(e: OSError, sub: Submission, store: Store) -> Prepared:
    """A file that could not be read, refused; raised again when it is the store's disk that
    refused a write."""
    if _store_refused(e, store.root):
        raise e
    return Prepared(
        refused=Rejected(
            sub.path, sub.relpath, UNREADABLE, f"could not be read: {e.strerror or e}", sub
        )
    )


@dataclass(frozen=True)
class Prepared:
    """What intake read of a file before logging it (:meth:`IntakeStage.prepare`)."""

    stored: Stored | None = None
    """The object the file's bytes became."""
    refused: Rejected | None = None
    """Why the file is refused instead (it was not stored)."""
    received: datetime | None = None
    """When it was received (our clock, once stored)."""
    media: MediaType | None = None
    """Its media type, from its first bytes."""
    meta: Metadata | None = None
    """What it says about itself."""
    history: list[dict[str, Any]] | None = None
    """The index's entries about its object, looked up ahead (None: not looked up)."""


#: First bytes of a stored file kept from the pass that hashes it: what the media type
#: (64 KiB) and the software named in XMP or PNG text (256 KiB) are read from.
HEAD_FOR_METADATA = HEAD_SCAN


def _read_in(
    sub: Submission, store: Store, durable: bool | None = None
) -> tuple[Rejected | None, Stored | None]:
    """Store the bytes of ``sub``, or say why it is refused; OSError when reading or writing
    fails."""
    with contextlib.ExitStack() as opened:
        if sub.stream is not None:
            src = sub.stream
        else:
            st = os.stat(sub.path)
            if not stat.S_ISREG(st.st_mode):
                return Rejected(
                    sub.path,
                    sub.relpath,
                    NOT_REGULAR_FILE,
                    "not a regular file (a device, pipe or socket)",
                    sub,
                ), None
            if st.st_size == 0:
                return Rejected(
                    sub.path, sub.relpath, EMPTY_FILE, "the file has no bytes", sub
                ), None
            src = opened.enter_context(open(sub.path, "rb"))
        head = src.read(_HEAD)
        if looks_like_private_key(head):
            return Rejected(
                sub.path,
                sub.relpath,
                SECRET_KEY,
                "a private key: never stored as evidence, not copied",
                sub,
            ), None
        if sub.held is not None and sub.sha256 is not None:
            # a received upload, hashed as it arrived: linked, not copied
            return None, store.objects.adopt(sub.held, sub.sha256)
        if sub.stream is None:  # a file: copied from its start, then the copy hashed
            return None, store.objects.put_file(src, head=HEAD_FOR_METADATA, durable=durable)
        # a stream cannot go back: what was looked at, then the rest
        rest = iter(lambda: src.read(CHUNK), b"")
        return None, store.objects.put_stream(
            ChunkReader(itertools.chain((head,), rest))  # type: ignore[arg-type]
        )


def _described(
    prepared: Prepared, sub: Submission, store: Store, places: Places | None = None
) -> Prepared:
    """``prepared`` with the stored file's media type and metadata (``places``: see
    :meth:`IntakeStage.describe`)."""
    stored = prepared.stored
    assert stored is not None
    received = datetime.now(UTC)
    location = (places or Places(store)).of(sub.precinct)
    # the first bytes kept from the hashing pass stand for the file's own when they hold
    # all that the readers look at (or the whole file)
    head = stored.head if len(stored.head) >= min(HEAD_SCAN, stored.size) else None
    with store.objects.local_copy(stored.sha256) as obj_path:
        name = sub.path.name
        media = sniff(head, name) if head else detect_media_type(obj_path, name=name)
        meta = extract_metadata(
            obj_path,
            media,
            received_at=received,
            precinct_location=location,
            max_distance_km=store.config.precinct_radius_km(sub.precinct),
            head=head,
        )
    return Prepared(stored=stored, received=received, media=media, meta=meta)


class Places:
    """Where precincts are, for the GPS check: the config's place for one, else the
    registry's (dalel precinct import). A batch keeps one, so that each precinct is looked
    up once, whichever of its threads asks first (no registry is imported while a batch
    holds the store)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._known: dict[str, tuple[float, float] | None] = {}
        self._lock = threading.Lock()

    def of(self, precinct: str) -> tuple[float, float] | None:
        """The precinct's latitude and longitude, if they are known."""
        with self._lock:
            if precinct not in self._known:
                store = self._store
                self._known[precinct] = store.config.precinct_location(
                    precinct
                ) or registry_location(store, precinct)
            return self._known[precinct]


def _source_key(entry: dict[str, Any]) -> tuple[Any, ...]:
    return (
        entry.get("item", {}).get("sha256"),
        entry.get("actor", {}).get("id"),
        entry.get("precinct"),
        entry.get("path"),
    )


def _history(
    ctx: Context, sha256: str, looked_up: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Committed and uncommitted entries about ``sha256`` (``looked_up``: the index's, read
    ahead while this batch held the store: all but this batch's own, which ``received``
    holds)."""
    done = ctx.index.history(sha256) if looked_up is None else looked_up
    if not done and sha256 not in ctx.received:
        ctx.unknown.add(sha256)
    pending = ctx.received.get(sha256, [])
    seen = {e["seq"] for e in done}
    return done + [e for e in pending if e["seq"] not in seen]


def quarantine(ctx: Context, rej: Rejected, actor: str | None) -> StageResult:
    """Keep a refused input byte for byte with its reason, and log the refusal."""
    store = ctx.store
    secret = store.secret
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    qdir = store.quarantine_dir / f"{stamp}-{ctx.writer.size:08d}"
    qdir.mkdir(parents=True)
    copied: dict[str, Any] = {"copied": False}
    stream = rej.submission.stream if rej.submission is not None else None
    if rej.reason not in NOT_COPIED:
        try:
            with (
                (
                    contextlib.nullcontext(stream) if stream is not None else open(rej.path, "rb")
                ) as src,
                open(qdir / "original", "wb") as dst,
            ):
                while chunk := src.read(CHUNK):
                    dst.write(chunk)
                dst.flush()
                os.fsync(dst.fileno())
            with open(qdir / "original", "rb") as f:
                sha, size = sha256_stream(f)
            copied = {"copied": True, "sha256": sha, "size": size}
        except OSError as e:
            copied = {"copied": False, "error": safe_text(str(e.strerror or e))}
    sub = rej.submission
    reason = {
        "reason": rej.reason,
        "detail": privacy.scrub(secret, safe_text(rej.detail)),
        "name": privacy.scrub(secret, safe_text(rej.path.name)),
        "path": privacy.scrub(secret, safe_text(rej.relpath)),
        "observer": actor,
        "precinct": sub.precinct if sub and valid_precinct(sub.precinct) else None,
        **copied,
    }
    (qdir / "reason.json").write_bytes(custody.canonical(reason) + b"\n")
    fsync_dir(qdir)
    entry = {
        "event": events.REFUSED,
        "actor": {"role": "observer", "id": actor},
        "quarantine": qdir.name,
        **{k: v for k, v in reason.items() if k != "observer"},
    }
    appended = ctx.writer.append(entry)
    return StageResult(
        "intake",
        reason["path"],
        Status.REFUSED,
        f"{rej.reason}: {reason['detail']}",
        None,
        (appended.seq,),
        {"reason": rej.reason, "quarantine": str(qdir)},
    )

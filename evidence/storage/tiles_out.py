"""The log's tiles written to a folder or a bucket (C2SP tlog-tiles,
:mod:`evidence.core.tiles`): by ``dalel log tiles --out DIR``; when the config names a folder
(``[log] tiles_dir``), by a commit hook after every commit; and for a store whose objects are
in S3, by a commit hook into the same bucket, under ``PREFIX + "log/"`` (a CDN in front of it
serves the receipt checks). The hooks work from the writer's tree in memory (no log re-read):
only the tiles a commit changed are written (the last, partial tile of each level, and a tile
that became full), then the checkpoint.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from base.errors import UsageError
from base.fsio import atomic_write
from evidence.core import checkpoint as cp
from evidence.core import merkle, tiles
from evidence.storage.store import Store

if TYPE_CHECKING:
    from evidence.storage.s3objects import S3BlobStore
    from evidence.storage.writer import Commit, Writer

CONFIG_KEY = "tiles_dir"
"""``[log] tiles_dir`` in config.toml: a folder (absolute, or relative to the store) the
writer keeps up to date after every commit."""


@dataclass(frozen=True)
class Written:
    """What one publication wrote."""

    size: int
    written: int
    kept: int


class Destination(Protocol):
    """Where tiles go: a folder, or a bucket under a prefix."""

    def get(self, path: str) -> bytes | None:
        """The bytes held at ``path`` (relative, ``tile/0/000``), None when there are none."""
        ...

    def put(self, path: str, data: bytes, *, final: bool) -> None:
        """Hold ``data`` at ``path``; ``final``: never to change (a full tile)."""
        ...


class Folder:
    """Tiles in a folder, each written atomically (a full tile synced to disk)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __str__(self) -> str:
        return str(self.root)

    def get(self, path: str) -> bytes | None:
        try:
            return (self.root / path).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def put(self, path: str, data: bytes, *, final: bool) -> None:
        dest = self.root / path
        dest.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(dest, data, durable=final)


IMMUTABLE = "public, max-age=31536000, immutable"
"""Cache-Control of a full tile: it never changes, a CDN may keep it for ever."""
REVALIDATE = "no-cache"
"""Cache-Control of the checkpoint and the partial tiles: asked again each time."""


class Bucket:
    """Tiles in the store's S3 bucket, under ``PREFIX + "log/"``, with the cache headers a
    CDN needs; a full tile is put under Object Lock (COMPLIANCE) like the objects: the
    published log cannot be rewritten either."""

    def __init__(self, blobs: S3BlobStore) -> None:
        self.blobs = blobs
        self.prefix = f"{blobs.prefix}log/"

    def __str__(self) -> str:
        return f"s3://{self.blobs.bucket}/{self.prefix}"

    def get(self, path: str) -> bytes | None:
        """The bytes held at ``path``, None when there are none; a bucket that refuses or
        cannot be reached (no connection, a timeout, a body cut short) is an ``OSError``,
        as a folder's disk would be: the hook's callers let the tiles fall behind."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            got = self.blobs.client.get_object(Bucket=self.blobs.bucket, Key=self.prefix + path)
            return bytes(got["Body"].read())
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return None
            raise OSError(f"reading {self}{path}: {e}") from None
        except BotoCoreError as e:
            raise OSError(f"reading {self}{path}: {e}") from None

    def put(self, path: str, data: bytes, *, final: bool) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        args: dict[str, Any] = {
            "Bucket": self.blobs.bucket,
            "Key": self.prefix + path,
            "Body": data,
            "ContentType": "text/plain; charset=utf-8"
            if path == "checkpoint"
            else "application/octet-stream",
            "CacheControl": IMMUTABLE if final else REVALIDATE,
        }
        if final:
            args |= {
                "ObjectLockMode": "COMPLIANCE",
                "ObjectLockRetainUntilDate": self.blobs.until(),
            }
        try:
            self.blobs.client.put_object(**args)
        except (ClientError, BotoCoreError) as e:
            raise OSError(f"writing {self}{path}: {e}") from None
        if not final:
            self._drop_older_versions(path)

    def _drop_older_versions(self, path: str) -> None:
        """Delete what a versioned bucket keeps of ``path`` besides its newest version (the
        checkpoint is written again at every commit: some 20,000 versions a night else).
        Not locked, so they may go; one that cannot is left, said in the log, for the next."""
        from botocore.exceptions import BotoCoreError, ClientError

        key = self.prefix + path
        client, bucket = self.blobs.client, self.blobs.bucket
        try:
            listed = client.list_object_versions(Bucket=bucket, Prefix=key)
            older = [
                v["VersionId"]
                for v in listed.get("Versions", []) + listed.get("DeleteMarkers", [])
                if v.get("Key") == key and not v.get("IsLatest") and v.get("VersionId")
            ]
            for version in older:
                client.delete_object(Bucket=bucket, Key=key, VersionId=version)
        except (ClientError, BotoCoreError) as e:
            logging.getLogger("dalel").warning("older versions of %s%s left: %s", self, path, e)


def _dest(out: Path | Destination) -> Destination:
    return Folder(out) if isinstance(out, Path) else out


def write(
    tree: merkle.MerkleTree,
    head: cp.SignedCheckpoint,
    out: Path | Destination,
    *,
    since: int = 0,
    keep_newer: bool = False,
) -> Written:
    """Write the tiles of ``tree`` at the size of ``head`` into ``out`` (only those that may
    differ from a publication at size ``since``: 0 writes or checks them all), then the
    checkpoint. A full tile already there with other bytes is refused: the folder holds
    another log, or this log was rewritten."""
    dest = _dest(out)
    size = head.checkpoint.size
    if tree.size < size:
        raise UsageError("the log is shorter than its latest checkpoint", fix="run dalel audit")
    written = kept = 0
    for level, index, width in tiles.tile_widths(size):
        full_before = (since >> (tiles.HEIGHT * level)) // tiles.WIDTH
        if index < full_before:
            continue  # full at the last publication: never changes
        path = tiles.tile_path(level, index, width)
        start = index * tiles.WIDTH
        data = tree.levels[tiles.HEIGHT * level].raw(start)[: width * tiles.H]
        held = dest.get(path)
        if held is not None:
            if held == data:
                kept += width == tiles.WIDTH
                continue
            if width == tiles.WIDTH:
                raise UsageError(
                    f"{dest}/{path} holds another tile than this log's",
                    fix="publish into an empty folder, or the one this store published to",
                )
        dest.put(path, data, final=width == tiles.WIDTH)  # a full tile is final
        written += 1
    if isinstance(dest, Folder):
        dest.root.mkdir(parents=True, exist_ok=True)
    if keep_newer and _held_size(dest, head) > size:
        return Written(size, written, kept)  # a writer published a newer one meanwhile
    dest.put("checkpoint", head.text.encode(), final=False)
    return Written(size, written, kept)


def _held_size(dest: Destination, head: cp.SignedCheckpoint) -> int:
    """The size of the checkpoint the folder holds, when it is this log's (same origin)."""
    try:
        held = cp.parse((dest.get("checkpoint") or b"").decode())
    except (OSError, ValueError):
        return 0
    return held.checkpoint.size if held.checkpoint.origin == head.checkpoint.origin else 0


def configured(store: Store) -> Path | None:
    """The folder the config asks the writer to keep up to date, if any."""
    value = store.config.raw.get("log", {}).get(CONFIG_KEY)
    if not value:
        return None
    path = Path(str(value))
    return path if path.is_absolute() else store.root / path


def bucket_of(store: Store) -> Bucket | None:
    """The bucket the store's tiles go to, for a store whose objects are in S3."""
    from evidence.storage.objects import FileBlobStore

    return None if isinstance(store.objects, FileBlobStore) else Bucket(store.objects)


class TilesHook:
    """A commit hook: after every commit that signed a checkpoint, the folder (or bucket)
    gets the tiles it changed and the new checkpoint. A disk or bucket that refuses is the
    commit's problem no more: the next commit (or ``dalel log tiles``) catches up."""

    def __init__(self, out: Path | Destination) -> None:
        self.out = _dest(out)
        self._since = 0

    def on_open(self, writer: Writer) -> None:
        # what the folder already holds: its checkpoint's size, if it is this log's
        try:
            held = cp.parse((self.out.get("checkpoint") or b"").decode())
            mine = held.signed_by(writer.store.public_key())
            self._since = held.checkpoint.size if mine else 0
        except (OSError, ValueError):
            self._since = 0

    def on_commit(self, writer: Writer, commit: Commit) -> None:
        head = commit.head
        if head is None or head.checkpoint.size <= self._since:
            return
        try:
            write(writer.tree, head, self.out, since=self._since)
        except (OSError, UsageError) as e:  # the folder falls behind; the log is what matters
            logging.getLogger("dalel").warning("the log's tiles in %s: %s", self.out, e)
            return
        self._since = head.checkpoint.size

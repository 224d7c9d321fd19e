"""Uploads in progress where every intake server sees them: PostgreSQL and the bucket.

A store whose index is in PostgreSQL and whose objects are in S3 (``dalel init --db ...
--objects s3://...``) keeps its observers' uploads in progress there, not in a folder of one
machine: any number of ``dalel serve`` behind a proxy take the same uploads, and when one of
them dies in the middle of a file the phone goes on with another from the last byte kept.

- A row of ``uploads`` (schema ``dalel_workspace``) per upload: who may touch it, its
  declared length and metadata, how many bytes are kept (``upload_offset``), and once every
  byte is in the SHA-256 and the signed acknowledgement (``received``), then what the
  sequencer made of it (``outcome``, with the receipt).
- The bytes are kept as parts in the bucket, ``PREFIX/uploads/ID/START-TOKEN``, each a
  piece of one PATCH (a few MiB, or what was left when the connection ended), not locked
  (they are deleted once the upload is in the store, by version, leaving nothing behind).
  ``upload_parts`` lists them. A part counts only once its row is written in the same
  transaction that moves the offset on, and only if the offset was still where the part
  starts: two requests sending the same upload at once (two servers) never both count,
  the loser's part is deleted and it is told to ask for the offset.

This module is the storage alone (rows and parts); :mod:`app.uploads` holds the rules.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from app import statedb
from evidence.storage.store import Store

_PART = Path("uploads")  # (the name the workspace's advisory locks go by)

SCHEMA = """
    CREATE TABLE IF NOT EXISTS uploads(
        id TEXT PRIMARY KEY,
        invite TEXT NOT NULL,
        length BIGINT NOT NULL,
        upload_offset BIGINT NOT NULL DEFAULT 0,
        declared TEXT NOT NULL,
        created TEXT NOT NULL,
        started DOUBLE PRECISION NOT NULL,
        received TEXT,
        received_at DOUBLE PRECISION,
        outcome TEXT,
        terminated BOOLEAN NOT NULL DEFAULT false);
    ALTER TABLE uploads ADD COLUMN IF NOT EXISTS touched DOUBLE PRECISION;
    UPDATE uploads SET touched = extract(epoch FROM now())
        WHERE touched IS NULL AND received IS NULL AND NOT terminated;
    CREATE INDEX IF NOT EXISTS uploads_by_invite ON uploads(invite, started);
    CREATE INDEX IF NOT EXISTS uploads_waiting ON uploads(received_at)
        WHERE received IS NOT NULL AND outcome IS NULL;
    CREATE TABLE IF NOT EXISTS upload_parts(
        upload TEXT NOT NULL,
        start BIGINT NOT NULL,
        size BIGINT NOT NULL,
        key TEXT NOT NULL,
        version TEXT,
        PRIMARY KEY(upload, start));
"""

READ_CHUNK = 1 << 20


def shared(store: Store) -> bool:
    """Whether ``store`` keeps its uploads in progress in PostgreSQL and S3 (both needed:
    a server elsewhere must reach the rows and the bytes)."""
    from evidence.storage.s3objects import S3BlobStore

    return statedb.on_postgres(store) and isinstance(store.objects, S3BlobStore)


@dataclass(frozen=True)
class Row:
    """One upload's row."""

    id: str
    invite: str
    length: int
    offset: int
    declared: dict[str, Any]
    created: str
    received: dict[str, Any] | None
    outcome: dict[str, Any] | None
    terminated: bool


@dataclass(frozen=True)
class Part:
    start: int
    size: int
    key: str
    version: str | None


class SharedUploads:
    """The rows and parts of one store's uploads."""

    def __init__(self, store: Store) -> None:
        from evidence.storage.s3objects import S3BlobStore

        self.store = store
        blobs = store.objects
        assert isinstance(blobs, S3BlobStore)
        self.blobs = blobs

    @contextmanager
    def _db(self) -> Iterator[statedb.Connection]:
        with statedb.connect(self.store, _PART, SCHEMA) as con:
            yield con

    def _s3(self, doing: str, method: str, **kwargs: Any) -> Any:
        from evidence.storage import s3objects

        fn = getattr(self.blobs.client, method)
        return s3objects._call(doing, self.blobs.bucket, fn, Bucket=self.blobs.bucket, **kwargs)

    # --- rows ------------------------------------------------------------------------------
    def start(self, row: Row, started: float, *, since: float, per_hour: int) -> bool:
        """Insert ``row`` unless its invite started ``per_hour`` uploads since ``since``
        (counted under a lock of that invite, so that servers do not both let one more in);
        False when the limit is reached."""
        with self._db() as con:
            con.execute("BEGIN")
            try:
                con.execute("SELECT pg_advisory_xact_lock(hashtext(?))", ("upload:" + row.invite,))
                got = con.execute(
                    "SELECT count(*) FROM uploads WHERE invite=? AND started >= ?",
                    (row.invite, since),
                ).fetchone()
                if int(got[0]) >= per_hour:
                    con.execute("ROLLBACK")
                    return False
                con.execute(
                    "INSERT INTO uploads(id, invite, length, declared, created, started, "
                    "touched) VALUES (?,?,?,?,?,?,?)",
                    (
                        row.id,
                        row.invite,
                        row.length,
                        json.dumps(row.declared),
                        row.created,
                        started,
                        started,
                    ),
                )
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return True

    def row(self, upload_id: str) -> Row | None:
        with self._db() as con:
            got = con.execute(
                "SELECT id, invite, length, upload_offset, declared, created, received, "
                "outcome, terminated FROM uploads WHERE id=?",
                (upload_id,),
            ).fetchone()
        if got is None:
            return None
        return Row(
            str(got[0]),
            str(got[1]),
            int(got[2]),
            int(got[3]),
            json.loads(got[4]),
            str(got[5]),
            json.loads(got[6]) if got[6] else None,
            json.loads(got[7]) if got[7] else None,
            bool(got[8]),
        )

    def receive(self, upload_id: str, received: dict[str, Any], at: float) -> bool:
        """Mark the upload received (every byte in); False when it already was."""
        with self._db() as con:
            cur = con.execute(
                "UPDATE uploads SET received=?, received_at=? WHERE id=? AND received IS NULL "
                "AND upload_offset = length AND NOT terminated",
                (json.dumps(received), at, upload_id),
            )
            return cur.rowcount == 1

    def terminate(self, upload_id: str, *, idle_before: float | None = None) -> bool:
        """Mark an upload not yet received as abandoned (the row stays: it counted against
        its invite's limit) and delete its parts; False when it was received meanwhile. With
        ``idle_before``, only if no part was kept since (a part kept meanwhile, by any server,
        keeps it)."""
        sql = "UPDATE uploads SET terminated=true WHERE id=? AND received IS NULL"
        args: tuple[Any, ...] = (upload_id,)
        if idle_before is not None:
            sql += " AND NOT terminated AND coalesce(touched, started) < ?"
            args += (idle_before,)
        with self._db() as con:
            cur = con.execute(sql, args)
            if cur.rowcount != 1:
                return False
        self.drop_parts(upload_id)
        return True

    def idle_since(self, before: float) -> list[str]:
        """Uploads not received whose last part was kept (or that began, with none) before
        ``before`` (seconds since the epoch)."""
        with self._db() as con:
            rows = con.execute(
                "SELECT id FROM uploads WHERE received IS NULL AND NOT terminated "
                "AND coalesce(touched, started) < ? ORDER BY started",
                (before,),
            ).fetchall()
        return [str(r[0]) for r in rows]

    def waiting(self) -> list[str]:
        """Uploads received and not yet committed, oldest first."""
        with self._db() as con:
            rows = con.execute(
                "SELECT id FROM uploads WHERE received IS NOT NULL AND outcome IS NULL "
                "ORDER BY received_at, id"
            ).fetchall()
        return [str(r[0]) for r in rows]

    def finish(self, upload_id: str, outcome: dict[str, Any]) -> None:
        """Write what the sequencer made of the upload, then delete its bytes."""
        with self._db() as con:
            con.execute(
                "UPDATE uploads SET outcome=? WHERE id=? AND outcome IS NULL",
                (json.dumps(outcome), upload_id),
            )
        self.drop_parts(upload_id)

    @contextmanager
    def sequencing(self) -> Iterator[None]:
        """Held while a batch is committed: one batch at a time across every server."""
        with self._db() as con:
            con.execute("SELECT pg_advisory_lock(hashtext(?))", ("dalel-uploads-sequencer",))
            try:
                yield
            finally:
                con.execute("SELECT pg_advisory_unlock(hashtext(?))", ("dalel-uploads-sequencer",))

    # --- parts -----------------------------------------------------------------------------
    def _key(self, upload_id: str, start: int) -> str:
        return f"{self.blobs.prefix}uploads/{upload_id}/{start:015d}-{secrets.token_hex(4)}"

    def add_part(self, upload_id: str, start: int, data: BinaryIO, size: int) -> bool:
        """Keep ``size`` bytes read from ``data`` as the part of ``upload_id`` from byte
        ``start``: put in the bucket, then counted if the upload is still at ``start``.
        False (and the part deleted) when it is not: another request moved it on."""
        key = self._key(upload_id, start)
        answer = self._s3(
            f"keeping a part of upload {upload_id}",
            "put_object",
            Key=key,
            Body=data,
            ContentLength=size,
            ContentType="application/octet-stream",
        )
        version = answer.get("VersionId")
        with self._db() as con:
            con.execute("BEGIN")
            try:
                cur = con.execute(
                    "UPDATE uploads SET upload_offset=?, touched=? WHERE id=? "
                    "AND upload_offset=? AND received IS NULL AND NOT terminated",
                    (start + size, time.time(), upload_id, start),
                )
                if cur.rowcount == 1:
                    con.execute(
                        "INSERT INTO upload_parts(upload, start, size, key, version) "
                        "VALUES (?,?,?,?,?)",
                        (upload_id, start, size, key, version),
                    )
                    con.execute("COMMIT")
                    return True
                con.execute("ROLLBACK")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        self._delete(Part(start, size, key, version))
        return False

    def parts(self, upload_id: str) -> list[Part]:
        with self._db() as con:
            rows = con.execute(
                "SELECT start, size, key, version FROM upload_parts WHERE upload=? ORDER BY start",
                (upload_id,),
            ).fetchall()
        return [Part(int(r[0]), int(r[1]), str(r[2]), r[3]) for r in rows]

    def read(self, upload_id: str, upto: int) -> Iterator[bytes]:
        """The upload's first ``upto`` bytes, in pieces, from its parts."""
        left = upto
        for part in self.parts(upload_id):
            if left <= 0:
                return
            extra = {"VersionId": part.version} if part.version else {}
            body = self._s3(
                f"reading a part of upload {upload_id}", "get_object", Key=part.key, **extra
            )["Body"]
            try:
                while left > 0 and (chunk := body.read(min(READ_CHUNK, left))):
                    left -= len(chunk)
                    yield chunk
            finally:
                body.close()
        if left > 0:
            raise OSError(f"upload {upload_id}: {left} bytes of its parts are missing")

    def _delete(self, part: Part) -> None:
        extra = {"VersionId": part.version} if part.version else {}
        self._s3("deleting a part of an upload", "delete_object", Key=part.key, **extra)

    def drop_parts(self, upload_id: str) -> None:
        """Delete the upload's parts (by version: nothing of them stays in the bucket)."""
        for part in self.parts(upload_id):
            self._delete(part)
        with self._db() as con:
            con.execute("DELETE FROM upload_parts WHERE upload=?", (upload_id,))

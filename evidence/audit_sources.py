"""What an audit reads: a live store or an exported bundle, as one consistent snapshot.

A store may be written while it is audited. :meth:`AuditSource.snapshot` fixes what the audit
reads, in the reverse of the order a writer makes things durable (log lines, then the signed
checkpoint, then receipts and the receipts mark): first the receipts mark, then the list of
receipts, then the checkpoints and their ``.tsr`` tokens, and last the log's length. Each part
read later is then a superset of what the parts read earlier need, so a writer's work in
progress is never mistaken for something missing or forged.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from sqlalchemy.exc import SQLAlchemyError

from evidence.audit_report import Finding, Reason, finding
from evidence.core.keys import PublicKey
from evidence.storage import bundle as bundle_format
from evidence.storage import index_check
from evidence.storage.index_schema import Mismatch
from evidence.storage.log import torn_tail
from evidence.storage.store import Store

RECEIPTS_MARK = ".upto"
"""How far the store's receipts are complete (written by ``evidence.receipting``)."""


class AuditSource(Protocol):
    """What an audit reads: a store or an exported bundle."""

    rehash: bool
    tolerance_seconds: float

    @property
    def origin(self) -> str | None:
        """The log's origin line (None: the source does not say; checkpoints not matched)."""
        ...

    @property
    def public_dir(self) -> Path:
        """The folder of public keys and certificates the source holds."""
        ...

    def snapshot(self) -> None:
        """Fix what the audit reads (see the module's docstring)."""

    def problems(self) -> list[Finding]:
        """Parts that are missing or unreadable."""
        ...

    def trusted_keys(self) -> list[PublicKey]:
        """The log keys the source itself publishes."""
        ...

    def receipts_mark(self) -> int | None:
        """Entries below which every receipt was issued (None: the source does not say)."""
        ...

    def lines(self) -> Iterator[bytes]:
        """The log's complete lines in the snapshot."""
        ...

    def torn_tail_bytes(self) -> int:
        """Bytes of an interrupted append after the snapshot's last line."""
        ...

    def checkpoints(self) -> list[tuple[str, str]]:
        """(file name, text) of the snapshot's checkpoints."""
        ...

    def checkpoints_now(self) -> list[tuple[str, str]]:
        """(file name, text) of the checkpoints there now (a second look)."""
        ...

    def checkpoint_tokens(self) -> Iterator[tuple[str, bytes]]:
        """(file name, bytes) of the ``N.tsr`` tokens beside the checkpoints."""
        ...

    def receipts(self) -> Iterator[tuple[str, bytes]]:
        """(file name, bytes) of the snapshot's receipts."""
        ...

    def object_check(self, sha256: str, size: int | None) -> tuple[Reason, str] | None: ...

    def read_object(self, sha256: str) -> bytes | None: ...

    def index_findings(self) -> list[Finding]:
        """Where the source's index disagrees with its log (``INDEX_MISMATCH``)."""
        ...


def _read_texts(paths: list[Path]) -> list[tuple[str, str]]:
    out = []
    for p in paths:
        try:
            out.append((p.name, p.read_text(errors="replace")))
        except OSError:
            continue  # gone between the listing and the read: reported as missing
    return out


def _each_bytes(paths: list[Path]) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of each file, read one at a time; one gone since it was listed is
    skipped (and so reported as missing)."""
    for p in paths:
        try:
            data = p.read_bytes()
        except OSError:
            continue
        yield p.name, data


def _complete_length(path: Path) -> int:
    """The log's length now, and so the end of the snapshot's lines."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _lines_upto(path: Path, limit: int) -> Iterator[bytes]:
    """The complete lines within the first ``limit`` bytes of ``path``."""
    with open(path, "rb") as f:
        read = 0
        for line in f:
            read += len(line)
            if read > limit or not line.endswith(b"\n"):
                return
            yield line[:-1]


def _torn_within(path: Path, limit: int) -> int:
    """Bytes after the last newline of the first ``limit`` bytes, when the file has not grown
    since (a file that grew had an append in progress, not an interrupted one)."""
    if not path.is_file() or _complete_length(path) != limit:
        return 0
    return torn_tail(path)


class StoreSource:
    """Audit a live store (read-only; takes no lock; a writer may be at work)."""

    def __init__(self, store: Store, *, rehash: bool = True) -> None:
        self.store = store
        self.origin: str | None = store.config.origin
        self.rehash = rehash
        self.tolerance_seconds = float(
            store.config.raw.get("timestamp", {}).get("tolerance_seconds", 300)
        )
        self._mark: int | None = None
        self._receipts: list[Path] | None = None
        self._checkpoints: list[tuple[str, str]] | None = None
        self._tokens: list[Path] = []
        self._limit: int | None = None

    @property
    def public_dir(self) -> Path:
        return self.store.public_dir

    def snapshot(self) -> None:
        """Mark, receipts, checkpoints, then the log's length (see the module)."""
        try:
            self._mark = int((self.store.receipts_dir / RECEIPTS_MARK).read_text())
        except (OSError, ValueError):
            self._mark = None
        self._receipts = self.store.receipt_paths()
        self._checkpoints = _read_texts(self.store.checkpoint_paths())
        self._tokens = sorted(self.store.checkpoints_dir.glob("*.tsr"))
        self._limit = _complete_length(self.store.log_path)

    def problems(self) -> list[Finding]:
        """``LOG_MISSING`` when the store's log is gone (the other checks still run)."""
        log = self.store.log_path
        if log.is_file():
            return []
        gone = "log/" if not log.parent.is_dir() else "log/custody.jsonl"
        return [
            finding(
                "log",
                gone,
                Reason.LOG_MISSING,
                f"the store has no {gone}: the custody log is gone; restore it from a backup "
                "or an audit bundle",
            )
        ]

    def index_findings(self) -> list[Finding]:
        """The whole index compared with the whole log, row by row (dossiers, ``show`` and
        ``case show`` read through it). No index yet is no finding: it is rebuilt from the
        log."""
        if self.store.index_url.startswith("sqlite:") and not self.store.index_path.exists():
            return []
        if not self.store.log_path.is_file():
            return []  # LOG_MISSING says it
        try:
            found = self.store.index.mismatches()
        except OSError:
            return []  # the log went away while being read: the log checks report it
        except SQLAlchemyError as exc:  # not a database at all
            found = [Mismatch("entries", None, index_check.unreadable(exc))]
        return [
            finding(
                "log",
                f"index {m.table}" + (f", entry {m.seq}" if m.seq is not None else ""),
                Reason.INDEX_MISMATCH,
                f"{m.detail}; the index is not the log (run `dalel reindex` after the audit)",
            )
            for m in found
        ]

    def read_object(self, sha256: str) -> bytes | None:
        objects = self.store.objects
        return objects.read(sha256) if objects.exists(sha256) else None

    def trusted_keys(self) -> list[PublicKey]:
        try:
            return [self.store.public_key()]
        except (OSError, UnicodeDecodeError, ValueError):
            return []

    def receipts_mark(self) -> int | None:
        return self._mark

    def lines(self) -> Iterator[bytes]:
        if not self.store.log_path.is_file():
            return iter(())  # reported by problems()
        if self._limit is None:
            self.snapshot()
        return _lines_upto(self.store.log_path, self._limit or 0)

    def torn_tail_bytes(self) -> int:
        return _torn_within(self.store.log_path, self._limit or 0)

    def checkpoints(self) -> list[tuple[str, str]]:
        if self._checkpoints is None:
            self.snapshot()
        return list(self._checkpoints or [])

    def checkpoints_now(self) -> list[tuple[str, str]]:
        return _read_texts(self.store.checkpoint_paths())

    def checkpoint_tokens(self) -> Iterator[tuple[str, bytes]]:
        return _each_bytes(self._tokens)

    def receipts(self) -> Iterator[tuple[str, bytes]]:
        if self._receipts is None:
            self.snapshot()
        yield from _each_bytes(list(self._receipts or []))

    def object_check(self, sha256: str, size: int | None) -> tuple[Reason, str] | None:
        stored = self.store.objects.size(sha256)
        if stored is None:
            return Reason.OBJECT_MISSING, "the log names this object but the store lacks it"
        if size is not None and stored != size:
            return Reason.SIZE_MISMATCH, f"{stored} bytes, the log says {size}"
        if self.rehash:
            actual = self.store.objects.hash_of(sha256)
            if actual != sha256:
                return Reason.HASH_MISMATCH, f"the stored bytes hash to {actual}"
        return None


class BundleSource:
    """Audit an exported bundle: log, checkpoints, receipts, public key, object hashes.

    A part that is missing or cannot be read (``bundle.json``, ``log/``, ``objects.txt``,
    ``public/log.pub``) is a ``BUNDLE_INCOMPLETE`` finding; the checks that do not need it
    still run."""

    def __init__(self, root: Path, *, key_pinned: bool = False) -> None:
        self.root = root
        self._problems: list[Finding] = []
        manifest, manifest_problem = bundle_format.read_manifest(root)
        if manifest_problem:
            self._incomplete("log", bundle_format.MANIFEST, manifest_problem)
        origin = manifest.get("origin")
        self.origin: str | None = origin if isinstance(origin, str) else None
        if manifest and self.origin is None:
            self._incomplete("log", "bundle.json", "names no origin (a string)")
        self.listed, listing_problems = bundle_format.read_listing(root)
        for problem in listing_problems:
            self._incomplete("object", bundle_format.LISTING, problem)
        self.rehash = (root / "objects").is_dir()
        try:
            self.tolerance_seconds = float(manifest.get("tolerance_seconds", 300))
        except (TypeError, ValueError, OverflowError):
            self._incomplete("timestamp", "bundle.json", "tolerance_seconds is not a number")
            self.tolerance_seconds = 300.0
        if not self._log_path.is_file():
            gone = "log/" if not self._log_path.parent.is_dir() else "log/custody.jsonl"
            self._incomplete("log", gone, "is missing: the bundle holds no custody log")
        self._keys = self._read_keys(report=not key_pinned)

    def _incomplete(self, family: str, part: str, detail: str) -> None:
        self._problems.append(finding(family, part, Reason.BUNDLE_INCOMPLETE, f"{part} {detail}"))

    def _read_keys(self, *, report: bool) -> list[PublicKey]:
        path = self.root / "public" / "log.pub"
        try:
            return [PublicKey.from_verifier(path.read_text())]
        except FileNotFoundError:
            if report:
                self._incomplete("log", "public/log.pub", "is missing: no key to check entries by")
        except (OSError, UnicodeDecodeError, ValueError) as e:
            if report:
                self._incomplete("log", "public/log.pub", f"holds no log key: {e}")
        return []

    @property
    def _log_path(self) -> Path:
        return self.root / "log" / "custody.jsonl"

    def snapshot(self) -> None:
        """A bundle is not written while it is audited: nothing to fix."""

    def problems(self) -> list[Finding]:
        """Every part of the bundle that is missing or cannot be read."""
        return list(self._problems)

    @property
    def public_dir(self) -> Path:
        return self.root / "public"

    def index_findings(self) -> list[Finding]:
        """A bundle carries no index: nothing to compare."""
        return []

    def read_object(self, sha256: str) -> bytes | None:
        for d in ("objects", "tokens"):
            path = self.root / d / sha256
            if path.is_file():
                return path.read_bytes()
        return None

    def trusted_keys(self) -> list[PublicKey]:
        return list(self._keys)

    def receipts_mark(self) -> int | None:
        return None

    def lines(self) -> Iterator[bytes]:
        if not self._log_path.is_file():
            return iter(())  # reported by problems()
        return _lines_upto(self._log_path, _complete_length(self._log_path))

    def torn_tail_bytes(self) -> int:
        return torn_tail(self._log_path) if self._log_path.is_file() else 0

    def checkpoints(self) -> list[tuple[str, str]]:
        return _read_texts(sorted((self.root / "log" / "checkpoints").glob("*.note")))

    def checkpoints_now(self) -> list[tuple[str, str]]:
        return self.checkpoints()

    def checkpoint_tokens(self) -> Iterator[tuple[str, bytes]]:
        return _each_bytes(sorted((self.root / "log" / "checkpoints").glob("*.tsr")))

    def receipts(self) -> Iterator[tuple[str, bytes]]:
        yield from _each_bytes(sorted((self.root / "receipts").glob("*.json")))

    def object_check(self, sha256: str, size: int | None) -> tuple[Reason, str] | None:
        from evidence.storage.objects import sha256_stream

        if sha256 not in self.listed:
            return Reason.OBJECT_MISSING, "the log names this object; the bundle does not list it"
        if size is not None and self.listed[sha256] != size:
            return Reason.SIZE_MISMATCH, f"listed with {self.listed[sha256]} bytes, log says {size}"
        if self.rehash:
            path = self.root / "objects" / sha256
            if not path.is_file():
                return Reason.OBJECT_MISSING, "listed, but not in the bundle's objects/"
            with open(path, "rb") as f:
                actual = sha256_stream(f)[0]
            if actual != sha256:
                return Reason.HASH_MISMATCH, f"the bundled bytes hash to {actual}"
        return None

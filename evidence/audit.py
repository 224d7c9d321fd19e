"""Audit: check everything, report every problem, never stop at the first.

The same checks run over a store or over an exported audit bundle (no store, no private
key). The result is an :class:`AuditReport` (see :mod:`evidence.audit_report`): per kind of
check a PASSED line when nothing in it failed, then every problem and note about an item,
each with a named :class:`Reason`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from evidence.audit_report import (  # noqa: F401 - FAMILIES re-exported
    FAMILIES,
    AuditReport,
    Finding,
    Reason,
    by_family,
    finding,
)
from evidence.core import checkpoint as cp
from evidence.core import custody, events, merkle, receipts
from evidence.core.checks import Status, reason_value
from evidence.core.keys import PublicKey
from evidence.storage import bundle as bundle_format
from evidence.storage.log import read_log_lines, torn_tail
from evidence.storage.store import Store


class AuditSource(Protocol):
    """What an audit reads: a store or an exported bundle."""

    @property
    def origin(self) -> str | None:
        """The log's origin line (None: the source does not say; checkpoints not matched)."""
        ...

    def problems(self) -> list[Finding]: ...

    def trusted_keys(self) -> list[PublicKey]: ...

    def lines(self) -> Iterator[bytes]: ...

    def torn_tail_bytes(self) -> int: ...

    def checkpoints(self) -> list[tuple[str, str]]: ...

    def receipts(self) -> Iterator[tuple[str, bytes]]: ...

    def object_check(self, sha256: str, size: int | None) -> tuple[Reason, str] | None: ...

    def read_object(self, sha256: str) -> bytes | None: ...

    @property
    def public_dir(self) -> Path: ...


def run(source: AuditSource, progress: Callable[[str, int], None] | None = None) -> AuditReport:
    """Audit ``source``: log, objects, checkpoints and receipts."""
    findings: list[Finding] = list(source.problems())  # a missing part; the rest goes on
    keys = {k.id_hex: k for k in source.trusted_keys()}
    tree = merkle.MerkleTree()
    prev = custody.GENESIS_PREV
    objects: dict[str, int | None] = {}
    bad_signatures: set[int] = set()
    stamped: list[tuple[int, str, dict[str, Any]]] = []
    ingested: set[str] = set()

    for position, line in enumerate(source.lines()):
        tree.append(line)
        where = f"entry {position}"
        try:
            rec = custody.parse_line(line)
        except RecursionError:
            findings.append(finding("log", where, Reason.LINE_MALFORMED, "nested too deep"))
            prev = custody.line_hash(line)
            bad_signatures.add(position)
            continue
        except ValueError as e:
            findings.append(finding("log", where, Reason.LINE_MALFORMED, str(e)))
            prev = custody.line_hash(line)
            bad_signatures.add(position)
            continue
        key = keys.get(rec.key_id)
        if key is None:
            bad_signatures.add(position)
            findings.append(
                finding(
                    "log",
                    where,
                    Reason.KEY_UNTRUSTED,
                    f"signed by key {rec.key_id}, which this log does not trust",
                )
            )
        elif not key.verify(rec.signature, rec.entry_bytes):
            bad_signatures.add(position)
            findings.append(
                finding(
                    "log",
                    where,
                    Reason.SIGNATURE_INVALID,
                    "the signature does not match the entry's bytes",
                )
            )
        if rec.seq != position:
            reason = Reason.ENTRY_MISSING if rec.seq > position else Reason.ENTRY_OUT_OF_ORDER
            findings.append(
                finding(
                    "log",
                    where,
                    reason,
                    f"entry says it is number {rec.seq} but stands at {position}",
                )
            )
        if rec.entry.get("prev") != prev:
            findings.append(
                finding(
                    "log", where, Reason.CHAIN_BROKEN, "does not name the previous entry's hash"
                )
            )
        prev = rec.hash
        if rec.entry.get("event") == events.TIMESTAMP:
            stamped.extend(
                (position, rec.entry.get("time", ""), t)
                for t in rec.entry.get("tokens", [])
                if isinstance(t, dict)
            )
        elif rec.entry.get("event") in events.RECEIPTED and receipts.item_of(rec.entry):
            ingested.add(receipts.item_of(rec.entry) or "")
        item = receipts.item_of(rec.entry)
        if item and rec.entry.get("event") in (*events.ITEM_EVENTS, events.TIMESTAMP):
            size = rec.entry["item"].get("size")
            objects.setdefault(item, size if isinstance(size, int) else None)
        for extra in _extra_objects(rec.entry):
            objects.setdefault(extra, None)
        if progress and position % 5000 == 0:
            progress("log", position)
    n = tree.size
    torn = source.torn_tail_bytes()
    if torn:
        findings.append(
            finding(
                "log",
                f"entry {n}",
                Reason.TORN_APPEND,
                f"{torn} bytes of an interrupted append after the last entry; "
                "never committed, moved to quarantine by the next write",
                status=Status.WARNING,
            )
        )

    # Objects
    for i, (sha, size) in enumerate(sorted(objects.items())):
        problem = source.object_check(sha, size)
        if problem:
            findings.append(finding("object", sha, problem[0], problem[1]))
        if progress and i % 500 == 0:
            progress("objects", i)

    # Checkpoints
    heads: list[cp.SignedCheckpoint] = []
    for name, text in source.checkpoints():
        try:
            head = cp.parse(text)
        except ValueError as e:
            findings.append(finding("checkpoint", name, Reason.CHECKPOINT_MALFORMED, str(e)))
            continue
        c = head.checkpoint
        if source.origin is not None and c.origin != source.origin:
            findings.append(
                finding(
                    "checkpoint",
                    name,
                    Reason.CHECKPOINT_ORIGIN_MISMATCH,
                    f"origin {c.origin!r} is not this log's",
                )
            )
        if not any(head.signed_by(k) for k in keys.values()):
            findings.append(
                finding(
                    "checkpoint",
                    name,
                    Reason.CHECKPOINT_SIGNATURE_INVALID,
                    "not signed by a trusted log key",
                )
            )
        if c.size > n:
            findings.append(
                finding(
                    "checkpoint",
                    name,
                    Reason.LOG_TRUNCATED,
                    f"checkpoint covers {c.size} entries, the log has {n}",
                )
            )
        elif c.root != tree.root(c.size):
            findings.append(
                finding(
                    "checkpoint",
                    name,
                    Reason.CHECKPOINT_ROOT_MISMATCH,
                    f"root of the first {c.size} entries differs from the signed one",
                )
            )
        heads.append(head)
    heads.sort(key=lambda h: h.checkpoint.size)
    for a, b in itertools.pairwise(heads):
        ca, cb = a.checkpoint, b.checkpoint
        if ca.size == 0 or cb.size > n:
            continue
        proof = tree.consistency_proof(ca.size, cb.size)
        if not merkle.verify_consistency(ca.size, cb.size, ca.root, cb.root, proof):
            findings.append(
                finding(
                    "checkpoint",
                    f"{ca.size}->{cb.size}",
                    Reason.CONSISTENCY_INVALID,
                    "the later checkpoint does not extend the earlier one",
                )
            )
    latest = heads[-1].checkpoint if heads else None
    if latest is None and n:
        findings.append(
            finding(
                "checkpoint",
                "-",
                Reason.UNCHECKPOINTED_ENTRIES,
                f"{n} entries and no checkpoint yet",
                status=Status.WARNING,
            )
        )
    elif latest is not None and latest.size < n:
        findings.append(
            finding(
                "checkpoint",
                f"{latest.size}",
                Reason.UNCHECKPOINTED_ENTRIES,
                f"{n - latest.size} entries after the latest checkpoint; the next write signs them",
                status=Status.WARNING,
            )
        )

    findings.extend(_check_tokens(source, stamped, ingested, heads, n))

    # Receipts
    n_receipts = 0
    consistent: dict[tuple[int, bytes], bool] = {}
    trusted = next(iter(keys.values()), None)
    for name, data in source.receipts():
        n_receipts += 1
        try:
            receipt = receipts.load(data)
        except receipts.ReceiptUnreadable as e:
            findings.append(finding("receipt", name, Reason.RECEIPT_INVALID, e.message))
            continue
        idx = receipt.get("leaf_index") if isinstance(receipt, dict) else None
        line_text = receipt.get("entry_line") if isinstance(receipt, dict) else None
        line = line_text.encode() if isinstance(line_text, str) else b""
        in_log = isinstance(idx, int) and 0 <= idx < n and tree.leaf(idx) == merkle.leaf_hash(line)
        known = line if in_log and idx not in bad_signatures else None
        rep = receipts.verify(receipt, trusted, verified_line=known)
        for f in rep.failures:
            inner = reason_value(f.reason) or f.id
            findings.append(
                finding(
                    "receipt",
                    name,
                    Reason.RECEIPT_INVALID,
                    f"{inner}: {f.detail}",
                    sub_reasons=(inner,),
                )
            )
        if rep.leaf_index is None:
            continue
        if not in_log:
            findings.append(
                finding(
                    "receipt",
                    name,
                    Reason.RECEIPT_NOT_IN_LOG,
                    f"the log has no such entry at {rep.leaf_index}",
                )
            )
            continue
        try:
            rhead = cp.parse(receipt["checkpoint"]).checkpoint
        except (KeyError, ValueError):
            continue
        if latest is not None and 0 < rhead.size <= latest.size <= n:
            key_ = (rhead.size, rhead.root)
            if key_ not in consistent:  # the receipts of one batch share a checkpoint
                proof = tree.consistency_proof(rhead.size, latest.size)
                consistent[key_] = merkle.verify_consistency(
                    rhead.size, latest.size, rhead.root, latest.root, proof
                )
            if not consistent[key_]:
                findings.append(
                    finding(
                        "receipt",
                        name,
                        Reason.CONSISTENCY_INVALID,
                        "the store's latest checkpoint does not extend the receipt's",
                    )
                )
    rehashed = bool(getattr(source, "rehash", True))
    words = {
        "log": f"{n} entries, each signed by a trusted key, numbered in order and naming "
        "the previous one",
        "object": f"{len(objects)} objects present"
        + (" and re-hashed" if rehashed else " with their sizes (not re-hashed)"),
        "checkpoint": f"{len(heads)} checkpoints signed, matching the log and consistent",
        "timestamp": f"{len(stamped)} tokens verify; every item and earlier checkpoint has one",
        "receipt": f"{n_receipts} receipts verify and are in the log",
    }
    lines = {family: Finding(family, Status.PASSED, None, w) for family, w in words.items()}
    if not _tokens_checkable(source):
        lines["timestamp"] = Finding(
            "timestamp",
            Status.SKIPPED,
            None,
            "no TSA root in public/ (a store made before timestamps)",
        )
    return AuditReport(
        checks=by_family(findings, lines),
        entries=n,
        objects_checked=len(objects),
        objects_rehashed=rehashed,
        checkpoints=len(heads),
        receipts=n_receipts,
        latest_checkpoint_size=latest.size if latest else None,
        tokens=len(stamped),
    )


def _tokens_checkable(source: AuditSource) -> bool:
    """Whether the source has a TSA root to check tokens against."""
    return (source.public_dir / "tsa-root.pem").is_file()


def _check_tokens(
    source: AuditSource,
    stamped: list[tuple[int, str, dict[str, Any]]],
    ingested: set[str],
    heads: list[cp.SignedCheckpoint],
    n: int,
) -> list[Finding]:
    """Every recorded token verifies; every item and checkpoint has one."""
    from evidence.timestamping import stamping

    out: list[Finding] = []
    public = source.public_dir
    if not _tokens_checkable(source):
        return out  # a store made before timestamps: nothing to check against
    tol = stamping_tolerance(source)
    covered: set[str] = set()
    for position, time_text, t in stamped:
        subject, token_sha = str(t.get("subject", "")), str(t.get("token_sha256", ""))
        data = source.read_object(token_sha)
        if data is None:
            continue  # reported as OBJECT_MISSING / HASH_MISMATCH
        try:
            recorded = datetime.fromisoformat(time_text.replace("Z", "+00:00"))
        except ValueError:
            recorded = None
        report = stamping.verify(
            data,
            subject=subject,
            source=str(t.get("source", "")),
            public_dir=public,
            recorded_at=recorded,
            tol=tol,
        )
        if report.ok:
            covered.add(subject)
        else:
            names = report.reason_names()
            out.append(
                finding(
                    "timestamp",
                    subject,
                    Reason.TIMESTAMP_INVALID,
                    f"token recorded in entry {position} from {t.get('source')}: "
                    + ", ".join(names),
                    sub_reasons=names,
                )
            )
    for sha in sorted(ingested - covered):
        out.append(
            finding(
                "timestamp",
                sha,
                Reason.TIMESTAMP_MISSING,
                "no valid RFC 3161 token covers this item",
            )
        )
    for i, head in enumerate(heads):
        if head.checkpoint.size > n:
            continue
        if stamping.checkpoint_digest(head.text) not in covered:
            last = i == len(heads) - 1
            out.append(
                finding(
                    "timestamp",
                    f"checkpoint {head.checkpoint.size}",
                    Reason.TIMESTAMP_MISSING,
                    "no valid token covers this checkpoint"
                    + ("; the next write stamps it" if last else ""),
                    status=Status.WARNING if last else Status.FAILED,
                )
            )
    return out


def stamping_tolerance(source: AuditSource) -> timedelta:
    return timedelta(seconds=float(getattr(source, "tolerance_seconds", 300)))


def _extra_objects(entry: dict[str, Any]) -> list[str]:
    """Other objects an entry names as stored (e.g. a timestamp token, a crop)."""
    out = []
    for k in ("token_sha256",):
        v = entry.get(k)
        if isinstance(v, str):
            out.append(v)
    for o in entry.get("objects", []) or []:
        if isinstance(o, dict) and isinstance(o.get("sha256"), str):
            out.append(o["sha256"])
    return out


# --- sources -------------------------------------------------------------------------------
class StoreSource:
    """Audit a live store (read-only; takes no lock)."""

    def __init__(self, store: Store, *, rehash: bool = True) -> None:
        self.store = store
        self.origin = store.config.origin
        self.rehash = rehash
        self.tolerance_seconds = float(
            store.config.raw.get("timestamp", {}).get("tolerance_seconds", 300)
        )

    @property
    def public_dir(self) -> Path:
        return self.store.public_dir

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

    def read_object(self, sha256: str) -> bytes | None:
        objects = self.store.objects
        return objects.read(sha256) if objects.exists(sha256) else None

    def trusted_keys(self) -> list[PublicKey]:
        return [self.store.public_key()]

    def lines(self) -> Iterator[bytes]:
        if not self.store.log_path.is_file():
            return iter(())  # reported by problems()
        return self.store.log_lines()

    def torn_tail_bytes(self) -> int:
        return torn_tail(self.store.log_path) if self.store.log_path.is_file() else 0

    def checkpoints(self) -> list[tuple[str, str]]:
        return [(p.name, p.read_text(errors="replace")) for p in self.store.checkpoint_paths()]

    def receipts(self) -> Iterator[tuple[str, bytes]]:
        for p in self.store.receipt_paths():
            yield p.name, p.read_bytes()

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

    def __init__(self, root: Path) -> None:
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
        self._keys = self._read_keys()

    def _incomplete(self, family: str, part: str, detail: str) -> None:
        self._problems.append(finding(family, part, Reason.BUNDLE_INCOMPLETE, f"{part} {detail}"))

    def _read_keys(self) -> list[PublicKey]:
        path = self.root / "public" / "log.pub"
        try:
            return [PublicKey.from_verifier(path.read_text())]
        except FileNotFoundError:
            self._incomplete("log", "public/log.pub", "is missing: no key to check entries by")
        except (OSError, UnicodeDecodeError, ValueError) as e:
            self._incomplete("log", "public/log.pub", f"holds no log key: {e}")
        return []

    @property
    def _log_path(self) -> Path:
        return self.root / "log" / "custody.jsonl"

    def problems(self) -> list[Finding]:
        """Every part of the bundle that is missing or cannot be read."""
        return list(self._problems)

    @property
    def public_dir(self) -> Path:
        return self.root / "public"

    def read_object(self, sha256: str) -> bytes | None:
        for d in ("objects", "tokens"):
            path = self.root / d / sha256
            if path.is_file():
                return path.read_bytes()
        return None

    def trusted_keys(self) -> list[PublicKey]:
        return list(self._keys)

    def lines(self) -> Iterator[bytes]:
        if not self._log_path.is_file():
            return iter(())  # reported by problems()
        return read_log_lines(self._log_path)

    def torn_tail_bytes(self) -> int:
        return torn_tail(self._log_path) if self._log_path.is_file() else 0

    def checkpoints(self) -> list[tuple[str, str]]:
        return [
            (p.name, p.read_text(errors="replace"))
            for p in sorted((self.root / "log" / "checkpoints").glob("*.note"))
        ]

    def receipts(self) -> Iterator[tuple[str, bytes]]:
        for p in sorted((self.root / "receipts").glob("*.json")):
            yield p.name, p.read_bytes()

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

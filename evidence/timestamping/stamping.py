"""The store's timestamping: which TSAs it asks, how tokens are kept and recorded.

Sources, in the order tried: the external TSAs of ``config.toml`` (``[[timestamp.external]]``
with ``name``, ``url``, ``roots`` (a PEM file under ``public/tsa-roots/``) and ``timeout``),
then the store's own local TSA (``public/tsa-root.pem``, ``public/tsa.pem``).

Every token is stored as an object; one ``timestamp`` custody entry per batch says which
token covers which hash, from which TSA, at what time, and which sources were refused and
why. Checkpoints are stamped over their signed note (sign first, then timestamp), and the
token is also written beside the note as ``N.tsr`` (a TimeStampResp for ``openssl ts``).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from base.errors import StoreBusy, UsageError, cannot_write
from base.fsio import atomic_write
from evidence.core import events, receipts, tokens
from evidence.timestamping.roots import (  # noqa: F401 - re-exported
    LOCAL,
    ROOTS_DIR,
    local_certificates,
    local_roots,
    roots_for,
)
from evidence.timestamping.timestamps import (
    Attempt,
    ExternalTSA,
    LocalSource,
    TimestampResult,
    TimestampSource,
    load_certificates,
    obtain_timestamps,
    try_timestamps,
)
from evidence.timestamping.tsa import LocalTSA, create_local_tsa

if TYPE_CHECKING:
    from evidence.storage.store import Store
    from evidence.storage.writer import Commit, Writer

#: How long recording a checkpoint's external token waits for the lock another writer took
#: meanwhile before leaving it (the checkpoint keeps its local token; `timestamp --upgrade`).
AFTER_RELEASE_WAIT = 10.0
TSA_STATE_DIR = "tsa"


def create(store_root: Path, org: str) -> None:
    """Create the store's local TSA (called by ``evidence.provision.init_store``)."""
    create_local_tsa(store_root / "keys", store_root / "public", store_root / TSA_STATE_DIR, org)


def has_tsa(store: Store) -> bool:
    """Whether the store has its own TSA (every store made by ``init`` has one)."""
    return (store.public_dir / "tsa-root.pem").exists()


def tolerance(store: Store) -> dt.timedelta:
    """How far a token's time may lie after the entry recording it."""
    seconds = store.config.raw.get("timestamp", {}).get("tolerance_seconds", 300)
    return dt.timedelta(seconds=float(seconds))


def external_config(store: Store) -> list[dict[str, Any]]:
    return store.config.external_tsas()


def external_sources(store: Store) -> list[TimestampSource]:
    out: list[TimestampSource] = []
    for ext in external_config(store):
        roots = roots_for(store.public_dir, ext["name"])
        out.append(
            ExternalTSA(ext["name"], ext["url"], roots, timeout=float(ext.get("timeout", 10.0)))
        )
    return out


@functools.lru_cache(maxsize=8)
def _local(root: Path) -> LocalTSA:
    return LocalTSA.load(root / "keys", root / "public", root / TSA_STATE_DIR)


def sources(store: Store) -> list[TimestampSource]:
    """External TSAs first, the local TSA last."""
    return [*external_sources(store), LocalSource(_local(store.root))]


def add_external(store: Store, name: str, url: str, roots_pem: bytes, timeout: float) -> None:
    """Configure an external TSA and keep its trusted roots in ``public/tsa-roots/``."""
    if not name.replace("-", "").isalnum() or name == LOCAL:
        raise UsageError(f"TSA name {name!r} must be letters, digits and dashes, not 'local'")
    if not url.startswith(("http://", "https://")):
        raise UsageError("the TSA URL must start with http:// or https://")
    try:
        certs = load_certificates(roots_pem)
    except ValueError as e:
        raise UsageError(f"the roots file holds no PEM certificate: {e}") from None
    if not certs:
        raise UsageError("the roots file holds no PEM certificate")
    (store.public_dir / ROOTS_DIR).mkdir(exist_ok=True)
    (store.public_dir / ROOTS_DIR / f"{name}.pem").write_bytes(roots_pem)
    raw = dict(store.config.raw)
    ts = dict(raw.get("timestamp", {}))
    ext = [e for e in ts.get("external", []) if e.get("name") != name]
    ext.append({"name": name, "url": url, "timeout": timeout})
    ts["external"] = ext
    raw["timestamp"] = ts
    store.write_config(raw)


def record(
    writer: Writer, subjects: Sequence[tuple[str, str]], results: Sequence[TimestampResult]
) -> dict[str, Any]:
    """Store each token as an object and append one ``timestamp`` entry for all of them.

    ``subjects`` are (sha256 hex, target) with target ``item`` or ``checkpoint``.
    """
    listed, objects = [], []
    for (subject, target), res in zip(subjects, results, strict=True):
        stored = writer.store.objects.put_bytes(res.token)
        listed.append(
            {
                "subject": subject,
                "target": target,
                "token_sha256": stored.sha256,
                "source": res.source if res.kind == "external" else LOCAL,
                "kind": res.kind,
                "gen_time": res.info.gen_time.isoformat(),
                "serial": str(res.info.serial),
                "refused": [
                    {"source": a.source, "reasons": [str(r) for r in a.reasons]}
                    for a in res.refused
                ],
            }
        )
        objects.append({"sha256": stored.sha256, "role": "timestamp-token", "parent": subject})
    entry = {"event": events.TIMESTAMP, "tokens": listed, "objects": objects}
    writer.append(entry)
    return entry


@dataclass(frozen=True)
class Prestamped:
    """Tokens the external TSAs gave for some hashes, asked before the write lock was taken
    (a TSA's network wait never holds the store), and the refusals met for the others."""

    results: dict[str, TimestampResult]
    """By hex SHA-256: the token that verified."""
    refused: dict[str, tuple[Attempt, ...]]
    """By hex SHA-256: the external sources that gave no token that verifies, and why."""


def prestamp(store: Store, subjects: Sequence[str]) -> Prestamped | None:
    """Ask the external TSAs for tokens over ``subjects`` (hex SHA-256), holding no lock;
    None when no external TSA is configured (nothing to wait for: the local TSA signs
    in-process under the lock)."""
    srcs = external_sources(store)
    unique = list(dict.fromkeys(subjects))
    if not srcs or not unique:
        return None
    results, refused = try_timestamps(
        [bytes.fromhex(s) for s in unique], srcs, tolerance=tolerance(store)
    )
    return Prestamped(
        {s: r for s, r in zip(unique, results, strict=True) if r is not None},
        {s: a for s, a in zip(unique, refused, strict=True) if a},
    )


def stamp(
    writer: Writer,
    subjects: Sequence[tuple[str, str]],
    *,
    external_only: bool = False,
    prestamped: Prestamped | None = None,
) -> dict[str, Any] | None:
    """Record tokens for ``subjects`` (hex SHA-256, target); None if there are none.

    With ``prestamped`` (the external TSAs were asked before the lock), its tokens are used
    and the local TSA signs for the rest, with the external refusals recorded: no network
    wait under the lock. Without, every source is asked in order (external ones first)."""
    if not subjects:
        return None
    if prestamped is not None:
        got = {s: prestamped.results[s] for s, _ in subjects if s in prestamped.results}
        rest = [(s, t) for s, t in subjects if s not in got]
        if rest and not external_only and has_tsa(writer.store):
            local = obtain_timestamps(
                [bytes.fromhex(s) for s, _ in rest],
                [LocalSource(_local(writer.store.root))],
                tolerance=tolerance(writer.store),
                verify_local="first",
                refused_before=[prestamped.refused.get(s, ()) for s, _ in rest],
            )
            got.update({s: r for (s, _), r in zip(rest, local, strict=True)})
        todo = [(s, t) for s, t in subjects if s in got]
        return record(writer, todo, [got[s] for s, _ in todo]) if todo else None
    srcs = external_sources(writer.store) if external_only else sources(writer.store)
    if not srcs:
        return None
    digests = [bytes.fromhex(s) for s, _ in subjects]
    results = obtain_timestamps(
        digests, srcs, tolerance=tolerance(writer.store), verify_local="first"
    )
    return record(writer, subjects, results)


def checkpoint_digest(note_text: str) -> str:
    """What a checkpoint's token covers: the SHA-256 of its signed note."""
    return hashlib.sha256(note_text.encode()).hexdigest()


def verify(
    token_der: bytes,
    *,
    subject: str,
    source: str,
    public_dir: Path,
    recorded_at: dt.datetime | None,
    tol: dt.timedelta,
) -> tokens.TokenReport:
    """Verify a stored token against the roots this store trusts for its source."""
    roots = roots_for(public_dir, source)
    certs = local_certificates(public_dir) if source == LOCAL else ()
    return tokens.verify_token(
        token_der,
        expected_digest=bytes.fromhex(subject),
        trusted_roots=roots,
        recorded_at=recorded_at,
        tolerance=tol,
        certificates=certs,
    )


def needs_external(index: Any) -> list[tuple[str, str]]:
    """(subject, target) of every item and checkpoint that has only local tokens."""
    by_subject: dict[str, list[dict[str, Any]]] = {}
    for t in index.all_tokens():
        by_subject.setdefault(t["subject"], []).append(t)
    return [
        (subject, ts[0]["target"])
        for subject, ts in by_subject.items()
        if not any(t["kind"] == "external" for t in ts)
    ]


def status(index: Any) -> dict[str, int]:
    """How many items and checkpoints have which tokens."""
    by_subject: dict[str, set[str]] = {}
    targets: dict[str, str] = {}
    for t in index.all_tokens():
        by_subject.setdefault(t["subject"], set()).add(t["kind"])
        targets[t["subject"]] = t["target"]
    items = [r["sha256"] for r in index.items_where()]
    item_kinds = [by_subject.get(sha, set()) for sha in items]
    cps = [k for s, k in by_subject.items() if targets[s] == "checkpoint"]
    return {
        "items": len(items),
        "items_external": sum(1 for k in item_kinds if "external" in k),
        "items_local_only": sum(1 for k in item_kinds if k == {"local"}),
        "items_without": sum(1 for k in item_kinds if not k),
        "checkpoints": len(cps),
        "checkpoints_external": sum(1 for k in cps if "external" in k),
        "checkpoints_local_only": sum(1 for k in cps if k == {"local"}),
    }


def owed_items(writer: Writer) -> list[str]:
    """The items (hex SHA-256) that entries after the latest checkpoint log without any
    token covering them, in log order: what a writer killed in the middle of writing a
    batch's lines left (its items' entries reached the log, the timestamp entry after them
    did not). Usually none, read from memory; the index is asked only about the others."""
    covered = writer.head.checkpoint.size if writer.head else 0
    items: list[str] = []
    stamped: set[str] = set()
    for _, _, entry in writer.entries(covered, writer.tree.size):
        event = entry.get("event")
        if event == events.TIMESTAMP:
            stamped.update(str(t.get("subject")) for t in entry.get("tokens", []))
        elif event in events.RECEIPTED and (item := receipts.item_of(entry)) is not None:
            items.append(item)
    owed = [s for s in dict.fromkeys(items) if s not in stamped]
    if owed:  # (an item logged again may have had its token for long)
        known = writer.index.first_tokens(owed)
        owed = [s for s in owed if s not in known]
    return owed


class CheckpointStampHook:
    """A commit hook: every signed checkpoint gets a token over its signed note.

    Sign first, then timestamp. Every checkpoint still owed one (this commit's, or one signed
    just before a crash) is stamped in one batch by the local TSA (in-process: no network
    wait under the write lock); the entry is made durable now and signed into the next
    checkpoint. ``N.tsr`` beside the note marks a checkpoint as stamped. When external TSAs
    are configured, once the writer has let the lock go, they are asked for the checkpoints
    it signed, and their tokens are recorded in a short second hold of the lock."""

    def __init__(self) -> None:
        self._owed: list[Path] = []
        self._external_owed: list[str] = []

    def on_open(self, writer: Writer) -> None:
        """Find what a crash left without a token (once, at open), and stamp it at once,
        before this writer's first commit signs a checkpoint after it (else it would be
        TIMESTAMP_MISSING): the checkpoints of a writer killed between its commit and its
        stamps, and the items whose entries a writer killed in the middle of writing a
        batch's lines left in the log without the timestamp entry written after them. When
        the disk refuses, they stay owed."""
        self._owed = [
            p for p in writer.store.checkpoint_paths() if not p.with_suffix(".tsr").exists()
        ]
        self._external_owed = []
        try:
            items = owed_items(writer)
            if items:
                external = bool(external_config(writer.store))
                entry = stamp(
                    writer,
                    [(s, "item") for s in items],
                    prestamped=Prestamped({}, {}) if external else None,
                )
                if entry is not None:  # (an external token later: timestamp --upgrade)
                    writer.flush(tuple(t["token_sha256"] for t in entry["tokens"]))
            if self._owed:
                self._stamp_owed(writer)
        except OSError as e:
            if cannot_write(e) is None:
                raise

    def on_commit(self, writer: Writer, commit: Commit) -> None:
        """Stamp the owed checkpoints, this commit's included. When the disk refuses (full),
        they stay owed: the next writer stamps them."""
        if commit.checkpoint is not None and commit.checkpoint not in self._owed:
            self._owed.append(commit.checkpoint)
        if not self._owed:
            return
        try:
            self._stamp_owed(writer)
        except OSError as e:
            if cannot_write(e) is None:
                raise

    def _stamp_owed(self, writer: Writer) -> None:
        texts = [p.read_text() for p in self._owed]
        subjects = [(checkpoint_digest(t), "checkpoint") for t in texts]
        external = bool(external_config(writer.store))
        # With external TSAs the network is asked after the lock is let go (after_release).
        entry = stamp(writer, subjects, prestamped=Prestamped({}, {}) if external else None)
        if entry is None:
            return
        writer.flush(tuple(t["token_sha256"] for t in entry["tokens"]))
        for path, t in zip(self._owed, entry["tokens"], strict=True):
            token = writer.store.objects.read(t["token_sha256"])
            atomic_write(path.with_suffix(".tsr"), tokens.response_from_token(token))
        if external:
            self._external_owed += [s for s, _ in subjects]
        self._owed = []

    def after_release(self, writer: Writer) -> None:
        """Ask the external TSAs for the checkpoints this writer signed, holding no lock, and
        record what they give under the lock again (briefly; nothing is signed). A TSA that
        gives nothing leaves the local token (``timestamp --upgrade`` asks again later)."""
        owed, self._external_owed = self._external_owed, []
        if not owed:
            return
        store = writer.store
        pre = prestamp(store, owed)
        if pre is None or not pre.results:
            return
        again = store.writer(wait=AFTER_RELEASE_WAIT)
        try:
            again.open()
        except StoreBusy:  # another writer holds the store: its checkpoint will be stamped
            return
        try:
            entry = stamp(
                again, [(s, "checkpoint") for s in owed], external_only=True, prestamped=pre
            )
            if entry is not None:
                again.flush(tuple(t["token_sha256"] for t in entry["tokens"]))
        finally:
            again.close()

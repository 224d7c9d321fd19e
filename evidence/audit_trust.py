"""What an audit trusts, and what it notices missing.

Someone who can write to a store can replace everything in it: its log, its checkpoints, its
receipts and the public key they are checked by. An audit is only as strong as what it is
anchored to outside the store:

- :class:`Trust`: the log key (``--key``) and TSA roots (``--tsa-root``) pinned from copies
  kept elsewhere; without them, the audit says it trusted what the store holds
  (``KEY_NOT_PINNED``, a note);
- checkpoints kept outside (``--since``: one an auditor, an observer or a witness kept): the
  log must extend each of them, or it was rolled back or rewritten (``CONSISTENCY_INVALID``);
- what disappears: a checkpoint the log stamped, a receipt cites or a ``.tsr`` covers
  (``CHECKPOINT_MISSING``), a receipt that was issued (``RECEIPT_MISSING``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cryptography import x509

from evidence.audit_report import Finding, Reason, finding
from evidence.core import checkpoint as cp
from evidence.core.checks import Status
from evidence.core.keys import PublicKey


@dataclass(frozen=True)
class Kept:
    """A checkpoint kept outside the store (``--since``): its name and its note's text."""

    name: str
    """What messages call it (its file's path)."""
    text: str
    """The signed note, as kept (witness cosignatures may follow the log's signature)."""


@dataclass(frozen=True)
class Trust:
    """What an audit trusts from outside the audited store or bundle."""

    log_keys: tuple[PublicKey, ...] | None = None
    """The pinned log keys; None: trust the source's ``public/log.pub`` (a note)."""
    tsa_roots: tuple[x509.Certificate, ...] | None = None
    """The pinned TSA roots; None: trust those the source publishes (a note)."""
    since: tuple[Kept, ...] = ()
    """Checkpoints kept outside that the log must extend."""


def keys_for(
    trust: Trust, published: list[PublicKey], key_file: str = "public/log.pub"
) -> tuple[list[PublicKey], list[Finding]]:
    """The keys the audit checks signatures by, and the notes and problems about them."""
    if trust.log_keys is not None:
        out: list[Finding] = []
        if published and not set(published) & set(trust.log_keys):
            out.append(
                finding(
                    "log",
                    key_file,
                    Reason.KEY_UNTRUSTED,
                    "the key the store publishes is not the pinned one: the log was signed "
                    "again, or the key replaced",
                )
            )
        return list(trust.log_keys), out + not_pinned(trust)
    notes = not_pinned(trust)
    if not published:
        notes.append(
            finding(
                "log",
                key_file,
                Reason.KEY_UNTRUSTED,
                "is missing or holds no log key: no entry can be checked; "
                "pin the key with --key log.pub",
            )
        )
    return published, notes


def not_pinned(trust: Trust) -> list[Finding]:
    """The note an audit carries when it trusted keys found in the audited files: the log
    key, the TSA roots, or both (one ``KEY_NOT_PINNED`` note; none when both are pinned)."""
    what = []
    if trust.log_keys is None:
        what.append("the log key (public/log.pub; pin a copy kept elsewhere with --key)")
    if trust.tsa_roots is None:
        what.append("the TSA roots (public/tsa-root.pem; pin them with --tsa-root)")
    if not what:
        return []
    return [
        finding(
            "log",
            "public/",
            Reason.KEY_NOT_PINNED,
            "trusted keys found in the audited files: "
            + " and ".join(what)
            + "; anyone who can write there can replace them together with the whole history",
            status=Status.WARNING,
        )
    ]


def check_since(
    trust: Trust,
    keys: list[PublicKey],
    origin: str | None,
    root_of: Callable[[int], bytes],
    n: int,
) -> tuple[list[Finding], list[int]]:
    """Each kept checkpoint is signed by a trusted key and the log extends it: its first
    ``size`` entries have its root. A rollback (the log is shorter) or a fork (another root)
    is ``CONSISTENCY_INVALID``. Returns the findings and the sizes checked."""
    out: list[Finding] = []
    sizes: list[int] = []
    for kept in trust.since:
        try:
            head = cp.parse(kept.text)
        except ValueError as e:
            out.append(
                finding("checkpoint", kept.name, Reason.CHECKPOINT_MALFORMED, f"--since: {e}")
            )
            continue
        c = head.checkpoint
        sizes.append(c.size)
        if origin is not None and c.origin != origin:
            out.append(
                finding(
                    "checkpoint",
                    kept.name,
                    Reason.CHECKPOINT_ORIGIN_MISMATCH,
                    f"the kept checkpoint is of log {c.origin!r}, not this one",
                )
            )
        if not any(head.signed_by(k) for k in keys):
            out.append(
                finding(
                    "checkpoint",
                    kept.name,
                    Reason.CHECKPOINT_SIGNATURE_INVALID,
                    "the kept checkpoint is not signed by the log key this audit trusts "
                    "(the key was replaced, or the checkpoint is of another log)",
                )
            )
        if c.size > n:
            out.append(
                finding(
                    "checkpoint",
                    kept.name,
                    Reason.CONSISTENCY_INVALID,
                    f"the kept checkpoint covers {c.size} entries, the log has only {n}: "
                    "the store was rolled back to an older copy, or entries were removed",
                )
            )
        elif root_of(c.size) != c.root:
            out.append(
                finding(
                    "checkpoint",
                    kept.name,
                    Reason.CONSISTENCY_INVALID,
                    f"the log's first {c.size} entries do not have the kept checkpoint's "
                    "root: the history was rewritten since it was signed",
                )
            )
    return out, sizes


def digest(text: str) -> str:
    """What a checkpoint's token covers: the SHA-256 of its note's text."""
    return hashlib.sha256(text.encode()).hexdigest()


def check_checkpoints_present(
    read: Iterable[tuple[str, str]],
    stamped: Iterable[tuple[int, str]],
    cited: Iterable[tuple[str, str]],
    look_again: Callable[[], Iterable[tuple[str, str]]],
) -> list[Finding]:
    """Every checkpoint the log stamped (``stamped``: entry, digest of the note), and every
    one a receipt cites (``cited``: receipt name, note text), is among the notes read.
    A stamped one that is not is looked for again (a writer may have signed it since the
    notes were read) before it is ``CHECKPOINT_MISSING``."""
    known = {digest(text) for _, text in read}
    out: list[Finding] = []
    unknown = [(pos, d) for pos, d in stamped if d not in known]
    if unknown:
        known |= {digest(text) for _, text in look_again()}
    for pos, d in unknown:
        if d not in known:
            out.append(
                finding(
                    "checkpoint",
                    f"stamped in entry {pos}",
                    Reason.CHECKPOINT_MISSING,
                    f"the log records a token over a checkpoint (note SHA-256 {d[:16]}…) the "
                    "store no longer holds",
                )
            )
    seen: set[str] = set()
    for name, text in cited:
        d = digest(text)
        if d in known or d in seen:
            continue
        seen.add(d)
        try:
            size: object = cp.parse(text).checkpoint.size
        except ValueError:
            continue  # the receipt itself is reported
        out.append(
            finding(
                "checkpoint",
                f"checkpoint {size}",
                Reason.CHECKPOINT_MISSING,
                f"receipt {name} cites a checkpoint of {size} entries the store no longer holds",
            )
        )
    return out


def check_receipts_present(
    receipted: list[int], present: set[int], mark: int | None, covered: int
) -> list[Finding]:
    """Every receipted entry the latest checkpoint covers (``covered`` entries) has its
    receipt. Below the mark (how far receipts were complete) or the last receipt present, a
    missing one was issued and removed: ``RECEIPT_MISSING``. Above them it is still owed
    (a writer at work, or one stopped by a crash; the next write issues it): a note."""
    issued = max([mark or 0, *(s + 1 for s in present)])
    out: list[Finding] = []
    for seq in receipted:
        if seq >= covered or seq in present:
            continue
        gone = seq < issued
        out.append(
            finding(
                "receipt",
                f"{seq:08d}.json",
                Reason.RECEIPT_MISSING,
                f"entry {seq} is receipted and its receipt "
                + (
                    "was issued but is no longer in the store"
                    if gone
                    else "is still owed (the next write issues it)"
                ),
                status=Status.FAILED if gone else Status.WARNING,
            )
        )
    return out

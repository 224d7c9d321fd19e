"""Audit: check everything, report every problem, never stop at the first.

The same checks run over a store or over an exported audit bundle (no store, no private
key), on one consistent snapshot of it (:mod:`evidence.audit_sources`), against what the
auditor pins from outside (:mod:`evidence.audit_trust`). The result is an
:class:`AuditReport` (see :mod:`evidence.audit_report`): per kind of check a PASSED line when
nothing in it failed, then every problem and note about an item, each with a named
:class:`Reason`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from evidence import audit_trust
from evidence.audit_report import (  # noqa: F401 - FAMILIES re-exported
    FAMILIES,
    AuditReport,
    Finding,
    Reason,
    by_family,
    finding,
)
from evidence.audit_sources import AuditSource, BundleSource, StoreSource  # noqa: F401
from evidence.audit_stamps import Stamp, TsaRoots, check_checkpoint_tokens, check_tokens
from evidence.audit_trust import Kept, Trust  # noqa: F401 - re-exported
from evidence.core import checkpoint as cp
from evidence.core import custody, events, merkle, receipts
from evidence.core.checks import Status, reason_value
from evidence.core.tokenverdicts import TokenVerdicts


def run(
    source: AuditSource,
    progress: Callable[[str, int], None] | None = None,
    *,
    trust: Trust | None = None,
    second_opinion: bool = False,
) -> AuditReport:
    """Audit ``source``: log, objects, checkpoints, timestamps and receipts, against what
    ``trust`` pins (nothing pinned: the keys and roots the source holds, with a note).

    Each time-stamp token is verified once, by this project's checks (one named reason per
    concern); the receipt that carries a copy of it and the ``N.tsr`` beside a checkpoint
    reuse that verdict when everything it depends on is the same (the token's bytes, the
    digest, the roots, the certificates added; see :mod:`evidence.core.tokenverdicts`), and
    check their own times against it. With
    ``second_opinion``, rfc3161-client's verifier checks each token as well (once), and a
    token it refuses is ``TIMESTAMP_INVALID`` with ``LIBRARY_REJECTED``.
    """
    trust = trust or Trust()
    verdicts = TokenVerdicts(second_opinion=second_opinion)
    source.snapshot()
    findings: list[Finding] = list(source.problems())  # a missing part; the rest goes on
    key_list, key_findings = audit_trust.keys_for(trust, source.trusted_keys())
    findings += key_findings
    keys = {k.id_hex: k for k in key_list}
    roots = TsaRoots(source.public_dir, trust.tsa_roots)
    roots.check_local()
    checkpoint_texts = source.checkpoints()  # the snapshot: read before the log
    tree = merkle.MerkleTree()
    prev = custody.GENESIS_PREV
    objects: dict[str, int | None] = {}
    bad_signatures: set[int] = set()
    stamped: list[Stamp] = []
    ingested: dict[str, int] = {}
    receipted: list[int] = []

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
        findings += _entry_findings(rec, position, prev, keys, bad_signatures)
        prev = rec.hash
        event = rec.entry.get("event")
        item = receipts.item_of(rec.entry)
        if event == events.TIMESTAMP:
            stamped.extend(
                Stamp(position, str(rec.entry.get("time", "")), t)
                for t in rec.entry.get("tokens", [])
                if isinstance(t, dict)
            )
        elif event in events.RECEIPTED and item:
            ingested.setdefault(item, position)
            receipted.append(position)
        if item and event in (*events.ITEM_EVENTS, events.TIMESTAMP):
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

    findings += source.index_findings()

    # Objects
    for i, (sha, size) in enumerate(sorted(objects.items())):
        problem = source.object_check(sha, size)
        if problem:
            findings.append(finding("object", sha, problem[0], problem[1]))
        if progress and i % 500 == 0:
            progress("objects", i)

    heads = _check_checkpoints(source, checkpoint_texts, keys, tree, findings)
    latest = heads[-1].checkpoint if heads else None
    snapshot_size = latest.size if latest else 0
    since_findings, since_sizes = audit_trust.check_since(
        trust, list(keys.values()), source.origin, tree.root, n
    )
    findings += since_findings

    tol = timedelta(seconds=float(getattr(source, "tolerance_seconds", 300)))
    findings += check_tokens(
        source.read_object, roots, stamped, ingested, heads, snapshot_size, tol, verdicts
    )
    sources: dict[str, set[str]] = {}
    for s in stamped:
        sources.setdefault(str(s.token.get("subject")), set()).add(str(s.token.get("source")))
    notes = dict(checkpoint_texts)
    findings += check_checkpoint_tokens(
        source.checkpoint_tokens(), notes, sources, roots, tol, verdicts
    )

    # Receipts
    receipt_findings, n_receipts, cited, present = _check_receipts(
        source, keys, roots, tree, bad_signatures, latest, verdicts
    )
    findings += receipt_findings
    stamped_checkpoints = [
        (s.position, str(s.token.get("subject")))
        for s in stamped
        if s.token.get("target") == "checkpoint"
    ]
    findings += audit_trust.check_checkpoints_present(
        checkpoint_texts, stamped_checkpoints, cited, source.checkpoints_now
    )
    findings += audit_trust.check_receipts_present(
        receipted, present, source.receipts_mark(), snapshot_size
    )
    findings += roots.findings  # the roots found missing by any check above

    rehashed = bool(getattr(source, "rehash", True))
    words = {
        "log": f"{n} entries, each signed by a trusted key, numbered in order and naming "
        "the previous one",
        "object": f"{len(objects)} objects present"
        + (" and re-hashed" if rehashed else " with their sizes (not re-hashed)"),
        "checkpoint": f"{len(heads)} checkpoints signed, matching the log and consistent"
        + (f"; the log extends the {len(since_sizes)} kept ones" if since_sizes else ""),
        "timestamp": f"{len(stamped)} tokens verify"
        + (", also by rfc3161-client's verifier" if second_opinion else "")
        + "; every item and earlier checkpoint has one",
        "receipt": f"{n_receipts} receipts verify and are in the log; none missing",
    }
    lines = {family: Finding(family, Status.PASSED, None, w) for family, w in words.items()}
    if roots.pinned is None and roots.roots("local") is None:
        lines["timestamp"] = Finding(
            "timestamp", Status.SKIPPED, None, "no TSA root to check the store's tokens against"
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
        key_pinned=trust.log_keys is not None,
        tsa_roots_pinned=trust.tsa_roots is not None,
        since=tuple(since_sizes),
    )


def _entry_findings(
    rec: custody.Record,
    position: int,
    prev: str,
    keys: dict[str, Any],
    bad_signatures: set[int],
) -> list[Finding]:
    """Signature, number and chain of one parsed entry."""
    out: list[Finding] = []
    where = f"entry {position}"
    key = keys.get(rec.key_id)
    if key is None:
        bad_signatures.add(position)
        out.append(
            finding(
                "log",
                where,
                Reason.KEY_UNTRUSTED,
                f"signed by key {rec.key_id}, which this audit does not trust",
            )
        )
    elif not key.verify(rec.signature, rec.entry_bytes):
        bad_signatures.add(position)
        out.append(
            finding(
                "log",
                where,
                Reason.SIGNATURE_INVALID,
                "the signature does not match the entry's bytes",
            )
        )
    if rec.seq != position:
        reason = Reason.ENTRY_MISSING if rec.seq > position else Reason.ENTRY_OUT_OF_ORDER
        out.append(
            finding(
                "log", where, reason, f"entry says it is number {rec.seq} but stands at {position}"
            )
        )
    if rec.entry.get("prev") != prev:
        out.append(
            finding("log", where, Reason.CHAIN_BROKEN, "does not name the previous entry's hash")
        )
    return out


def _check_checkpoints(
    source: AuditSource,
    texts: list[tuple[str, str]],
    keys: dict[str, Any],
    tree: merkle.MerkleTree,
    findings: list[Finding],
) -> list[cp.SignedCheckpoint]:
    """Each checkpoint read: well formed, of this log, signed, matching the log; each
    consistent with the one before. Returns them, smallest first."""
    n = tree.size
    heads: list[cp.SignedCheckpoint] = []
    for name, text in texts:
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
    return heads


def _check_receipts(
    source: AuditSource,
    keys: dict[str, Any],
    roots: TsaRoots,
    tree: merkle.MerkleTree,
    bad_signatures: set[int],
    latest: cp.Checkpoint | None,
    verdicts: TokenVerdicts,
) -> tuple[list[Finding], int, list[tuple[str, str]], set[int]]:
    """Each receipt verifies, is in the log and is extended by the latest checkpoint.
    Returns the findings, how many were read, the checkpoints they cite and the entries
    that have one."""
    n = tree.size
    out: list[Finding] = []
    count = 0
    cited: list[tuple[str, str]] = []
    present: set[int] = set()
    consistent: dict[tuple[int, bytes], bool] = {}
    trusted = next(iter(keys.values()), None)
    for name, data in source.receipts():
        count += 1
        stem = name.removesuffix(".json")
        if stem.isdigit():
            present.add(int(stem))
        try:
            receipt = receipts.load(data)
        except receipts.ReceiptUnreadable as e:
            out.append(finding("receipt", name, Reason.RECEIPT_INVALID, e.message))
            continue
        idx = receipt.get("leaf_index") if isinstance(receipt, dict) else None
        line_text = receipt.get("entry_line") if isinstance(receipt, dict) else None
        line = line_text.encode() if isinstance(line_text, str) else b""
        in_log = isinstance(idx, int) and 0 <= idx < n and tree.leaf(idx) == merkle.leaf_hash(line)
        known = line if in_log and idx not in bad_signatures else None
        rep = receipts.verify(
            receipt,
            trusted,
            verified_line=known,
            tsa_roots=_receipt_roots(receipt, roots),
            check_token=verdicts,
        )
        for f in rep.failures:
            inner = reason_value(f.reason) or f.id
            out.append(
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
            out.append(
                finding(
                    "receipt",
                    name,
                    Reason.RECEIPT_NOT_IN_LOG,
                    f"the log has no such entry at {rep.leaf_index}",
                )
            )
            continue
        if rep.ok:  # a receipt that does not verify is RECEIPT_INVALID, nothing more
            cited.append((name, str(receipt["checkpoint"])))
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
                out.append(
                    finding(
                        "receipt",
                        name,
                        Reason.CONSISTENCY_INVALID,
                        "the store's latest checkpoint does not extend the receipt's",
                    )
                )
    return out, count, cited, present


def _receipt_roots(receipt: Any, roots: TsaRoots) -> Any:
    """The roots a receipt's token is checked by: the pinned ones, else the store's for its
    source; None (the receipt's own, a note) when those are missing (reported once)."""
    stamp = receipt.get("timestamp") if isinstance(receipt, dict) else None
    source = stamp.get("source", "local") if isinstance(stamp, dict) else "local"
    if not isinstance(source, str):
        return ()
    return roots.roots(source)


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

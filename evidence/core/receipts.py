"""Receipts: what an observer keeps for each file handed in, verifiable offline.

A receipt holds the exact signed log line, its leaf index, an inclusion proof and the
signed checkpoint it belongs to, plus the log's verifier key (to be pinned with ``--key``).
:func:`verify` needs nothing else; :func:`verify_against_store` adds the checks that need
the store: its latest checkpoint extends the receipt's, and the object still hashes right.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from cryptography import x509

from base.errors import UsageError
from evidence.core import checkpoint as cp
from evidence.core import custody, merkle, tiles, tokens
from evidence.core.checks import Check, Report, Status
from evidence.core.keys import PublicKey

FORMAT = "dalel-receipt/1"
MAX_BYTES = 1 << 20
"""The largest receipt file read (1 MiB; a real one is a few KiB)."""
MAX_DEPTH = 32
"""The deepest nesting of arrays and objects a receipt may have (a real one has 4)."""
MAX_LEAF_INDEX = (1 << 63) - 1
"""The largest leaf index or tree size a receipt may name."""
MAX_PROOF = 64
"""The longest inclusion proof a receipt may hold (a tree of 2**64 leaves needs 64)."""

_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_A_BRACKET = re.compile(rb"[^\[\]{}]")


class ReceiptUnreadable(UsageError):
    """A receipt file that cannot be read as one: too large, nested too deep, not JSON."""

    fix = "give the receipt file Dalel issued for the item (receipts/NAME.json, unchanged)"


def _nesting(data: bytes) -> int:
    """The deepest nesting of arrays and objects in JSON text (brackets in strings aside),
    counted without parsing, so that no input can exhaust the parser's stack."""
    depth = deepest = 0
    for bracket in _NOT_A_BRACKET.sub(b"", _JSON_STRING.sub(b"", data)):
        depth += 1 if bracket in b"[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` (parsed JSON) nests arrays and objects deeper than ``limit``;
    iterative, never recursive."""
    if not isinstance(value, dict | list):
        return False
    stack: list[tuple[Any, int]] = [(value, 1)]  # only containers: scalars nest nothing
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return False


def load(data: bytes) -> Any:
    """The JSON of a receipt file, read within limits: at most :data:`MAX_BYTES`, nested at
    most :data:`MAX_DEPTH` deep. Raises :class:`ReceiptUnreadable` (a usage error) when it
    is larger, deeper or not JSON; what the JSON holds is checked by :func:`verify`."""
    if len(data) > MAX_BYTES:
        raise ReceiptUnreadable(f"larger than {MAX_BYTES // 1024} KiB, so not a receipt")
    opened = data.count(b"[") + data.count(b"{")  # nesting is at most this: counted first
    if opened > MAX_DEPTH and _nesting(data) > MAX_DEPTH:
        raise ReceiptUnreadable(f"nested deeper than {MAX_DEPTH} levels, so not a receipt")
    try:
        return json.loads(data)
    except RecursionError:
        raise ReceiptUnreadable(f"nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as e:  # not JSON, not UTF-8, or a number of thousands of digits
        raise ReceiptUnreadable(f"not JSON: {e}") from None


def _index(value: Any, what: str) -> int:
    """A leaf index or tree size: an integer from 0 to :data:`MAX_LEAF_INDEX`."""
    if type(value) is not int or not 0 <= value <= MAX_LEAF_INDEX:
        raise ValueError(f"{what} is not an integer from 0 to 2**63-1: {str(value)[:40]}")
    return value


class Reason(StrEnum):
    """Why a receipt check failed (or warns)."""

    MALFORMED = "MALFORMED"
    KEY_NOT_PINNED = "KEY_NOT_PINNED"
    KEY_MISMATCH = "KEY_MISMATCH"
    SIGNATURE_INVALID = "SIGNATURE_INVALID"
    ENTRY_MISMATCH = "ENTRY_MISMATCH"
    CHECKPOINT_SIGNATURE_INVALID = "CHECKPOINT_SIGNATURE_INVALID"
    PROOF_INVALID = "PROOF_INVALID"
    NOT_IN_LOG = "NOT_IN_LOG"
    CONSISTENCY_INVALID = "CONSISTENCY_INVALID"
    OBJECT_MISSING = "OBJECT_MISSING"
    HASH_MISMATCH = "HASH_MISMATCH"
    TIMESTAMP_INVALID = "TIMESTAMP_INVALID"
    TSA_ROOT_NOT_PINNED = "TSA_ROOT_NOT_PINNED"
    NO_TIMESTAMP = "NO_TIMESTAMP"
    LOG_UNREACHABLE = "LOG_UNREACHABLE"
    LOG_BEHIND = "LOG_BEHIND"
    TILES_INVALID = "TILES_INVALID"


@dataclass(frozen=True)
class ReceiptReport(Report):
    """Every check made on a receipt; warnings (an unpinned key or TSA root) do not fail it."""

    item_sha256: str | None = None
    """The SHA-256 of the item the receipted entry concerns (None when unreadable)."""
    leaf_index: int | None = None
    """The entry's index in the log (None when the receipt could not be read)."""

    title: ClassVar[str] = "receipt"

    def summary(self) -> dict[str, Any]:
        """The item and the leaf index, next to ``ok`` and the checks."""
        return {"item_sha256": self.item_sha256, "leaf_index": self.leaf_index}


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


@functools.lru_cache(maxsize=256)
def _checkpoint_signed(text: str, key: PublicKey) -> bool:
    """Memoised: the receipts of one batch share one checkpoint."""
    return cp.parse(text).signed_by(key)


def build(
    line: bytes,
    entry: dict[str, Any],
    leaf_index: int,
    tree: merkle.MerkleTree,
    head: cp.SignedCheckpoint,
    key: PublicKey,
) -> dict[str, Any]:
    """The receipt for the entry ``line`` (parsed: ``entry``) at ``leaf_index`` under
    checkpoint ``head``."""
    return {
        "format": FORMAT,
        "log": {"origin": head.checkpoint.origin, "key": key.verifier()},
        "leaf_index": leaf_index,
        "entry_line": line.decode(),
        "entry": entry,
        "inclusion_proof": [
            _b64(h) for h in tree.inclusion_proof(leaf_index, head.checkpoint.size)
        ],
        "checkpoint": head.text,
    }


def dumps(receipt: dict[str, Any]) -> bytes:
    """Stable JSON, one line (``jq .`` shows it pretty); never what is signed: the signed
    bytes are the ``entry_line`` string inside."""
    return json.dumps(receipt, ensure_ascii=False, sort_keys=True).encode() + b"\n"


def item_of(entry: dict[str, Any]) -> str | None:
    """The SHA-256 of the item an entry concerns, if any."""
    item = entry.get("item")
    if isinstance(item, dict) and isinstance(item.get("sha256"), str):
        return item["sha256"]
    return None


def verify(
    receipt: Any,
    pinned_key: PublicKey | None = None,
    *,
    verified_line: bytes | None = None,
    tsa_roots: Sequence[x509.Certificate] | None = None,
    check_token: tokens.TokenCheck = tokens.verify_token,
) -> ReceiptReport:
    """Check a receipt offline. Never raises on bad content: every problem is a check.

    ``verified_line``: a log line whose signature the caller has already verified under
    ``pinned_key`` (the audit has); when the receipt's entry is that exact line, its
    signature is not checked twice. ``tsa_roots``: the TSA roots to trust for the item's
    token (pinned); without them the roots the receipt carries are used, with a warning.
    ``check_token``: what verifies the item's token (the audit's keeps the verdict it
    reached on the same token in the log, :class:`~evidence.core.tokenverdicts.TokenVerdicts`).
    """
    checks: list[Check] = []

    def fail(cid: str, reason: Reason, detail: str) -> ReceiptReport:
        checks.append(Check(cid, Status.FAILED, reason, detail))
        return ReceiptReport(tuple(checks), None, None)

    if _too_deep(receipt):
        return fail("format", Reason.MALFORMED, f"nested deeper than {MAX_DEPTH} levels")
    if not isinstance(receipt, dict) or receipt.get("format") != FORMAT:
        return fail("format", Reason.MALFORMED, f"not a {FORMAT} receipt")
    try:
        line = receipt["entry_line"].encode()
        index = _index(receipt["leaf_index"], "leaf_index")
        if len(receipt["inclusion_proof"]) > MAX_PROOF:
            raise ValueError(f"an inclusion proof longer than {MAX_PROOF} hashes")
        proof = [base64.b64decode(p, validate=True) for p in receipt["inclusion_proof"]]
        head = cp.parse(receipt["checkpoint"])
        _index(head.checkpoint.size, "the checkpoint's tree size")
        embedded = PublicKey.from_verifier(receipt["log"]["key"])
        record = custody.parse_line(line)
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError, RecursionError) as e:
        return fail("format", Reason.MALFORMED, f"receipt cannot be read: {e}")
    item = item_of(record.entry)

    if pinned_key is None:
        key = embedded
        checks.append(
            Check(
                "key",
                Status.WARNING,
                Reason.KEY_NOT_PINNED,
                "the log key was taken from the receipt itself; pin it with --key "
                "to know the receipt comes from the log you trust",
            )
        )
    elif pinned_key != embedded:
        key = pinned_key
        checks.append(
            Check(
                "key",
                Status.FAILED,
                Reason.KEY_MISMATCH,
                "the receipt names another log key than the pinned one",
            )
        )
    else:
        key = pinned_key
        checks.append(Check("key", Status.PASSED))

    if verified_line is not None and verified_line == line and pinned_key is not None:
        checks.append(Check("entry-signature", Status.PASSED, None, "verified in the log"))
    elif record.key_id == key.id_hex and key.verify(record.signature, record.entry_bytes):
        checks.append(Check("entry-signature", Status.PASSED))
    else:
        checks.append(
            Check(
                "entry-signature",
                Status.FAILED,
                Reason.SIGNATURE_INVALID,
                "the custody entry is not signed by the log key",
            )
        )

    if receipt.get("entry") == record.entry and record.seq == index:
        checks.append(Check("entry-copy", Status.PASSED))
    else:
        checks.append(
            Check(
                "entry-copy",
                Status.FAILED,
                Reason.ENTRY_MISMATCH,
                "the readable copy of the entry or its index differs from the signed entry",
            )
        )

    if _checkpoint_signed(receipt["checkpoint"], key):
        checks.append(Check("checkpoint-signature", Status.PASSED))
    else:
        checks.append(
            Check(
                "checkpoint-signature",
                Status.FAILED,
                Reason.CHECKPOINT_SIGNATURE_INVALID,
                "the checkpoint is not signed by the log key",
            )
        )

    if merkle.verify_inclusion(
        index, head.checkpoint.size, merkle.leaf_hash(line), proof, head.checkpoint.root
    ):
        checks.append(Check("inclusion", Status.PASSED))
    else:
        checks.append(
            Check(
                "inclusion",
                Status.FAILED,
                Reason.PROOF_INVALID,
                "the inclusion proof does not lead from the entry to the checkpoint's root",
            )
        )
    checks.extend(_timestamp_checks(receipt.get("timestamp"), item, tsa_roots, check_token))
    return ReceiptReport(tuple(checks), item, index)


def _timestamp_checks(
    stamp: Any,
    item: str | None,
    pinned: Sequence[x509.Certificate] | None,
    check_token: tokens.TokenCheck,
) -> list[Check]:
    """The item's RFC 3161 token: it covers the item's hash and verifies."""
    if not stamp:
        return [
            Check(
                "timestamp",
                Status.WARNING,
                Reason.NO_TIMESTAMP,
                "the receipt carries no timestamp token",
            )
        ]
    out: list[Check] = []
    try:
        token = base64.b64decode(stamp["token"], validate=True)
        roots = (
            tuple(pinned)
            if pinned is not None
            else tokens.load_certificates(stamp.get("tsa_roots_pem", "").encode())
        )
        recorded = datetime.fromisoformat(str(stamp["recorded_at"]).replace("Z", "+00:00"))
        digest = bytes.fromhex(item or "")
    except (KeyError, TypeError, ValueError, AttributeError, binascii.Error) as e:
        return [
            Check(
                "timestamp",
                Status.FAILED,
                Reason.TIMESTAMP_INVALID,
                f"the timestamp section cannot be read: {e}",
            )
        ]
    if pinned is None:
        out.append(
            Check(
                "tsa-root",
                Status.WARNING,
                Reason.TSA_ROOT_NOT_PINNED,
                "the TSA root was taken from the receipt itself; pin it with "
                "--tsa-root (public/tsa-root.pem) or check with --store",
            )
        )
    report = check_token(
        token,
        expected_digest=digest,
        trusted_roots=roots,
        recorded_at=recorded,
        tolerance=tokens.DEFAULT_TOLERANCE,
    )
    if report.ok and report.info is not None:
        out.append(
            Check(
                "timestamp",
                Status.PASSED,
                None,
                f"RFC 3161 time {report.info.gen_time.isoformat()} from {stamp.get('source')}",
            )
        )
    else:
        names = report.reason_names()
        out.append(
            Check(
                "timestamp",
                Status.FAILED,
                Reason.TIMESTAMP_INVALID,
                ", ".join(names),
                sub_reasons=names,
            )
        )
    return out


def extend(report: ReceiptReport, more: list[Check]) -> ReceiptReport:
    """The report with more checks appended."""
    return ReceiptReport(report.checks + tuple(more), report.item_sha256, report.leaf_index)


def verify_against_store(
    receipt: dict[str, Any], report: ReceiptReport, store: Any
) -> ReceiptReport:
    """Add the checks that need the store: the log still holds the entry at its index, the
    store's latest checkpoint extends the receipt's (consistency proof), and the object
    still hashes to the receipted value."""
    more: list[Check] = []
    if report.leaf_index is None:
        return report
    tree = store.load_tree()
    index = report.leaf_index
    line = receipt["entry_line"].encode()
    if index < tree.size and tree.leaf(index) == merkle.leaf_hash(line):
        more.append(Check("in-store-log", Status.PASSED))
    else:
        more.append(
            Check(
                "in-store-log",
                Status.FAILED,
                Reason.NOT_IN_LOG,
                "the store's log does not hold this entry at this index",
            )
        )
    latest = store.latest_checkpoint()
    head = cp.parse(receipt["checkpoint"]).checkpoint
    if latest is None or latest.checkpoint.size > tree.size:
        more.append(
            Check(
                "consistency",
                Status.FAILED,
                Reason.CONSISTENCY_INVALID,
                "the store has no usable latest checkpoint",
            )
        )
    else:
        lc = latest.checkpoint
        ok = (
            head.size <= lc.size
            and latest.signed_by(store.public_key())
            and merkle.verify_consistency(
                head.size, lc.size, head.root, lc.root, tree.consistency_proof(head.size, lc.size)
            )
        )
        if ok:
            more.append(
                Check(
                    "consistency",
                    Status.PASSED,
                    None,
                    f"the store's checkpoint of {lc.size} entries extends the "
                    f"receipt's of {head.size}",
                )
            )
        else:
            more.append(
                Check(
                    "consistency",
                    Status.FAILED,
                    Reason.CONSISTENCY_INVALID,
                    "the store's latest checkpoint does not extend the receipt's",
                )
            )
    if report.item_sha256:
        actual = store.objects.hash_of(report.item_sha256)
        if actual is None:
            more.append(
                Check(
                    "object",
                    Status.FAILED,
                    Reason.OBJECT_MISSING,
                    "the store no longer holds the object",
                )
            )
        elif actual != report.item_sha256:
            more.append(
                Check(
                    "object",
                    Status.FAILED,
                    Reason.HASH_MISMATCH,
                    f"the stored object now hashes to {actual}",
                )
            )
        else:
            more.append(Check("object", Status.PASSED))
    return extend(report, more)


def verify_against_log(
    receipt: dict[str, Any],
    report: ReceiptReport,
    fetch: Callable[[str], bytes],
    pinned_key: PublicKey | None = None,
) -> ReceiptReport:
    """Add the checks against the log as published in C2SP tlog-tiles, read through
    ``fetch(path)`` (a folder, a web server, a CDN): its ``checkpoint`` is signed by the log's
    key (``pinned_key``, else the receipt's); the tiles give that checkpoint's root; the
    receipt's tree is a prefix of it (the same root at the receipt's size); and the published
    log holds the receipted entry at its index (an inclusion proof made from the tiles alone).
    A source that cannot be read gives one INDETERMINATE check, never an exception."""
    if report.leaf_index is None:
        return report
    index = report.leaf_index
    try:
        key = pinned_key or PublicKey.from_verifier(str(receipt["log"]["key"]))
        head = cp.parse(receipt["checkpoint"]).checkpoint
        line = str(receipt["entry_line"]).encode()
    except (KeyError, TypeError, ValueError):
        return report  # (the receipt's own checks already say what is wrong with it)
    more: list[Check] = []
    try:
        published = cp.parse(fetch("checkpoint").decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        more.append(Check("published-log", Status.INDETERMINATE, Reason.LOG_UNREACHABLE,
                          f"the published checkpoint cannot be read: {e}"))  # fmt: skip
        return extend(report, more)
    pc = published.checkpoint
    if not published.signed_by(key) or pc.origin != head.origin:
        more.append(Check("published-checkpoint", Status.FAILED,
                          Reason.CHECKPOINT_SIGNATURE_INVALID,
                          "the published checkpoint is not signed by this log's key"))  # fmt: skip
        return extend(report, more)
    more.append(Check("published-checkpoint", Status.PASSED, detail=f"size {pc.size}"))
    read = tiles.TileProofs(fetch, pc.size)
    step = "published-tiles"  # what an unreadable tile leaves undecided
    try:
        if read.root() != pc.root:
            more.append(Check(step, Status.FAILED, Reason.TILES_INVALID,
                              "the tiles do not give the published checkpoint's root"))  # fmt: skip
            return extend(report, more)
        more.append(Check(step, Status.PASSED))
        step = "published-log-consistent"
        if head.size > pc.size:
            # published on a schedule, cached by a CDN, or a writer's folder behind: not a
            # broken log, a log not yet published this far
            more.append(Check(step, Status.INDETERMINATE, Reason.LOG_BEHIND,
                              f"the published log has {pc.size} entries, this receipt's tree "
                              f"{head.size}: check again once it is published"))  # fmt: skip
            return extend(report, more)
        if read.root(head.size) != head.root:
            more.append(Check(step, Status.FAILED, Reason.CONSISTENCY_INVALID,
                              f"the published log of {pc.size} entries does not extend the "
                              f"receipt's tree of {head.size}"))  # fmt: skip
        else:
            more.append(Check(step, Status.PASSED))
        step = "in-published-log"
        leaf = merkle.leaf_hash(line)
        ok = index < pc.size and merkle.verify_inclusion(
            index, pc.size, leaf, read.inclusion_proof(index), pc.root
        )
        more.append(
            Check(step, Status.PASSED)
            if ok
            else Check(
                step,
                Status.FAILED,
                Reason.NOT_IN_LOG,
                "the published log does not hold this entry at this index",
            )
        )
    except (OSError, tiles.TileError, KeyError) as e:
        more.append(Check(step, Status.INDETERMINATE, Reason.LOG_UNREACHABLE,
                          f"a tile cannot be read: {e}"))  # fmt: skip
    return extend(report, more)

"""What an audit reports: its named reasons, and the report (a :class:`Report`).

For each kind of check (``FAMILIES``) the report holds a PASSED line when nothing in it
failed (a SKIPPED line when it could not be made), then every problem (FAILED) and note
(WARNING, which does not fail the audit) as a :class:`Finding` whose ``subject`` is the item
concerned. :mod:`evidence.audit` makes the checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any, ClassVar

from evidence.core.checks import Check, Report, Status, reason_value


class Reason(StrEnum):
    """Named reasons an audit reports."""

    OBJECT_MISSING = "OBJECT_MISSING"
    HASH_MISMATCH = "HASH_MISMATCH"
    SIZE_MISMATCH = "SIZE_MISMATCH"
    LINE_MALFORMED = "LINE_MALFORMED"
    SIGNATURE_INVALID = "SIGNATURE_INVALID"
    KEY_UNTRUSTED = "KEY_UNTRUSTED"
    CHAIN_BROKEN = "CHAIN_BROKEN"
    ENTRY_MISSING = "ENTRY_MISSING"
    ENTRY_OUT_OF_ORDER = "ENTRY_OUT_OF_ORDER"
    LOG_TRUNCATED = "LOG_TRUNCATED"
    TORN_APPEND = "TORN_APPEND"
    CHECKPOINT_MALFORMED = "CHECKPOINT_MALFORMED"
    CHECKPOINT_SIGNATURE_INVALID = "CHECKPOINT_SIGNATURE_INVALID"
    CHECKPOINT_ORIGIN_MISMATCH = "CHECKPOINT_ORIGIN_MISMATCH"
    CHECKPOINT_ROOT_MISMATCH = "CHECKPOINT_ROOT_MISMATCH"
    CONSISTENCY_INVALID = "CONSISTENCY_INVALID"
    RECEIPT_INVALID = "RECEIPT_INVALID"
    RECEIPT_NOT_IN_LOG = "RECEIPT_NOT_IN_LOG"
    TIMESTAMP_INVALID = "TIMESTAMP_INVALID"
    TIMESTAMP_MISSING = "TIMESTAMP_MISSING"
    UNCHECKPOINTED_ENTRIES = "UNCHECKPOINTED_ENTRIES"
    LOG_MISSING = "LOG_MISSING"
    """The store's ``log/`` folder or its ``custody.jsonl`` is gone."""
    BUNDLE_INCOMPLETE = "BUNDLE_INCOMPLETE"
    """An audit bundle lacks a part (``bundle.json``, ``log/``, ``objects.txt``, the log key)
    or holds one that cannot be read."""
    KEY_NOT_PINNED = "KEY_NOT_PINNED"
    """A note: the audit trusted the log key or TSA roots the audited store or bundle holds
    (``--key``, ``--tsa-root`` pin them from a copy kept elsewhere)."""
    TSA_ROOT_MISSING = "TSA_ROOT_MISSING"
    """A TSA root certificate the tokens must chain to is missing or cannot be read."""
    CHECKPOINT_MISSING = "CHECKPOINT_MISSING"
    """A checkpoint the log, a receipt or a ``.tsr`` names is no longer in the store."""
    RECEIPT_MISSING = "RECEIPT_MISSING"
    """A receipted entry whose receipt was issued is no longer in the store."""
    INDEX_MISMATCH = "INDEX_MISMATCH"
    """The index (``index.sqlite``) says something the custody log does not: a row changed,
    added, deleted or hidden."""


class Finding(Check):
    """An audit check about one item: ``subject`` names it (``entry 7``, an object's hash, a
    checkpoint or receipt file); ``item`` is the same under its older name."""

    @property
    def item(self) -> str:
        """The item the check is about (``subject``)."""
        return self.subject


def finding(
    check_id: str,
    item: str,
    reason: Reason,
    detail: str,
    *,
    status: Status = Status.FAILED,
    sub_reasons: tuple[str, ...] = (),
) -> Finding:
    """A problem (FAILED) or a note (WARNING: does not fail the audit) about ``item``."""
    return Finding(check_id, status, reason, detail, item, sub_reasons)


#: The kinds of check an audit makes, in the order it reports them.
FAMILIES = ("log", "object", "checkpoint", "timestamp", "receipt")


@dataclass(frozen=True, kw_only=True)
class AuditReport(Report):
    """What an audit checked and found: per kind of check, a PASSED line when nothing in it
    failed, and every problem and note with the item it concerns."""

    entries: int
    """Log entries read."""
    objects_checked: int
    """Objects the log names, each checked to be present (and re-hashed, see below)."""
    objects_rehashed: bool
    """Whether the objects' bytes were hashed again (``--no-rehash``: only sizes)."""
    checkpoints: int
    """Signed checkpoints read."""
    receipts: int
    """Receipts read."""
    latest_checkpoint_size: int | None
    """Entries the latest checkpoint covers (None: no checkpoint yet)."""
    tokens: int = 0
    """Time-stamp tokens the log records."""
    key_pinned: bool = False
    """Whether the log key came from outside the audited store (``--key``)."""
    tsa_roots_pinned: bool = False
    """Whether the TSA roots came from outside the audited store (``--tsa-root``)."""
    since: tuple[int, ...] = ()
    """Sizes of the checkpoints kept outside (``--since``) the log was checked to extend."""

    title: ClassVar[str] = "audit"

    @property
    def findings(self) -> tuple[Check, ...]:
        """The problems and notes: every check that neither PASSED nor was SKIPPED."""
        return tuple(c for c in self.checks if c.status not in (Status.PASSED, Status.SKIPPED))

    def reasons(self) -> set[Enum]:
        """The named reasons of the problems (notes excluded)."""
        return set(self.reason_set())

    def summary(self) -> dict[str, Any]:
        """The counts, and the findings in the form ``audit --json`` has always printed."""
        return {
            "entries": self.entries,
            "objects_checked": self.objects_checked,
            "objects_rehashed": self.objects_rehashed,
            "checkpoints": self.checkpoints,
            "receipts": self.receipts,
            "latest_checkpoint_size": self.latest_checkpoint_size,
            "tokens": self.tokens,
            "key_pinned": self.key_pinned,
            "tsa_roots_pinned": self.tsa_roots_pinned,
            "since": list(self.since),
            "findings": [_finding_dict(c) for c in self.findings],
        }


def _finding_dict(c: Check) -> dict[str, Any]:
    return {
        "check": c.id,
        "item": c.subject,
        "reason": reason_value(c.reason),
        "detail": c.detail,
        "severity": "FAILED" if not c.passed else "NOTE",
        "sub_reasons": list(c.sub_reasons),
    }


def by_family(findings: list[Finding], lines: dict[str, Finding]) -> tuple[Check, ...]:
    """The findings grouped by kind of check (``FAMILIES``), each group led by its line in
    ``lines``: a SKIPPED line always, a PASSED line only when nothing in the group failed."""
    out: list[Check] = []
    for family in FAMILIES:
        own = [f for f in findings if f.id == family]
        line = lines[family]
        if line.status is Status.SKIPPED or all(f.passed for f in own):
            out.append(line)
        out.extend(own)
    out.extend(f for f in findings if f.id not in FAMILIES)
    return tuple(out)

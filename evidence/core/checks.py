"""One shape for every verification: a report of checks with a derived bottom line.

Audit, receipt, time-stamp token and PDF dossier verification all return a :class:`Report`
(or a subclass carrying what that verification found besides its checks). Each
:class:`Check` names what was checked, its :class:`Status`, and, when it did not pass, a
named reason from that verification's own ``Reason`` enum (``HASH_MISMATCH``,
``CHAIN_BROKEN``, ``SIGNATURE_INVALID``…), which tests match on and which a front end turns
into words in the reader's language. A verification never stops at the first failure and
never raises on what it checks; only :meth:`Report.verify_or_raise` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Any

from base.errors import VerificationFailed


class Status(StrEnum):
    """Outcome of one check."""

    PASSED = "PASSED"
    """Checked, and it holds."""
    FAILED = "FAILED"
    """Checked, and it does not hold."""
    INDETERMINATE = "INDETERMINATE"
    """Could not be decided (something needed was missing); counts against the bottom line."""
    WARNING = "WARNING"
    """Holds, with something a person should know; does not count against the bottom line."""
    SKIPPED = "SKIPPED"
    """Not asked for; does not count against the bottom line."""


#: Statuses that make a report's bottom line false.
BAD = frozenset({Status.FAILED, Status.INDETERMINATE})


@dataclass(frozen=True)
class Check:
    """One check: what was checked, its outcome and, when it did not pass, why."""

    id: str
    """Stable name of the check (``signature``, ``entry-chain``, ``attachment:E01.jpg``…)."""
    status: Status
    """PASSED, FAILED, INDETERMINATE, WARNING or SKIPPED."""
    reason: Enum | None = None
    """The named reason when it did not pass (a member of the verification's Reason enum)."""
    detail: str = ""
    """Words for people (hashes, a library's message); never matched on."""
    subject: str = ""
    """What the check was about when a report covers many things (an item's hash, a file)."""
    sub_reasons: tuple[str, ...] = ()
    """The named reasons of an inner verification (a token's ``IMPRINT_MISMATCH``)."""

    @property
    def passed(self) -> bool:
        """True unless the check FAILED or was INDETERMINATE."""
        return self.status not in BAD

    def to_dict(self) -> dict[str, Any]:
        """The JSON form every front end prints."""
        return {
            "check": self.id,
            "status": self.status.value,
            "reason": _value(self.reason),
            "detail": self.detail,
            "subject": self.subject,
            "sub_reasons": list(self.sub_reasons),
        }


def _value(reason: Enum | None) -> str | None:
    return None if reason is None else str(reason.value)


@dataclass(frozen=True)
class Report:
    """Every check a verification made, in the order made; ``ok`` is the bottom line."""

    checks: tuple[Check, ...] = ()
    """All checks, passed ones included."""
    title: str = field(default="", kw_only=True)
    """What was verified, for people (``receipt``, ``audit``, ``dossier``…)."""

    @property
    def ok(self) -> bool:
        """True when at least one check was made and none FAILED or was INDETERMINATE."""
        return bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def bottom_line(self) -> Status:
        """PASSED when ``ok``, FAILED when any check failed, else INDETERMINATE."""
        if self.ok:
            return Status.PASSED
        if any(c.status is Status.FAILED for c in self.checks):
            return Status.FAILED
        return Status.INDETERMINATE

    @property
    def failures(self) -> tuple[Check, ...]:
        """The checks that FAILED or were INDETERMINATE."""
        return tuple(c for c in self.checks if not c.passed)

    def reason_set(self) -> frozenset[Enum]:
        """The named reasons of the checks that did not pass."""
        return frozenset(c.reason for c in self.failures if c.reason is not None)

    def summary(self) -> dict[str, Any]:
        """Fields a subclass adds to the JSON form (item hash, signer, counts…)."""
        return {}

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``ok``, the bottom line, what the subclass adds, every check."""
        return {
            "ok": self.ok,
            "bottom_line": self.bottom_line.value,
            **self.summary(),
            "checks": [c.to_dict() for c in self.checks],
        }

    def verify_or_raise(self) -> None:
        """Raise :class:`VerificationFailed` naming every failed check; nothing when ok."""
        if not self.ok:
            raise VerificationFailed(
                f"{self.title or 'verification'} found problems: "
                + ", ".join(f"{c.id} {_value(c.reason) or c.status.value}" for c in self.failures)
            )

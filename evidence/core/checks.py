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

from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any, ClassVar, Self

from base.errors import EXIT_OK, EXIT_PROBLEMS, VerificationFailed


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
    """Not asked for, or not needed; does not count against the bottom line."""


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
        """True unless the check FAILED or was INDETERMINATE (warnings and skips pass)."""
        return self.status not in BAD

    @property
    def check(self) -> str:
        """The id, under the name the JSON form gives it."""
        return self.id

    def to_dict(self) -> dict[str, Any]:
        """The JSON form every front end prints."""
        return {
            "check": self.id,
            "status": self.status.value,
            "reason": reason_value(self.reason),
            "detail": self.detail,
            "subject": self.subject,
            "sub_reasons": list(self.sub_reasons),
        }


def reason_value(reason: Enum | None) -> str | None:
    """The name a reason has in JSON and messages (None for no reason)."""
    return None if reason is None else str(reason.value)


@dataclass(frozen=True)
class Report:
    """Every check a verification made, in the order made; ``ok`` is the bottom line."""

    checks: tuple[Check, ...] = ()
    """All checks, passed ones included."""

    #: What was verified, for people (``receipt``, ``audit``, ``dossier``…).
    title: ClassVar[str] = "verification"

    @property
    def ok(self) -> bool:
        """True when at least one check was made and none FAILED or was INDETERMINATE."""
        return bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def bottom_line(self) -> Status:
        """PASSED when ``ok``, FAILED when any check failed, else INDETERMINATE (also when
        nothing was checked)."""
        if self.ok:
            return Status.PASSED
        if any(c.status is Status.FAILED for c in self.checks):
            return Status.FAILED
        return Status.INDETERMINATE

    @property
    def exit_code(self) -> int:
        """The CLI's exit code for this report: 0 when ok, 1 (problems found) otherwise."""
        return EXIT_OK if self.ok else EXIT_PROBLEMS

    @property
    def failures(self) -> tuple[Check, ...]:
        """The checks that FAILED or were INDETERMINATE."""
        return tuple(c for c in self.checks if not c.passed)

    def check(self, check_id: str) -> Check:
        """The first check named ``check_id``; KeyError when there is none."""
        for c in self.checks:
            if c.id == check_id:
                return c
        raise KeyError(check_id)

    def reason_set(self) -> frozenset[Enum]:
        """The named reasons of the checks that did not pass."""
        return frozenset(c.reason for c in self.failures if c.reason is not None)

    def reason_names(self) -> tuple[str, ...]:
        """The names of those reasons, in the order of the checks (for ``sub_reasons``)."""
        return tuple(str(c.reason.value) for c in self.failures if c.reason is not None)

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

    def failure_message(self) -> str:
        """One line naming every check that did not pass, with its reason."""
        if not self.checks:
            return f"{self.title}: nothing was checked"
        named = ", ".join(
            f"{c.id}{' ' + c.subject if c.subject else ''} "
            f"{reason_value(c.reason) or c.status.value}"
            for c in self.failures
        )
        return f"{self.title} found problems: {named}"

    def error(self) -> Exception:
        """The exception :meth:`verify_or_raise` raises (carrying its exit code); a subclass
        may name its own."""
        return VerificationFailed(self.failure_message())

    def verify_or_raise(self) -> Self:
        """Raise :meth:`error` (naming every failed check) unless ok; the report when ok."""
        if not self.ok:
            raise self.error()
        return self

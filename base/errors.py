"""Errors of the evidence core. Each carries its exit code and, where there is one, the fix.

``cli.py`` is the one place that turns them into messages and exit codes.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3
EXIT_ENVIRONMENT = 4


class DalelError(Exception):
    """Base class: a message for people, an exit code and an optional fix."""

    exit_code = EXIT_PROBLEMS

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix


class UsageError(DalelError):
    """The command was asked for something that cannot be done as asked."""

    exit_code = EXIT_USAGE


class StoreNotFound(UsageError):
    """No store at the given path."""


class StoreExists(UsageError):
    """``init`` refuses to touch an existing store."""


class InvalidObserverId(UsageError):
    """An observer ID that looks like an IIN but fails its check digit."""


class StoreCorrupt(DalelError):
    """The store cannot be read as a store (a file that must parse does not)."""

    exit_code = EXIT_PROBLEMS


class VerificationFailed(DalelError):
    """A verification found problems (raised only by ``*_or_raise`` helpers)."""

    exit_code = EXIT_PROBLEMS


class BrokenEnvironment(DalelError):
    """A program or library Dalel needs is missing or broken."""

    exit_code = EXIT_ENVIRONMENT


class StoreBusy(DalelError):
    """Another process holds the store's write lock for longer than we wait."""

    exit_code = EXIT_ENVIRONMENT

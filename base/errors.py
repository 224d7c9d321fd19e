"""Every error Dalel raises on purpose: one tree rooted at :class:`DalelError`.

Each class carries the exit code the CLI leaves with (0 ok, 1 problems found, 2 usage,
3 refused, 4 environment) and, where there is one, a ``fix``: what the user can do about it.
``cli/main.py`` is the one place that turns them into messages and exit codes; nothing
branches on an error's text.
"""

from __future__ import annotations

EXIT_OK = 0
"""Success; everything checked is intact."""
EXIT_PROBLEMS = 1
"""A verification found problems, or an input could not be used."""
EXIT_USAGE = 2
"""The command was asked for something that cannot be done as asked."""
EXIT_REFUSED = 3
"""Some inputs were refused and quarantined (the rest went in)."""
EXIT_ENVIRONMENT = 4
"""A program, library or file Dalel needs is missing or broken."""

EXIT_INTERNAL = 70
"""An unexpected exception: a bug (``EX_SOFTWARE`` of sysexits.h), never 1."""

EXIT_CODES = (EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_REFUSED, EXIT_ENVIRONMENT)
"""Every exit code the CLI uses."""


class DalelError(Exception):
    """Base class: a message for people, an exit code and an optional fix.

    ``fix`` given to the constructor wins over the class's own ``fix``.
    """

    exit_code: int = EXIT_PROBLEMS
    fix: str | None = None

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if fix is not None:
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


class ProgramMissing(BrokenEnvironment):
    """An external program is not on ``PATH`` or cannot be started; the fix names the
    Debian package that provides it."""

    def __init__(self, program: str, package: str | None, reason: str | None = None) -> None:
        fix = (
            f"install the Debian package {package}: apt-get install {package}"
            if package
            else f"install {program} and put it on PATH"
        )
        super().__init__(reason or f"{program} not found on PATH", fix=fix)
        self.program = program
        self.package = package


class StoreBusy(DalelError):
    """Another process holds the store's write lock for longer than we wait."""

    exit_code = EXIT_ENVIRONMENT

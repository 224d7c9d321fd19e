"""Every error Dalel raises on purpose: one tree rooted at :class:`DalelError`.

Each class carries the exit code the CLI leaves with (0 ok, 1 problems found, 2 usage,
3 refused, 4 environment) and, where there is one, a ``fix``: what the user can do about it.
``cli/main.py`` is the one place that turns them into messages and exit codes; nothing
branches on an error's text.
"""

from __future__ import annotations

import os
from pathlib import Path

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


class CannotWrite(BrokenEnvironment):
    """The disk or folder a command writes to refuses: full, read-only, not permitted, or
    failing. Nothing already received is lost; the fix says what to free or change."""


_FULL = {28, 122}  # ENOSPC, EDQUOT
_READ_ONLY = {30}  # EROFS
_DENIED = {1, 13}  # EPERM, EACCES
_FAILING = {5}  # EIO
_SQLITE_SAYS = {
    "database or disk is full": _FULL,
    "attempt to write a readonly database": _READ_ONLY,
    "disk i/o error": _FAILING,
}
AFTER = "nothing already received is lost; run the same command again (`run` skips the files "
AFTER += "already taken, `ingest` records them as received again) and `dalel audit` to check"


def _named(exc: BaseException) -> Path | None:
    name = getattr(exc, "filename", None)
    return Path(str(name)) if name else None


def _nearly_full(disk: Path | None) -> bool:
    """Whether the file system holding ``disk`` (or its nearest existing parent) has less
    than 1 MiB free: a database reports a full disk as an I/O error."""
    if disk is None:
        return False
    for folder in (disk, *disk.parents):
        try:
            st = os.statvfs(folder)
        except OSError:
            continue
        return st.f_bavail * st.f_frsize < (1 << 20)
    return False


def cannot_write(exc: BaseException, *, disk: Path | None = None) -> CannotWrite | None:
    """The named error for an exception that says the disk or folder refuses a write (an
    ``OSError`` such as ENOSPC, or a database's own words for it), else None: an
    environment to fix, never a bug. ``disk``: where the command writes (the store), looked
    at when the error is an I/O error, which a database also gives for a full disk."""
    code: int | None = None
    where = ""
    if isinstance(exc, OSError) and exc.errno is not None:
        code = exc.errno
        where = f" ({exc.filename})" if exc.filename else ""
    else:
        said = str(getattr(exc, "orig", None) or "").lower()
        for words, codes in _SQLITE_SAYS.items():
            if words in said:
                code = min(codes)
                where = " (the index)"
    if code in _FAILING and _nearly_full(disk if disk is not None else _named(exc)):
        code = min(_FULL)
    if code in _FULL:
        return CannotWrite(
            f"the disk is full{where}", fix=f"free space on the disk holding it; {AFTER}"
        )
    if code in _READ_ONLY:
        return CannotWrite(
            f"the disk is mounted read-only{where}",
            fix=f"mount it read-write, or copy the store to a writable disk; {AFTER}",
        )
    if code in _DENIED:
        return CannotWrite(
            f"permission denied{where}",
            fix=f"run as the user who owns it, or give access to it; {AFTER}",
        )
    if code in _FAILING:
        return CannotWrite(
            f"the disk reported an input/output error{where}",
            fix="check the disk (dmesg, smartctl); copy the store elsewhere and check the copy: "
            "`dalel --store COPY audit`",
        )
    return None

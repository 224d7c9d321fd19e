"""Exceptions of the ocr package, in the one tree rooted at :class:`base.errors.DalelError`.

``UsageError`` here *is* :class:`base.errors.UsageError` (exit code 2): there is one usage
error class. The ocr package's own classes are also :class:`OcrError`.
"""

from __future__ import annotations

from base.errors import BrokenEnvironment, DalelError, UsageError

__all__ = [
    "FormNotFound",
    "MissingDependency",
    "NotThePinnedFile",
    "OcrError",
    "RelationSyntaxError",
    "UsageError",
]


class OcrError(DalelError):
    """Base class of the ocr package's errors; ``exit_code`` is what the CLI exits with."""


class FormNotFound(UsageError, OcrError):
    """No form with that id under ``ocr/forms/`` (exit code 2)."""


class RelationSyntaxError(UsageError, OcrError):
    """A control relation does not follow the relation grammar (exit code 2)."""


class MissingDependency(BrokenEnvironment, OcrError):
    """Tesseract, its rus/kaz language data, or the digit model is missing (exit code 4).

    The message names the command that installs what is missing.
    """


class NotThePinnedFile(BrokenEnvironment, OcrError):
    """A file fetched for training (:mod:`ocr.training.mnist_more`) is not the one pinned by
    its SHA-256 (exit code 4)."""

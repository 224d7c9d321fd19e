"""Exceptions of the ocr package; each carries the exit code the CLI maps it to."""

from __future__ import annotations


class OcrError(Exception):
    """Base class. ``exit_code`` is what ``cli.py`` exits with."""

    exit_code: int = 1


class UsageError(OcrError):
    """Bad arguments (unknown form id, malformed relation in a form file)."""

    exit_code = 2


class FormNotFound(UsageError):
    """No form with that id under ``ocr/forms/``."""


class RelationSyntaxError(UsageError):
    """A control relation does not follow the relation grammar."""


class MissingDependency(OcrError):
    """Tesseract, its rus/kaz language data, or the digit model is missing.

    The message names the command that installs what is missing.
    """

    exit_code = 4

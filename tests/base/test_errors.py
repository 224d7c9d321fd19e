"""One error tree: every exception class in the product packages is a DalelError with an exit
code in 0..4, and the CLI turns any of them into its message, fix and exit code."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import tempfile
from pathlib import Path

import pytest

import app.deadlines
import app.dossier.i18n
import app.dossier.render
import app.dossier.stills
import evidence.pdf.sign
import evidence.pdf.verify
import ocr.errors
from base import errors
from base.errors import EXIT_CODES, BrokenEnvironment, DalelError, UsageError

PACKAGES = ("base", "evidence", "ocr", "pipeline", "app")
"""The packages whose errors the CLI must be able to report."""


def _error_classes() -> dict[str, type[BaseException]]:
    """Every exception class defined in the product packages, by qualified name; private
    classes (a leading underscore: signals that never leave their module) are left out."""
    found: dict[str, type[BaseException]] = {}
    for package in PACKAGES:
        root = importlib.import_module(package)
        modules = [root.__name__]
        modules += [m.name for m in pkgutil.walk_packages(root.__path__, package + ".")]
        for name in modules:
            module = importlib.import_module(name)
            for attr, obj in vars(module).items():
                if (
                    inspect.isclass(obj)
                    and issubclass(obj, BaseException)
                    and obj.__module__ == module.__name__
                    and not attr.startswith("_")
                ):
                    found[f"{module.__name__}.{obj.__qualname__}"] = obj
    return found


ERRORS = _error_classes()


def test_the_walk_finds_the_errors_of_every_package() -> None:
    for expected in (
        "base.errors.StoreBusy",
        "evidence.pdf.sign.WrongPassword",
        "evidence.pdf.verify.DossierVerificationFailed",
        "evidence.core.tokenread.MalformedTokenError",
        "ocr.errors.MissingDependency",
        "app.deadlines.JurisdictionError",
        "app.dossier.stills.FfmpegFailed",
    ):
        assert expected in ERRORS
    assert len(ERRORS) > 30


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_every_error_is_a_dalel_error_with_an_exit_code(name: str) -> None:
    cls = ERRORS[name]
    assert issubclass(cls, DalelError), f"{name} is not a DalelError"
    assert type(cls.exit_code) is int and cls.exit_code in EXIT_CODES
    assert cls.fix is None or (isinstance(cls.fix, str) and cls.fix)


def test_one_usage_error() -> None:
    assert ocr.errors.UsageError is UsageError
    assert issubclass(ocr.errors.FormNotFound, UsageError)
    assert issubclass(ocr.errors.FormNotFound, ocr.errors.OcrError)


@pytest.mark.parametrize(
    ("cls", "code"),
    [
        (errors.UsageError, 2),
        (errors.StoreCorrupt, 1),
        (errors.VerificationFailed, 1),
        (errors.BrokenEnvironment, 4),
        (errors.ProgramMissing, 4),
        (errors.StoreBusy, 4),
        (ocr.errors.OcrError, 1),
        (ocr.errors.FormNotFound, 2),
        (ocr.errors.RelationSyntaxError, 2),
        (ocr.errors.MissingDependency, 4),
        (evidence.pdf.sign.PdfSignError, 1),
        (evidence.pdf.sign.Pkcs12Unreadable, 2),
        (evidence.pdf.sign.WrongPassword, 2),
        (evidence.pdf.sign.IdentityMissing, 4),
        (evidence.pdf.sign.IdentityExists, 2),
        (evidence.pdf.sign.TimestampFailed, 4),
        (evidence.pdf.sign.SigningFailed, 1),
        (evidence.pdf.verify.DossierVerificationFailed, 1),
        (app.deadlines.JurisdictionError, 4),
        (app.deadlines.UnknownCaseKind, 2),
        (app.dossier.render.DossierInputError, 1),
        (app.dossier.i18n.MissingTranslation, 4),
        (app.dossier.stills.FfmpegMissing, 4),
        (app.dossier.stills.FfmpegFailed, 1),
    ],
)
def test_exit_codes_are_kept(cls: type[DalelError], code: int) -> None:
    assert cls.exit_code == code


def test_builtin_bases_are_kept_for_callers_that_catch_them() -> None:
    assert issubclass(app.deadlines.JurisdictionError, ValueError)
    assert issubclass(app.deadlines.UnknownCaseKind, ValueError)
    assert issubclass(app.dossier.render.DossierInputError, ValueError)
    assert issubclass(app.dossier.i18n.MissingTranslation, KeyError)
    assert issubclass(app.dossier.stills.FfmpegMissing, RuntimeError)
    assert issubclass(app.dossier.stills.FfmpegFailed, RuntimeError)
    err = app.dossier.i18n.MissingTranslation("en: no translation for 'x'")
    assert err.message == "en: no translation for 'x'" and err.exit_code == 4


def test_a_fix_given_wins_over_the_class_fix() -> None:
    assert app.dossier.stills.FfmpegMissing("gone").fix == app.dossier.stills.FfmpegMissing.fix
    assert app.dossier.stills.FfmpegMissing("gone", fix="do this").fix == "do this"
    assert BrokenEnvironment("gone").fix is None


def test_the_cli_reports_any_dalel_error_with_its_code_and_fix(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cli_main = importlib.import_module("cli.main")

    def fail(**_: object) -> None:
        raise app.dossier.stills.FfmpegMissing("ffmpeg is not installed [really]")

    monkeypatch.setattr(cli_main.cli, "main", fail)
    assert cli_main.main(["init"]) == 4
    printed = capsys.readouterr().err
    assert "ffmpeg is not installed [really]" in printed
    assert "fix: install the Debian package ffmpeg" in printed


def test_the_cli_turns_a_bug_into_one_line_a_saved_traceback_and_exit_70(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    cli_main = importlib.import_module("cli.main")

    class NotOurs(Exception):
        exit_code = 1

    def fail(**_: object) -> None:
        raise NotOurs("a bug")

    monkeypatch.setattr(cli_main.cli, "main", fail)
    store = tmp_path / "store"
    store.mkdir()
    (store / "config.toml").write_text("")
    assert cli_main.main(["--store", str(store), "init"]) == 70
    printed = capsys.readouterr()
    assert "Traceback" not in printed.err and "Traceback" not in printed.out
    (line,) = printed.err.strip().splitlines()
    assert line.startswith("internal error; the details are in ")
    assert line.endswith("; please report it")
    (saved,) = (store / "logs").iterdir()
    assert str(saved) in line
    text = saved.read_text()
    assert "Traceback" in text and "NotOurs: a bug" in text

    # No store: the traceback goes to the temp dir's dalel-logs/.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    assert cli_main.main(["--store", str(tmp_path / "none"), "init"]) == 70
    (saved,) = (tmp_path / "tmp" / "dalel-logs").iterdir()
    assert str(saved) in capsys.readouterr().err and "NotOurs" in saved.read_text()

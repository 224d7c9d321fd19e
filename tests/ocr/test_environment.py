"""Missing Tesseract or language data: exit code 4 and the command that installs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ocr import MissingDependency, check_environment
from ocr.engine import _tessdata_dir

INSTALL = "apt-get install tesseract-ocr tesseract-ocr-rus tesseract-ocr-kaz"


def test_environment_is_complete_here() -> None:
    check_environment()


def test_missing_tesseract_binary(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MissingDependency) as exc:
        check_environment()
    assert exc.value.exit_code == 4
    assert INSTALL in str(exc.value)


def test_missing_kazakh_language_data(monkeypatch, tmp_path: Path) -> None:
    real = _tessdata_dir()
    assert real is not None
    for name in ("rus.traineddata", "eng.traineddata", "osd.traineddata"):
        if (real / name).exists():
            (tmp_path / name).symlink_to(real / name)
    monkeypatch.setenv("TESSDATA_PREFIX", str(tmp_path))
    with pytest.raises(MissingDependency) as exc:
        check_environment()
    assert exc.value.exit_code == 4
    assert "kaz" in str(exc.value) and INSTALL in str(exc.value)


def test_entry_point_exits_4_without_tesseract(tmp_path: Path) -> None:
    img = tmp_path / "x.png"
    img.write_bytes(b"\x89PNG\r\n\x1a\n")
    env = dict(os.environ, PATH=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-m", "ocr", str(img), "--form", "kz-mazhilis-party-list-2023"],
        check=False,
        capture_output=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        timeout=60,
    )
    assert proc.returncode == 4
    assert INSTALL in proc.stderr.decode()


def test_entry_point_unknown_form_is_usage_error(tmp_path: Path) -> None:
    img = tmp_path / "x.png"
    img.write_bytes(b"not an image")
    proc = subprocess.run(
        [sys.executable, "-m", "ocr", str(img), "--form", "nope"],
        check=False,
        capture_output=True,
        cwd=Path(__file__).resolve().parents[2],
        timeout=60,
    )
    assert proc.returncode == 2
    assert "nope" in proc.stderr.decode()

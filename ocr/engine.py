"""Tesseract behind a thin, timed wrapper; environment check; engine versions.

Tesseract reads through a process of its own that stays (:mod:`ocr.tessapi`: the words of
``tesseract IMAGE stdout ... tsv``, each model set up once), on one thread
(``OMP_THREAD_LIMIT=1``), with a timeout; a timeout or a failure becomes an empty, degraded
result with a reason, never a crash. Orientation detection, the version and the language
list ask the ``tesseract`` command.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import shutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from base import proc
from base.errors import BrokenEnvironment
from ocr import tessapi
from ocr.errors import MissingDependency

LANGS = "rus+kaz"
#: The version of the reader of the precinct number printed on a sheet (``ocr.precinct``),
#: recorded with every reading: bump it when what it reads changes, so protocols are read again.
PRECINCT_READER_VERSION = 1
INSTALL_HINT = "apt-get install tesseract-ocr tesseract-ocr-rus tesseract-ocr-kaz"


@dataclass(frozen=True)
class Word:
    """One word of Tesseract's TSV output, in the coordinates of the image given."""

    text: str
    conf: float
    """Tesseract's word confidence, 0..100 (-1 for non-words)."""
    box: tuple[int, int, int, int]
    """x, y, w, h."""
    line: tuple[int, int, int]
    """(block, paragraph, line) numbers: words sharing it are one text line."""


@dataclass(frozen=True)
class TessResult:
    """Words read, or the reason there are none."""

    words: tuple[Word, ...]
    error: str | None = None
    """``timeout`` or ``tesseract_failed``; None on success."""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["OMP_THREAD_LIMIT"] = "1"
    return env


def _tesseract(argv: list[str], timeout: float, stdin: bytes | None = None) -> proc.ProcResult:
    """Run Tesseract on one thread; :class:`MissingDependency` when it is not installed."""
    try:
        return proc.run(argv, timeout=timeout, stdin=stdin, env=_env(), package="tesseract-ocr")
    except BrokenEnvironment:
        raise MissingDependency(f"tesseract is not installed; run: {INSTALL_HINT}") from None


def run_tesseract(
    image: np.ndarray,
    *,
    lang: str = LANGS,
    psm: int = 3,
    config: tuple[str, ...] = (),
    timeout: float = 20.0,
) -> TessResult:
    """Read a grayscale image with Tesseract (its model set up once: :mod:`ocr.tessapi`)
    and parse its TSV into words."""
    return _words_of(tessapi.read(image, lang=lang, psm=psm, config=config, timeout=timeout))


def run_tesseract_each(
    images: list[np.ndarray],
    *,
    lang: str = LANGS,
    psm: int = 3,
    config: tuple[str, ...] = (),
    timeout: float = 20.0,
) -> list[TessResult]:
    """:func:`run_tesseract` on each of ``images``, one after another by one Tesseract (as
    the command given a file listing them reads each as a page of its own)."""
    return [run_tesseract(im, lang=lang, psm=psm, config=config, timeout=timeout) for im in images]


def _words_of(reading: tessapi.Reading) -> TessResult:
    if reading.error is not None:
        return TessResult((), reading.error)
    return TessResult(tuple(_tsv_words(reading.tsv.encode()).get(1, [])))


def _tsv_words(stdout: bytes) -> dict[int, list[Word]]:
    """The words of Tesseract's TSV output, by page number (1 for the first image)."""
    pages: dict[int, list[Word]] = {}
    reader = csv.reader(
        io.StringIO(stdout.decode("utf-8", "replace")), delimiter="\t", quoting=csv.QUOTE_NONE
    )
    for row in reader:
        if len(row) < 12 or row[0] != "5" or not row[11].strip():
            continue
        pages.setdefault(int(row[1]), []).append(
            Word(
                text=row[11].strip(),
                conf=float(row[10]),
                box=(int(row[6]), int(row[7]), int(row[8]), int(row[9])),
                line=(int(row[2]), int(row[3]), int(row[4])),
            )
        )
    return pages


@dataclass(frozen=True)
class Orientation:
    """Tesseract's orientation detection (OSD) of a page."""

    rotate: int
    """Degrees (0, 90, 180 or 270) to turn the image clockwise to make its text upright."""
    confidence: float
    """Tesseract's orientation confidence (unbounded; about 2 and more is a clear answer)."""


def detect_orientation(image: np.ndarray, *, timeout: float = 20.0) -> Orientation | None:
    """Tesseract's orientation and script detection (``--psm 0``) on a grayscale image;
    None when it fails, times out or finds too little text to tell."""
    ok, png = cv2.imencode(".png", image)
    if not ok:
        return None
    cmd = ["tesseract", "stdin", "stdout", "--psm", "0", "-l", "osd"]
    res = _tesseract(cmd, timeout, stdin=bytes(png))
    if res.timed_out:
        return None
    text = res.stdout.decode("utf-8", "replace")
    rot = re.search(r"^Rotate:\s*(\d+)", text, re.M)
    conf = re.search(r"^Orientation confidence:\s*([0-9.]+)", text, re.M)
    if res.returncode != 0 or rot is None or conf is None or int(rot.group(1)) % 90:
        return None
    return Orientation(int(rot.group(1)) % 360, float(conf.group(1)))


@lru_cache(maxsize=1)
def _tessdata_dir() -> Path | None:
    out = _list_langs_output()
    m = re.search(r'"(.+?)"', out)
    return Path(m.group(1)) if m else None


def _list_langs() -> set[str]:
    lines = _list_langs_output().splitlines()[1:]
    return {ln.strip() for ln in lines if ln.strip()}


def _list_langs_output() -> str:
    """What ``tesseract --list-langs`` prints; empty when it is missing or hangs."""
    try:
        out = _tesseract(["tesseract", "--list-langs"], 20)
    except MissingDependency:
        return ""
    return "" if out.timed_out else out.stdout.decode("utf-8", "replace")


def check_environment() -> None:
    """Raise :class:`MissingDependency` (exit code 4) unless Tesseract with rus and kaz
    data and the digit and figure models are present. The message names the install command."""
    if shutil.which("tesseract") is None:
        raise MissingDependency(f"tesseract is not installed; run: {INSTALL_HINT}")
    missing = {"rus", "kaz", "eng"} - _list_langs()
    if missing:
        hint = INSTALL_HINT + (" tesseract-ocr-eng" if "eng" in missing else "")
        raise MissingDependency(
            f"Tesseract language data missing: {', '.join(sorted(missing))}; run: {hint}"
        )
    from ocr.digits import load_model, load_model_b
    from ocr.sequence import load_sequence_model

    load_model()
    load_model_b()
    load_sequence_model()


@lru_cache(maxsize=1)
def engine_versions() -> dict[str, object]:
    """Versions to record beside a reading: Tesseract, SHA-256 of its rus/kaz/eng data
    (eng reads the Latin words of labels), the digit models, the figure model, PP-OCR's
    recogniser and the reader of the precinct number (a reading made before it had one is
    read again)."""
    from ocr.digits import MODEL_B_NAME, MODEL_NAME, load_model, load_model_b
    from ocr.ppocr import text_model_version
    from ocr.sequence import MODEL_NAME as SEQUENCE_MODEL
    from ocr.sequence import load_sequence_model

    out = _tesseract(["tesseract", "--version"], 20)
    if out.timed_out:
        raise MissingDependency("tesseract --version gave no answer within 20 s")
    text = (out.stdout or out.stderr).decode("utf-8", "replace")
    first = text.splitlines()[0] if text else "tesseract unknown"
    data: dict[str, str] = {}
    tdir = _tessdata_dir()
    for lang in ("rus", "kaz", "eng"):
        p = tdir / f"{lang}.traineddata" if tdir else None
        data[lang] = hashlib.sha256(p.read_bytes()).hexdigest() if p and p.exists() else "missing"
    return {
        "tesseract": first.replace("tesseract", "").strip(),
        "tessdata": data,
        "digit_model": {"file": f"ocr/models/{MODEL_NAME}", "sha256": load_model().sha256},
        "digit_model_b": {"file": f"ocr/models/{MODEL_B_NAME}", "sha256": load_model_b().sha256},
        "figure_model": {
            "file": f"ocr/models/{SEQUENCE_MODEL}",
            "sha256": load_sequence_model().sha256,
        },
        "text_model": text_model_version(),
        "opencv": cv2.__version__,
        "precinct_reader": PRECINCT_READER_VERSION,
    }

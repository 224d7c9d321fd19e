"""Tesseract read through a server process that stays (``ocr.tessapi``, ``ocr.tess_server``):
the words are the ``tesseract`` command's, each model is set up once by a thread's server, a
server that dies or a reading past its timeout costs that reading at most, and odd images
give a reason or nothing, never a crash."""

from __future__ import annotations

import gc
import os
import subprocess
import threading
import time

import cv2
import numpy as np
import pytest

from ocr import engine, tessapi
from ocr.synth import make_sample

_DIGITS = ("tessedit_char_whitelist=0123456789", "tessedit_do_invert=0")


def _command_words(image: np.ndarray, lang: str, psm: int, config: tuple[str, ...]):  # type: ignore[no-untyped-def]
    """The oracle: the words of ``tesseract stdin stdout ... tsv`` run as a process, as the
    reader ran it before."""
    ok, png = cv2.imencode(".png", image)
    assert ok
    cmd = ["tesseract", "stdin", "stdout", "-l", lang, "--psm", str(psm), "--oem", "1"]
    for c in config:
        cmd += ["-c", c]
    out = subprocess.run(
        [*cmd, "tsv"],
        input=bytes(png),
        capture_output=True,
        check=True,
        env=dict(os.environ, OMP_THREAD_LIMIT="1"),
        timeout=120,
    )
    return engine._tsv_words(out.stdout).get(1, [])


def _crop(text: str) -> np.ndarray:
    img = np.full((70, 60 + 34 * max(1, len(text))), 255, np.uint8)
    cv2.putText(img, text, (20, 52), cv2.FONT_HERSHEY_SIMPLEX, 1.4, 0, 3)
    return img


@pytest.fixture(scope="module")
def page() -> np.ndarray:
    """A clean scan of a protocol, figures written by hand."""
    s = make_sample(7, 4242, tier="clean", script="handwritten", layout="table")
    return cv2.imdecode(np.frombuffer(s.image, np.uint8), cv2.IMREAD_GRAYSCALE)


@pytest.mark.parametrize(
    ("lang", "psm", "config"),
    [
        ("kaz", 3, ("tessedit_do_invert=0",)),  # the page's first reading
        ("rus", 3, ("tessedit_do_invert=0",)),  # the grey reading
        ("eng", 6, ()),  # Latin words read as a block
        ("eng", 6, _DIGITS),  # the figures' stack
    ],
)
def test_a_page_reads_word_for_word_as_the_command_reads_it(page, lang, psm, config) -> None:
    words = engine.run_tesseract(page, lang=lang, psm=psm, config=config).words
    assert len(words) > 10
    assert list(words) == _command_words(page, lang, psm, config)


def test_crops_read_as_the_command_reads_them_and_settings_stay_with_their_model() -> None:
    crops = [_crop(t) for t in ("1234", "", "907", "56")]
    digits = engine.run_tesseract_each(crops, lang="eng", psm=7, config=_DIGITS)
    assert [" ".join(w.text for w in r.words) for r in digits] == ["1234", "", "907", "56"]
    for im, r in zip(crops, digits, strict=True):
        assert list(r.words) == _command_words(im, "eng", 7, _DIGITS)
    # the same language without the digits-only setting is a model of its own: it reads
    # letters, after and before the digits-only one
    word = _crop("AMANAT")
    latin = engine.run_tesseract(word, lang="eng", psm=7)
    assert [w.text for w in latin.words] == ["AMANAT"]
    assert list(latin.words) == _command_words(word, "eng", 7, ())
    assert engine.run_tesseract(word, lang="eng", psm=7, config=_DIGITS).words != latin.words


def test_each_model_is_set_up_once_by_a_server_of_each_thread() -> None:
    """Setting a model up is most of a small image's reading (90 of 100 ms for English): a
    thread's server does it once per language and settings; another thread has its own."""
    servers: dict[str, tessapi._Server] = {}

    def read_some(name: str) -> None:
        for text in ("12", "345", "6789"):
            for lang in ("eng", "kaz"):
                res = engine.run_tesseract(_crop(text), lang=lang, psm=7, config=_DIGITS)
                assert res.error is None and len(res.words) == 1
        servers[name] = tessapi._server()

    other = threading.Thread(target=read_some, args=("other",))
    other.start()
    other.join()
    read_some("this")
    first, models = servers["this"], servers["this"].models
    read_some("this")
    assert servers["this"] is first and first.models == models >= 2
    assert servers["other"] is not first and servers["other"].models == 2
    # the other thread ended: so does its server, reaped, once nothing holds it
    proc = servers.pop("other").proc
    gc.collect()
    assert proc.returncode == 0
    assert tessapi.cpu_seconds() >= first.cpu > 0


def test_a_server_that_dies_under_a_reading_is_replaced_and_the_image_read_again(page) -> None:
    expected = engine.run_tesseract(page, lang="rus", psm=3).words
    srv = tessapi._server()
    threading.Timer(0.2, srv.proc.kill).start()  # the page takes about a second
    res = engine.run_tesseract(page, lang="rus", psm=3)
    assert res.error is None and res.words == expected
    assert srv.proc.returncode is not None  # reaped
    assert tessapi._server() is not srv
    # one found dead before a reading, too
    tessapi._server().proc.kill()
    assert [w.text for w in engine.run_tesseract(_crop("78"), lang="eng", psm=7).words] == ["78"]


def test_a_reading_past_its_timeout_is_ended_and_the_next_is_read() -> None:
    """Tesseract's own deadline is looked at only between words: a strip of black 3 pixels
    high read as one line took 42 s. The server reading it is killed at the timeout."""
    srv = tessapi._server()
    t0 = time.monotonic()
    res = engine.run_tesseract(np.zeros((3, 4000), np.uint8), lang="eng", psm=7, timeout=1.0)
    assert res.error == "timeout" and res.words == ()
    assert time.monotonic() - t0 < 5
    assert srv.proc.returncode is not None  # killed and reaped
    again = engine.run_tesseract(_crop("907"), lang="eng", psm=7)
    assert [w.text for w in again.words] == ["907"]


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((0, 0), np.uint8),
        np.zeros((10, 0), np.uint8),
        np.zeros((20, 20, 3), np.uint8),
        np.full((1, 1), 255, np.uint8),
        np.full((1, 3000), 255, np.uint8),
    ],
    ids=["empty", "no-width", "colour", "one-pixel", "a-white-line"],
)
def test_odd_images_give_a_reason_or_nothing_never_a_crash(image) -> None:
    res = engine.run_tesseract(image, lang="eng", psm=7, timeout=3)
    assert res.error in (None, "tesseract_failed", "timeout")
    assert res.error is not None or len(res.words) <= 1


def test_a_missing_language_is_a_missing_dependency_with_its_fix() -> None:
    with pytest.raises(engine.MissingDependency, match="apt-get install"):
        engine.run_tesseract(_crop("1"), lang="zzz", psm=7)

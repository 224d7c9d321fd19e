"""A Tesseract that stays: a process that reads image after image through Tesseract's library
(``libtesseract``, the library the ``tesseract`` command runs), each model set up once.

Run by :mod:`ocr.tessapi` as ``python ocr/tess_server.py`` (the standard library only, so it
starts in a few milliseconds), with ``OMP_THREAD_LIMIT=1`` in its environment as the command
had. It reads requests on stdin and answers on stdout, one after another:

- request: one JSON line ``{"lang", "psm", "config", "width", "height"}`` and then
  ``width * height`` bytes of 8-bit grey pixels, row after row;
- answer: one JSON line ``{"error", "cpu", "models", "length"}`` and then ``length`` bytes of
  Tesseract's TSV (UTF-8). ``error`` is null, ``tesseract_failed``, or ``missing: ...``
  (the library or a language's data is not installed). ``cpu`` is this process's CPU
  seconds so far, ``models`` the number of models it has set up.

A model is Tesseract initialised for a language with the request's ``config`` (``name=value``
settings, given at initialisation as the command gives its ``-c`` options); only the page
segmentation mode is set per image. The image is handed over as the command hands over a PNG
without a resolution: 8 bits a pixel, no resolution. Tesseract's messages go to ``/dev/null``
as the command's stderr did. The process ends when its stdin closes; a reading that takes too
long is ended by the caller killing it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import resource
import sys
from typing import Any, BinaryIO

_OEM_LSTM_ONLY = 1


def load_library() -> Any:
    """libtesseract with the C functions used here typed; OSError when it is missing."""
    name = ctypes.util.find_library("tesseract") or "libtesseract.so.5"
    lib = ctypes.CDLL(name)
    p, i, c = ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p
    cpp = ctypes.POINTER(ctypes.c_char_p)
    sigs: dict[str, tuple[Any, list[Any]]] = {
        "TessBaseAPICreate": (p, []),
        "TessBaseAPIDelete": (None, [p]),
        "TessBaseAPIInit4": (i, [p, c, c, i, cpp, i, cpp, cpp, ctypes.c_size_t, i]),
        "TessBaseAPISetPageSegMode": (None, [p, i]),
        "TessBaseAPISetImage": (None, [p, c, i, i, i, i]),
        "TessBaseAPIRecognize": (i, [p, p]),
        "TessBaseAPIGetTsvText": (p, [p, i]),
        "TessBaseAPIClear": (None, [p]),
        "TessDeleteText": (None, [p]),
    }
    for fname, (res, args) in sigs.items():
        fn = getattr(lib, fname)
        fn.restype = res
        fn.argtypes = args
    return lib


class Model:
    """One TessBaseAPI initialised for ``lang`` with ``config``."""

    def __init__(self, lib: Any, lang: str, config: list[str]) -> None:
        self.lib = lib
        self.handle = lib.TessBaseAPICreate()
        pairs = [c.split("=", 1) for c in config] + [["debug_file", "/dev/null"]]
        names = (ctypes.c_char_p * len(pairs))(*[k.encode() for k, _ in pairs])
        values = (ctypes.c_char_p * len(pairs))(*[v.encode() for _, v in pairs])
        # no data path: the library's own folder (or TESSDATA_PREFIX), as the command's
        rc = lib.TessBaseAPIInit4(
            self.handle, None, lang.encode(), _OEM_LSTM_ONLY, None, 0, names, values, len(pairs), 0
        )
        if rc != 0:
            lib.TessBaseAPIDelete(self.handle)
            raise LookupError(lang)

    def read(self, pixels: bytes, width: int, height: int, psm: int) -> str | None:
        """The TSV of one image, or None when Tesseract fails."""
        lib = self.lib
        lib.TessBaseAPISetPageSegMode(self.handle, psm)
        lib.TessBaseAPISetImage(self.handle, pixels, width, height, 1, width)
        try:
            if lib.TessBaseAPIRecognize(self.handle, None) != 0:
                return None
            text = lib.TessBaseAPIGetTsvText(self.handle, 0)
            if not text:
                return None
            try:
                return ctypes.string_at(text).decode("utf-8", "replace")
            finally:
                lib.TessDeleteText(text)
        finally:
            lib.TessBaseAPIClear(self.handle)


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _answer(out: BinaryIO, models: int, error: str | None, tsv: str = "") -> None:
    body = tsv.encode()
    head = {"error": error, "cpu": _cpu(), "models": models, "length": len(body)}
    out.write(json.dumps(head).encode() + b"\n" + body)
    out.flush()


def serve(inp: BinaryIO, out: BinaryIO) -> None:
    """Answer requests until ``inp`` ends."""
    try:
        lib = load_library()
    except OSError:
        lib = None
    models: dict[tuple[str, tuple[str, ...]], Model] = {}
    while True:
        line = inp.readline()
        if not line:
            return
        req = json.loads(line)
        width, height = int(req["width"]), int(req["height"])
        pixels = inp.read(width * height)
        if len(pixels) != width * height:
            return
        if lib is None:
            _answer(out, 0, "missing: libtesseract")
            continue
        key = (str(req["lang"]), tuple(str(c) for c in req["config"]))
        if key not in models:
            try:
                models[key] = Model(lib, key[0], list(key[1]))
            except LookupError:
                _answer(out, len(models), f"missing: the language data {key[0]!r}")
                continue
        tsv = models[key].read(pixels, width, height, int(req["psm"]))
        _answer(out, len(models), None if tsv is not None else "tesseract_failed", tsv or "")


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)

"""Tesseract's readings through a process that stays (:mod:`ocr.tess_server`), one per thread,
each model in it set up once.

A ``tesseract`` command loads its model before it reads anything: 20 ms for Russian or
Kazakh, 90 ms for English (most of it sorting the ambiguities of the Latin alphabet), and a
page's reading started five to ten of them. The server is the same library the command runs,
given the same image (8 bits a pixel, no resolution, as a PNG without one reached the
command) and the same settings at the same moment (the command's ``-c`` options, at
initialisation); it answers with the command's TSV (a test compares the two word for word).

It stays a process of its own, so that a reading that passes its timeout is ended for certain
(Tesseract's own deadline is looked at only between words: a strip of black 3 pixels high
read as one line took 42 s): the server is killed, reaped, and started again at the next
reading. A server belongs to the thread (and the process) that started it; it ends when the
thread ends, or with the process. Its CPU seconds are the caller's: :func:`cpu_seconds` adds
those of the servers still running to what ``getrusage`` says of the children reaped.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import subprocess
import sys
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ocr.errors import MissingDependency

INSTALL_HINT = "apt-get install tesseract-ocr tesseract-ocr-rus tesseract-ocr-kaz"
_SERVER = Path(__file__).with_name("tess_server.py")


@dataclass(frozen=True)
class Reading:
    """Tesseract's TSV of one image, or why there is none."""

    tsv: str
    error: str | None = None
    """``timeout`` or ``tesseract_failed``; None on success."""


class _Ended(Exception):
    """The server ended (or answered nonsense) under a reading."""


class _Server:
    """One server process and the pipes to it."""

    def __init__(self) -> None:
        env = dict(os.environ, OMP_THREAD_LIMIT="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-S", str(_SERVER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
            stderr=subprocess.DEVNULL,
            env=env,
            close_fds=True,
        )
        self.pid = os.getpid()  # a forked child starts servers of its own
        self.cpu = 0.0  # the server's CPU seconds at its last answer
        self.pending = bytearray()  # what was read of the pipe and not yet taken
        self.models = 0  # the models set up in it, at its last answer
        _running.add(self)

    def ask(
        self, image: np.ndarray, lang: str, psm: int, config: tuple[str, ...], timeout: float
    ) -> Reading:
        assert self.proc.stdin is not None
        h, w = image.shape
        head = {"lang": lang, "psm": psm, "config": list(config), "width": w, "height": h}
        deadline = time.monotonic() + timeout
        try:
            request = memoryview(json.dumps(head).encode() + b"\n" + image.tobytes())
            while request:
                request = request[os.write(self.proc.stdin.fileno(), request) :]
            line = self._receive(deadline, until_newline=True)
            answer = json.loads(line) if line is not None else None
            body = self._receive(deadline, size=int(answer["length"])) if answer else None
        except (OSError, ValueError, KeyError, TypeError) as e:
            self.stop(kill=True)
            raise _Ended from e
        if answer is None or body is None:
            self.stop(kill=True)
            _local.server = None
            return Reading("", "timeout")
        self.cpu = float(answer["cpu"])
        self.models = int(answer["models"])
        error = answer["error"]
        if error and error.startswith("missing"):
            raise MissingDependency(f"Tesseract: {error}; run: {INSTALL_HINT}")
        return Reading(body.decode("utf-8", "replace"), error)

    def _receive(
        self, deadline: float, *, until_newline: bool = False, size: int = 0
    ) -> bytes | None:
        """The answer's first line (``until_newline``) or its next ``size`` bytes, read from
        the pipe as they come; None when ``deadline`` passes first. OSError when the server
        ended."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while True:
            if until_newline and b"\n" in self.pending:
                line, _, self.pending = self.pending.partition(b"\n")
                return bytes(line)
            if not until_newline and len(self.pending) >= size:
                body, self.pending = self.pending[:size], self.pending[size:]
                return bytes(body)
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise OSError("the Tesseract server ended")
            self.pending += chunk

    def stop(self, *, kill: bool = False) -> None:
        """End the server (killed if ``kill``) and reap it, so its CPU seconds count among
        the children's."""
        _running.discard(self)
        if self.pid != os.getpid():
            return  # a parent's server: the parent ends it
        try:
            if kill:
                self.proc.kill()
            elif self.proc.stdin is not None:
                self.proc.stdin.close()
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        finally:
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            if self.proc.stdin is not None and not self.proc.stdin.closed:
                self.proc.stdin.close()

    def __del__(self) -> None:
        if self.proc.returncode is None:
            self.stop()


_running: weakref.WeakSet[_Server] = weakref.WeakSet()
_local = threading.local()


def _server() -> _Server:
    srv: _Server | None = getattr(_local, "server", None)
    if srv is None or srv.pid != os.getpid() or srv.proc.poll() is not None:
        srv = _local.server = _Server()
    return srv


def read(
    image: np.ndarray,
    *,
    lang: str,
    psm: int,
    config: tuple[str, ...] = (),
    timeout: float = 20.0,
) -> Reading:
    """Read an 8-bit grey ``image`` as ``tesseract IMAGE stdout -l LANG --psm PSM --oem 1
    [-c CONFIG]... tsv`` would (the words of its first page); a reading not done within
    ``timeout`` seconds is ended."""
    if image.ndim != 2 or image.size == 0:
        return Reading("", "tesseract_failed")
    img = np.ascontiguousarray(image, dtype=np.uint8)
    for _ in range(2):  # a server that ended under the reading: once more, by a new one
        srv = _server()
        try:
            return srv.ask(img, lang, psm, tuple(config), timeout)
        except _Ended:
            _local.server = None
    return Reading("", "tesseract_failed")


def cpu_seconds() -> float:
    """The CPU seconds of this process's servers still running (those ended are reaped:
    ``getrusage(RUSAGE_CHILDREN)`` counts them)."""
    return sum(s.cpu for s in list(_running) if s.pid == os.getpid())


@atexit.register
def _stop_all() -> None:
    for s in list(_running):
        s.stop()

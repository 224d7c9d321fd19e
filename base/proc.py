"""One timed runner for the external programs Dalel calls (tesseract, ffprobe, ffmpeg, ...).

:func:`run` starts a program from an argument list (never a shell), feeds it bytes or a file
on stdin, reads at most ``max_output`` bytes of each of its outputs, and kills it (with
everything it started) when the timeout passes. A missing program raises
:class:`~base.errors.ProgramMissing` (a :class:`~base.errors.BrokenEnvironment`, exit code 4,
whose fix names the Debian package). A timeout or a non-zero exit is not an exception: it is a
:class:`ProcResult` that the caller turns into its own recorded, degraded outcome.
"""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import IO, Any

from base.errors import ProgramMissing

DEFAULT_MAX_OUTPUT = 16 * 1024 * 1024
"""Bytes kept of each of stdout and stderr unless the caller says otherwise."""
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class ProcResult:
    """What one run of an external program gave."""

    argv: tuple[str, ...]
    """The command as run, the program resolved to its full path."""
    returncode: int
    """Exit status; negative (the signal) when the program was killed, e.g. on timeout."""
    stdout: bytes
    """Standard output, at most ``max_output`` bytes."""
    stderr: bytes
    """Standard error, at most ``max_output`` bytes."""
    timed_out: bool
    """True when the program was killed because the timeout passed."""
    elapsed: float
    """Seconds from start to end (or to the kill)."""
    stdout_truncated: bool = False
    """True when the program wrote more than ``max_output`` bytes to stdout."""
    stderr_truncated: bool = False
    """True when the program wrote more than ``max_output`` bytes to stderr."""

    @property
    def ok(self) -> bool:
        """True when the program finished in time with exit status 0."""
        return self.returncode == 0 and not self.timed_out

    def stderr_last_line(self, limit: int | None = None) -> str:
        """The last non-empty line of stderr (of its first ``limit`` bytes if given), decoded."""
        text = self.stderr[:limit].decode("utf-8", "replace")
        lines = [ln for ln in text.splitlines() if ln.strip()]
        return lines[-1].strip() if lines else ""


def run(
    argv: Sequence[str],
    *,
    timeout: float,
    package: str | None = None,
    stdin: bytes | None = None,
    stdin_file: str | os.PathLike[str] | None = None,
    max_output: int = DEFAULT_MAX_OUTPUT,
    env: Mapping[str, str] | None = None,
) -> ProcResult:
    """Run ``argv`` (program first, looked up on ``PATH``) and wait at most ``timeout`` seconds.

    ``stdin`` bytes or the file ``stdin_file`` is its standard input (neither: empty). ``env``
    replaces the environment (and its ``PATH`` is where the program is looked up). Output past
    ``max_output`` bytes per stream is read and dropped, so the program never blocks on a full
    pipe. The program runs in its own session; on timeout, or if this call is interrupted, the
    whole session is killed.

    Raises :class:`~base.errors.ProgramMissing` (exit code 4) when the program is not on
    ``PATH`` or cannot be started; its fix names the Debian ``package``.
    """
    if not argv:
        raise ValueError("empty command")
    if stdin is not None and stdin_file is not None:
        raise ValueError("give stdin bytes or stdin_file, not both")
    program = argv[0]
    search_path = env.get("PATH") if env is not None else None
    exe = shutil.which(program, path=search_path)
    if exe is None:
        raise ProgramMissing(program, package)
    command = (exe, *argv[1:])
    with ExitStack() as stack:
        source: IO[bytes] | int = subprocess.DEVNULL
        if stdin is not None:
            spool = stack.enter_context(tempfile.TemporaryFile())
            spool.write(stdin)
            spool.seek(0)
            source = spool
        elif stdin_file is not None:
            source = stack.enter_context(open(stdin_file, "rb"))
        started = time.monotonic()
        try:
            proc = subprocess.Popen(
                command,
                stdin=source,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=dict(env) if env is not None else None,
                start_new_session=True,
            )
        except OSError as exc:
            raise ProgramMissing(
                program, package, f"cannot run {exe}: {exc.strerror or exc}"
            ) from exc
        timed_out = True  # until the program is seen to finish in time
        try:
            out, err, timed_out = _collect(proc, started + timeout, max_output)
        finally:
            if timed_out or proc.poll() is None:
                _kill_session(proc)
            proc.wait()
            assert proc.stdout is not None and proc.stderr is not None
            proc.stdout.close()
            proc.stderr.close()
    return ProcResult(
        argv=command,
        returncode=proc.returncode,
        stdout=bytes(out.data),
        stderr=bytes(err.data),
        timed_out=timed_out,
        elapsed=time.monotonic() - started,
        stdout_truncated=out.truncated,
        stderr_truncated=err.truncated,
    )


class _Capped:
    """Bytes of one stream, kept up to a limit; the rest is counted as dropped."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()
        self.truncated = False

    def add(self, chunk: bytes) -> None:
        room = self.limit - len(self.data)
        if room > 0:
            self.data += chunk[:room]
        if len(chunk) > room:
            self.truncated = True


def _collect(
    proc: subprocess.Popen[bytes], deadline: float, max_output: int
) -> tuple[_Capped, _Capped, bool]:
    """Read both pipes until they close and the program exits, or the deadline passes."""
    assert proc.stdout is not None and proc.stderr is not None
    out, err = _Capped(max_output), _Capped(max_output)
    sinks: dict[Any, _Capped] = {proc.stdout: out, proc.stderr: err}
    with selectors.DefaultSelector() as sel:
        for pipe in sinks:
            sel.register(pipe, selectors.EVENT_READ)
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                return out, err, True
            for key, _events in sel.select(left):
                chunk = os.read(key.fd, _CHUNK)
                if chunk:
                    sinks[key.fileobj].add(chunk)
                else:
                    sel.unregister(key.fileobj)
    try:
        proc.wait(timeout=max(deadline - time.monotonic(), 0))
    except subprocess.TimeoutExpired:
        return out, err, True
    return out, err, False


def _kill_session(proc: subprocess.Popen[bytes]) -> None:
    """Kill the program and everything it started (it leads its own session)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass

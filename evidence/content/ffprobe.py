"""ffprobe behind the one timed runner (:mod:`base.proc`); this wrapper never raises.

The file is passed as ``file:`` + absolute path with only the file protocol allowed, so a
hostile name or playlist cannot make ffprobe reach the network.
"""

from __future__ import annotations

import enum
import json
import os
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from base import proc
from base.errors import BrokenEnvironment

FFPROBE_TIMEOUT_S = 30.0
FFPROBE_OUTPUT_LIMIT = 8 * 1024 * 1024
MAX_TEXT = 200


def clean_text(raw: object) -> str:
    """A metadata string made safe to store and print: decoded, control characters removed,
    whitespace collapsed, at most 200 characters."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    text = "".join(
        " " if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c for c in str(raw)
    )
    return " ".join(text.split())[:MAX_TEXT]


class ProbeStatus(enum.StrEnum):
    """Outcome of running ffprobe."""

    OK = "ok"
    NOT_INSTALLED = "not-installed"
    TIMEOUT = "timeout"
    FAILED = "failed"
    """ffprobe ran and could not read the file (exit status non-zero)."""
    BAD_OUTPUT = "bad-output"
    """ffprobe's output was not the JSON expected, or too large."""


@dataclass(frozen=True)
class ProbeResult:
    """What the ffprobe wrapper returns."""

    status: ProbeStatus
    """How the run went."""
    data: dict[str, Any]
    """ffprobe's JSON (``format`` and ``streams``); empty unless OK."""
    detail: str = ""
    """The last line of ffprobe's error output, or what went wrong."""


def run_ffprobe(
    path: str | os.PathLike[str], *, timeout_s: float = FFPROBE_TIMEOUT_S, program: str = "ffprobe"
) -> ProbeResult:
    """Run ffprobe on one local file, with a timeout; never raises.

    The file is passed as ``file:`` + absolute path with only the file protocol allowed, so a
    hostile name or playlist cannot make ffprobe reach the network. The output is parsed only
    if it is at most 8 MiB.
    """
    target = "file:" + os.path.abspath(os.fspath(path))
    cmd = [
        program,
        "-v",
        "error",
        "-hide_banner",
        "-protocol_whitelist",
        "file",
        "-print_format",
        "json",
        "-show_format",
        "-show_streams",
        "-i",
        target,
    ]
    try:
        res = proc.run(cmd, timeout=timeout_s, max_output=FFPROBE_OUTPUT_LIMIT, package="ffmpeg")
    except BrokenEnvironment as exc:
        return ProbeResult(ProbeStatus.NOT_INSTALLED, {}, exc.message)
    if res.timed_out:
        return ProbeResult(ProbeStatus.TIMEOUT, {}, f"no answer within {timeout_s:g} s")
    lines = res.stderr[:4096].decode("utf-8", "replace").replace(target, "<file>").splitlines()
    tail = clean_text(lines[-1]) if lines else ""
    if res.returncode != 0:
        return ProbeResult(ProbeStatus.FAILED, {}, tail or f"exit status {res.returncode}")
    if res.stdout_truncated:
        return ProbeResult(ProbeStatus.BAD_OUTPUT, {}, f"output over {FFPROBE_OUTPUT_LIMIT} bytes")
    try:
        data = json.loads(res.stdout.decode("utf-8", "replace"))
    except ValueError:
        return ProbeResult(ProbeStatus.BAD_OUTPUT, {}, "output is not JSON")
    if not isinstance(data, dict):
        return ProbeResult(ProbeStatus.BAD_OUTPUT, {}, "output is not a JSON object")
    return ProbeResult(ProbeStatus.OK, data, tail)


def parse_media_time(text: str) -> datetime | None:
    t = text.strip()
    if t.endswith("Z"):
        t = t[:-1] + "+00:00"
    t = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", t)
    try:
        moment = datetime.fromisoformat(t)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)

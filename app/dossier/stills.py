"""Stills from a video exhibit at stated timecodes, made with ffmpeg behind a timed wrapper."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

from base import proc
from base.errors import BrokenEnvironment, DalelError

OPERATION = "video-still"
"""Operation name recorded on still derivatives."""
FFMPEG_TIMEOUT_S = 60.0
"""Time allowed to ffmpeg for one still."""
FFMPEG_OUTPUT_LIMIT = 256 * 1024 * 1024
"""Bytes of output kept from ffmpeg (a PNG still of an 8K frame is under 100 MiB)."""


class FfmpegMissing(BrokenEnvironment, RuntimeError):
    """ffmpeg is not installed (exit code 4)."""

    fix = "install the Debian package ffmpeg: apt-get install ffmpeg"


class FfmpegFailed(DalelError, RuntimeError):
    """ffmpeg ran but failed on this input, or timed out (exit code 1)."""


@dataclass(frozen=True)
class StillResult:
    """Outcome of taking stills from one video."""

    stills: tuple[tuple[float, bytes], ...]
    """(timecode in seconds, PNG bytes) for each still made."""
    missing: tuple[float, ...]
    """Timecodes at which ffmpeg gave no frame (e.g. past the end of the video)."""


def run_ffmpeg(args: list[str], timeout: float = FFMPEG_TIMEOUT_S) -> bytes:
    """Run ffmpeg with ``args``; stdout bytes, or FfmpegMissing / FfmpegFailed."""
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", *args]
    try:
        res = proc.run(cmd, timeout=timeout, max_output=FFMPEG_OUTPUT_LIMIT, package="ffmpeg")
    except BrokenEnvironment as exc:
        raise FfmpegMissing("ffmpeg is not installed", fix=exc.fix) from exc
    if res.timed_out:
        raise FfmpegFailed(f"ffmpeg timed out after {timeout:.0f} s")
    if res.returncode != 0:
        raise FfmpegFailed(f"ffmpeg failed: {res.stderr_last_line() or res.returncode}")
    if res.stdout_truncated:
        raise FfmpegFailed(f"ffmpeg wrote more than {FFMPEG_OUTPUT_LIMIT} bytes")
    return res.stdout


def format_timecode(seconds: float) -> str:
    """``H:MM:SS.mmm`` for a number of seconds."""
    ms = round(seconds * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h}:{m:02d}:{s:02d}.{ms:03d}"


def extract_stills(
    video: bytes,
    timecodes: tuple[float, ...],
    *,
    timeout: float = FFMPEG_TIMEOUT_S,
    suffix: str = ".mp4",
) -> StillResult:
    """PNG stills of ``video`` at each of ``timecodes`` (seconds)."""
    stills: list[tuple[float, bytes]] = []
    missing: list[float] = []
    with tempfile.TemporaryDirectory(prefix="dalel-stills-") as tmp:
        src = os.path.join(tmp, "input" + suffix)
        with open(src, "wb") as fh:
            fh.write(video)
        for tc in timecodes:
            if tc < 0:
                raise ValueError(f"negative timecode {tc}")
            png = run_ffmpeg(
                [
                    "-ss",
                    f"{tc:.3f}",
                    "-i",
                    src,
                    "-frames:v",
                    "1",
                    "-f",
                    "image2pipe",
                    "-c:v",
                    "png",
                    "pipe:1",
                ],
                timeout=timeout,
            )
            if png.startswith(b"\x89PNG"):
                stills.append((tc, png))
            else:
                missing.append(tc)
    return StillResult(stills=tuple(stills), missing=tuple(missing))

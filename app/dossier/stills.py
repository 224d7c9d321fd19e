"""Stills from a video exhibit at stated timecodes, made with ffmpeg behind a timed wrapper."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

OPERATION = "video-still"
"""Operation name recorded on still derivatives."""
FFMPEG_TIMEOUT_S = 60.0
"""Time allowed to ffmpeg for one still."""


class FfmpegMissing(RuntimeError):
    """ffmpeg is not installed."""

    exit_code = 4


class FfmpegFailed(RuntimeError):
    """ffmpeg ran but failed on this input (or timed out)."""

    exit_code = 1


@dataclass(frozen=True)
class StillResult:
    """Outcome of taking stills from one video."""

    stills: tuple[tuple[float, bytes], ...]
    """(timecode in seconds, PNG bytes) for each still made."""
    missing: tuple[float, ...]
    """Timecodes at which ffmpeg gave no frame (e.g. past the end of the video)."""


def run_ffmpeg(args: list[str], timeout: float = FFMPEG_TIMEOUT_S) -> bytes:
    """Run ffmpeg with ``args``; stdout bytes, or FfmpegMissing / FfmpegFailed."""
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise FfmpegMissing("ffmpeg is not installed; install the Debian package ffmpeg")
    try:
        proc = subprocess.run([exe, "-nostdin", "-hide_banner", "-loglevel", "error", *args],
                              capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise FfmpegFailed(f"ffmpeg timed out after {timeout:.0f} s") from exc
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise FfmpegFailed(f"ffmpeg failed: {message[-1] if message else proc.returncode}")
    return proc.stdout


def format_timecode(seconds: float) -> str:
    """``H:MM:SS.mmm`` for a number of seconds."""
    ms = round(seconds * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h}:{m:02d}:{s:02d}.{ms:03d}"


def extract_stills(video: bytes, timecodes: tuple[float, ...], *,
                   timeout: float = FFMPEG_TIMEOUT_S, suffix: str = ".mp4") -> StillResult:
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
            png = run_ffmpeg(["-ss", f"{tc:.3f}", "-i", src, "-frames:v", "1",
                              "-f", "image2pipe", "-c:v", "png", "pipe:1"], timeout=timeout)
            if png.startswith(b"\x89PNG"):
                stills.append((tc, png))
            else:
                missing.append(tc)
    return StillResult(stills=tuple(stills), missing=tuple(missing))

"""Deterministic generators of sample evidence and hostile inputs, for tests and the demo.

Every generator takes a seed and writes the same bytes for the same arguments (Pillow's JPEG and
PNG encoders are deterministic; ffmpeg runs single-threaded with ``bitexact`` flags). Files are
small (a few KiB to a few dozen KiB), except `write_sparse`, which makes a multi-GB file that
takes no disk space (a hole made with truncate(2)).

`write_sample_set` writes the whole catalogue and returns what each file is meant to show.
"""

from __future__ import annotations

import io
import random
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from pathlib import Path

from PIL import Image, ImageDraw

from base import proc
from base.errors import BrokenEnvironment

ALMATY_PRECINCT = (43.2389, 76.8897)
"""A point in Almaty used as the sample precinct's location (decimal degrees)."""
FAR_AWAY = (51.1694, 71.4491)
"""A point in Astana, about 970 km from `ALMATY_PRECINCT`."""
KAZAKH_LETTERS = "ӘәҒғҚқҢңӨөҰұҮүҺһІі"
"""The letters of the Kazakh Cyrillic alphabet that Russian does not have."""
EDITOR_SOFTWARE = "Adobe Photoshop 25.0 (Windows)"
"""Software tag written into the 'edited' sample."""
FFMPEG_TIMEOUT_S = 60.0

# EXIF tag numbers (TIFF/EXIF 2.32).
_MAKE, _MODEL, _ORIENTATION, _SOFTWARE, _DATETIME = 0x010F, 0x0110, 0x0112, 0x0131, 0x0132
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_DATETIME_ORIGINAL, _DATETIME_DIGITIZED, _OFFSET_TIME_ORIGINAL = 0x9003, 0x9004, 0x9011


@dataclass(frozen=True)
class PhotoExif:
    """What a sample photo's EXIF says. None leaves the tag out."""

    capture_time: datetime | None = datetime(2026, 11, 20, 20, 15, 0)
    """Wall-clock time as a camera writes it (naive: EXIF keeps the offset separately)."""
    utc_offset: str | None = "+05:00"
    """EXIF OffsetTimeOriginal, e.g. ``+05:00`` (Kazakhstan)."""
    make: str | None = "samsung"
    model: str | None = "SM-A546E"
    software: str | None = "A546EXXU5BWK3"
    gps: tuple[float, float] | None = ALMATY_PRECINCT
    """(latitude, longitude) in decimal degrees."""
    orientation: int | None = 1


def _dms(value: float) -> tuple[Fraction, Fraction, Fraction]:
    value = abs(value)
    deg = int(value)
    minutes_f = (value - deg) * 60
    minutes = int(minutes_f)
    seconds = round((minutes_f - minutes) * 60, 4)
    return Fraction(deg), Fraction(minutes), Fraction(seconds).limit_denominator(10000)


def exif_bytes(meta: PhotoExif) -> bytes:
    """The EXIF block (TIFF structure) Pillow writes for `meta`."""
    exif = Image.Exif()
    if meta.make is not None:
        exif[_MAKE] = meta.make
    if meta.model is not None:
        exif[_MODEL] = meta.model
    if meta.software is not None:
        exif[_SOFTWARE] = meta.software
    if meta.orientation is not None:
        exif[_ORIENTATION] = meta.orientation
    if meta.capture_time is not None:
        stamp = meta.capture_time.strftime("%Y:%m:%d %H:%M:%S")
        exif[_DATETIME] = stamp
        sub = exif.get_ifd(_EXIF_IFD)
        sub[_DATETIME_ORIGINAL] = stamp
        sub[_DATETIME_DIGITIZED] = stamp
        if meta.utc_offset is not None:
            sub[_OFFSET_TIME_ORIGINAL] = meta.utc_offset
    if meta.gps is not None:
        lat, lon = meta.gps
        gps = exif.get_ifd(_GPS_IFD)
        gps[0] = b"\x02\x03\x00\x00"
        gps[1] = "N" if lat >= 0 else "S"
        gps[2] = _dms(lat)
        gps[3] = "E" if lon >= 0 else "W"
        gps[4] = _dms(lon)
    return exif.tobytes()


def _scene(seed: int, size: tuple[int, int]) -> Image.Image:
    rng = random.Random(seed)
    img = Image.new("RGB", size, (rng.randrange(90, 160),) * 3)
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        x0, y0 = rng.randrange(size[0]), rng.randrange(size[1])
        x1, y1 = x0 + rng.randrange(10, size[0] // 2), y0 + rng.randrange(10, size[1] // 2)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        if rng.random() < 0.5:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
        else:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
    draw.text((8, 8), f"sample {seed}", fill=(255, 255, 255))
    return img


def _protocol_page(seed: int, size: tuple[int, int], precinct: int) -> Image.Image:
    rng = random.Random(seed)
    img = Image.new("RGB", size, (246, 244, 238))
    draw = ImageDraw.Draw(img)
    w, h = size
    draw.text((20, 14), f"PROTOCOL  precinct No {precinct}", fill=(0, 0, 0))
    top, row_h = 44, max(16, (h - 60) // 14)
    for i in range(14):
        y = top + i * row_h
        draw.line((16, y, w - 16, y), fill=(60, 60, 60))
        draw.text((24, y + 3), f"{i + 1}.", fill=(0, 0, 0))
        draw.text((w - 90, y + 3), str(rng.randrange(0, 1500)), fill=(10, 10, 120))
    draw.line((w - 100, top, w - 100, top + 14 * row_h), fill=(60, 60, 60))
    return img


def image_bytes(
    seed: int = 0,
    *,
    fmt: str = "JPEG",
    exif: PhotoExif | None = PhotoExif(),
    size: tuple[int, int] = (320, 240),
    protocol_precinct: int | None = None,
) -> bytes:
    """Bytes of a generated photo: a seeded scene, or a protocol-like page when a precinct is
    given. JPEG carries `exif` (None: no EXIF at all, as messengers send it)."""
    if protocol_precinct is None:
        img = _scene(seed, size)
    else:
        img = _protocol_page(seed, size, protocol_precinct)
    buf = io.BytesIO()
    if fmt == "JPEG" and exif is not None:
        img.save(buf, "JPEG", quality=85, exif=exif_bytes(exif))
    elif fmt == "JPEG":
        img.save(buf, "JPEG", quality=85)
    else:
        img.save(buf, fmt)
    return buf.getvalue()


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def write_jpeg(
    path: Path,
    seed: int = 0,
    exif: PhotoExif | None = PhotoExif(),
    *,
    protocol_precinct: int | None = None,
) -> Path:
    """Write a JPEG photo with `exif` (None: stripped); a protocol-like page when
    `protocol_precinct` is given."""
    return _write(path, image_bytes(seed, exif=exif, protocol_precinct=protocol_precinct))


def write_png(path: Path, seed: int = 0) -> Path:
    """Write a PNG (a screenshot-like picture, no EXIF)."""
    return _write(path, image_bytes(seed, fmt="PNG"))


def ffmpeg_available() -> bool:
    """True when ffmpeg is on PATH."""
    return shutil.which("ffmpeg") is not None


def write_mp4(
    path: Path,
    seed: int = 0,
    *,
    duration_s: float = 2.0,
    creation_time: str | None = "2026-11-20T15:20:00Z",
    location: str | None = "+43.2389+076.8897/",
    faststart: bool = True,
    timeout_s: float = FFMPEG_TIMEOUT_S,
) -> Path:
    """Write a short, small H.264/AAC MP4 with ffmpeg, tagged with `creation_time` and an
    ISO 6709 `location`. Raises FileNotFoundError without ffmpeg, CalledProcessError on failure
    (TimeoutExpired past `timeout_s`)."""
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    pattern = rng.choice(["testsrc", "testsrc2", "smptebars", "rgbtestsrc"])
    freq = rng.randrange(220, 880)
    cmd = [
        "ffmpeg",
        "-nostdin",
        "-v",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        f"{pattern}=size=160x120:rate=10:duration={duration_s}",
        "-f",
        "lavfi",
        "-i",
        f"sine=frequency={freq}:duration={duration_s}",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-threads",
        "1",
        "-c:a",
        "aac",
        "-b:a",
        "32k",
        "-shortest",
        "-fflags",
        "+bitexact",
        "-flags:v",
        "+bitexact",
        "-flags:a",
        "+bitexact",
    ]
    if creation_time is not None:
        cmd += ["-metadata", f"creation_time={creation_time}"]
    if location is not None:
        cmd += ["-metadata", f"location={location}"]
    if faststart:
        cmd += ["-movflags", "+faststart"]
    cmd += ["-f", "mp4", str(path)]
    _run_tool(cmd, timeout_s, package="ffmpeg")
    return path


def write_heic(
    path: Path,
    seed: int = 0,
    exif: PhotoExif | None = PhotoExif(),
    *,
    timeout_s: float = FFMPEG_TIMEOUT_S,
) -> Path:
    """Write a real HEIC photo (HEVC in HEIF, with `exif` in an Exif item) with libheif's
    ``heif-enc`` (Debian package libheif-examples). Raises FileNotFoundError without it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    src = path.with_name(path.name + ".src.jpg")
    try:
        src.write_bytes(image_bytes(seed, exif=exif))
        _run_tool(
            ["heif-enc", "-q", "40", str(src), "-o", str(path)],
            timeout_s,
            package="libheif-examples",
        )
    finally:
        src.unlink(missing_ok=True)
    return path


def _run_tool(argv: list[str], timeout_s: float, *, package: str) -> None:
    """Run a tool that makes a sample, through the one timed runner (:func:`base.proc.run`).

    Keeps this module's contract: FileNotFoundError when the tool is missing (its message
    names the Debian package), TimeoutExpired or CalledProcessError when it fails.
    """
    try:
        res = proc.run(argv, timeout=timeout_s, package=package)
    except BrokenEnvironment as exc:
        raise FileNotFoundError(f"{exc.message}; {exc.fix}") from exc
    if res.timed_out:
        raise subprocess.TimeoutExpired(argv, timeout_s, res.stdout, res.stderr)
    if res.returncode != 0:
        raise subprocess.CalledProcessError(res.returncode, argv, res.stdout, res.stderr)


def write_truncated_heic(path: Path, seed: int = 0, keep: float = 0.7) -> Path:
    """A real HEIC cut to `keep` of its length: the meta box survives; the media data, which
    holds the image and (as libheif writes it) the Exif item, is cut."""
    write_heic(path, seed)
    data = path.read_bytes()
    return _write(path, data[: int(len(data) * keep)])


# --- hostile inputs ------------------------------------------------------------------------


def write_zero_byte(path: Path) -> Path:
    """An empty file."""
    return _write(path, b"")


def write_truncated_jpeg(path: Path, seed: int = 0, keep: float = 0.5) -> Path:
    """A JPEG with EXIF cut to `keep` of its length (no end-of-image marker; EXIF survives)."""
    data = image_bytes(seed)
    return _write(path, data[: max(4, int(len(data) * keep))])


def write_corrupt_png(path: Path, seed: int = 0) -> Path:
    """A PNG whose image data was overwritten with seeded garbage (CRC no longer matches)."""
    data = bytearray(image_bytes(seed, fmt="PNG"))
    start = data.find(b"IDAT") + 8
    rng = random.Random(seed)
    for i in range(start, min(start + 64, len(data) - 12)):
        data[i] = rng.randrange(256)
    return _write(path, bytes(data))


def write_truncated_mp4(
    path: Path, seed: int = 0, keep: float = 0.6, faststart: bool = True
) -> Path:
    """An MP4 cut to `keep` of its length. With faststart the moov box (metadata) survives and
    only media data is lost; without it the moov is lost and nothing can be read."""
    tmp = path.with_name(path.name + ".full.tmp")
    try:
        write_mp4(tmp, seed, faststart=faststart)
        data = tmp.read_bytes()
    finally:
        tmp.unlink(missing_ok=True)
    return _write(path, data[: int(len(data) * keep)])


def write_fake_heic(path: Path, seed: int = 0) -> Path:
    """A valid-looking HEIC ``ftyp`` box followed by seeded garbage."""
    ftyp = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"
    return _write(path, ftyp + random.Random(seed).randbytes(2048))


def write_png_named_jpg(path: Path, seed: int = 0) -> Path:
    """A PNG (give it a .jpg name: its extension lies)."""
    return _write(path, image_bytes(seed, fmt="PNG"))


def write_text_named_jpg(path: Path) -> Path:
    """Plain text (give it a .jpg name: its extension lies)."""
    return _write(path, "Бұл сурет емес. This is not a photo.\n".encode())


def write_sparse(path: Path, size: int = 3 * 1024**3, head: bytes = b"") -> Path:
    """A file of `size` bytes that starts with `head` and is a hole after it (like
    ``truncate -s``): it takes almost no disk space but reading it whole would take `size`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(head)
        fh.truncate(size)
    return path


def write_exif_bomb(path: Path, claimed: int = 200 * 1024**2, seed: int = 0) -> Path:
    """A JPEG whose EXIF Make tag claims `claimed` bytes of text, in a sparse file big enough to
    hold them: a reader that trusts the count reads (and allocates) all of it."""
    tiff = (
        b"MM\x00\x2a"
        + (8).to_bytes(4, "big")
        + (1).to_bytes(2, "big")
        + (_MAKE).to_bytes(2, "big")
        + (2).to_bytes(2, "big")
        + claimed.to_bytes(4, "big")
        + (26).to_bytes(4, "big")
        + (0).to_bytes(4, "big")
    )
    app1 = b"Exif\x00\x00" + tiff
    head = b"\xff\xd8\xff\xe1" + (len(app1) + 2).to_bytes(2, "big") + app1
    head += image_bytes(seed, exif=None)[2:]
    return write_sparse(path, claimed + 64 * 1024 + len(head), head)


# --- the catalogue ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One generated file and what it is meant to show."""

    path: Path
    mime: str
    """The content type the generator wrote."""
    shows: str
    """What the sample is for, for people."""
    hostile: bool = False
    tags: frozenset[str] = field(default_factory=frozenset)
    """Short labels tests select on: 'exif', 'edited', 'stripped', 'future', 'damaged', ..."""


def write_sample_set(
    directory: Path,
    seed: int = 0,
    *,
    with_video: bool = True,
    with_sparse: bool = False,
    with_heic: bool = False,
) -> dict[str, Sample]:
    """Write the whole catalogue into `directory` and describe it, keyed by a short id.
    Video needs ffmpeg; HEIC (off by default) needs heif-enc."""
    d = Path(directory)
    s: dict[str, Sample] = {}

    def add(key: str, path: Path, mime: str, shows: str, *tags: str, hostile: bool = False) -> None:
        s[key] = Sample(path, mime, shows, hostile, frozenset(tags))

    add(
        "photo",
        write_jpeg(d / "photo_exif.jpg", seed),
        "image/jpeg",
        "camera photo with capture time, make, model and GPS",
        "exif",
    )
    add(
        "edited",
        write_jpeg(d / "photo_edited.jpg", seed + 1, PhotoExif(software=EDITOR_SOFTWARE)),
        "image/jpeg",
        "photo whose EXIF names editing software",
        "exif",
        "edited",
    )
    add(
        "stripped",
        write_jpeg(d / "photo_from_messenger.jpg", seed + 2, None),
        "image/jpeg",
        "photo with EXIF stripped, as messengers send it",
        "stripped",
    )
    add(
        "future",
        write_jpeg(
            d / "photo_future.jpg", seed + 3, PhotoExif(capture_time=datetime(2031, 1, 1, 12, 0, 0))
        ),
        "image/jpeg",
        "photo whose capture time is in the future",
        "exif",
        "future",
    )
    add(
        "far",
        write_jpeg(d / "photo_far.jpg", seed + 4, PhotoExif(gps=FAR_AWAY)),
        "image/jpeg",
        "photo whose GPS is far from the precinct",
        "exif",
        "far",
    )
    add("png", write_png(d / "screenshot.png", seed + 5), "image/png", "PNG screenshot", "png")
    kazakh = "хаттама_учаске_№12_" + KAZAKH_LETTERS + ".jpg"
    add(
        "kazakh_name",
        write_jpeg(d / kazakh, seed + 6, protocol_precinct=12),
        "image/jpeg",
        "protocol photo whose name has Cyrillic and Kazakh letters",
        "exif",
        "unicode-name",
    )
    add(
        "empty",
        write_zero_byte(d / "empty.jpg"),
        "application/x-empty",
        "zero-byte file",
        "damaged",
        hostile=True,
    )
    add(
        "truncated_jpeg",
        write_truncated_jpeg(d / "truncated.jpg", seed + 7),
        "image/jpeg",
        "JPEG cut in half",
        "damaged",
        "exif",
        hostile=True,
    )
    add(
        "corrupt_png",
        write_corrupt_png(d / "corrupt.png", seed + 8),
        "image/png",
        "PNG with garbage in its image data",
        "damaged",
        hostile=True,
    )
    add(
        "fake_heic",
        write_fake_heic(d / "fake.heic", seed + 9),
        "image/heic",
        "ftyp box of a HEIC then garbage",
        "damaged",
        hostile=True,
    )
    add(
        "png_as_jpg",
        write_png_named_jpg(d / "really_a_png.jpg", seed + 10),
        "image/png",
        "PNG named .jpg",
        "lying-extension",
        hostile=True,
    )
    add(
        "text_as_jpg",
        write_text_named_jpg(d / "not_a_photo.jpg"),
        "text/plain",
        "text named .jpg",
        "lying-extension",
        hostile=True,
    )
    if with_video:
        add(
            "video",
            write_mp4(d / "video.mp4", seed),
            "video/mp4",
            "short MP4 with creation_time and location",
            "video",
        )
        add(
            "truncated_mp4",
            write_truncated_mp4(d / "truncated.mp4", seed + 1),
            "video/mp4",
            "MP4 cut short (metadata box survives)",
            "video",
            "damaged",
            hostile=True,
        )
        add(
            "truncated_mp4_no_moov",
            write_truncated_mp4(d / "truncated_no_moov.mp4", seed + 2, faststart=False),
            "video/mp4",
            "MP4 cut short before its metadata box",
            "video",
            "damaged",
            hostile=True,
        )
    if with_heic:
        add(
            "heic",
            write_heic(d / "photo.heic", seed + 14),
            "image/heic",
            "real HEIC photo with EXIF in its Exif item",
            "exif",
            "heic",
        )
        add(
            "truncated_heic",
            write_truncated_heic(d / "truncated.heic", seed + 15),
            "image/heic",
            "HEIC cut short in its media data",
            "damaged",
            "heic",
            hostile=True,
        )
    if with_sparse:
        head = image_bytes(seed)[:-2]  # a real JPEG start, then a 3 GB hole
        add(
            "sparse",
            write_sparse(d / "huge.jpg", head=head),
            "image/jpeg",
            "3 GB sparse file starting like a JPEG",
            "huge",
            hostile=True,
        )
    return s

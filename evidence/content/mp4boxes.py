"""The container tags of an MP4, MOV or 3GP video read from its boxes, in this process.

ffprobe costs a process and about 50 ms of CPU a video (Debian's loads 215 libraries),
which an ingest of a few videos among photos pays on the cores that copy and hash. The
tags a court asks about (capture time, place, camera, duration, codecs, size) sit in a
few boxes of the ``moov``, so they are read here, and the result has the shape of
ffprobe's JSON (``format`` and ``streams``), read by the same code.

Whatever this reader is not sure to read as ffprobe does (no ``ftyp`` first, no ``moov``,
a fragmented file, a codec or a tag value of a kind it does not know, a box that does not
add up) gives None, and ffprobe reads the file as before. It never raises, reads at most
:data:`MOOV_LIMIT` bytes of ``moov`` and walks at most :data:`MAX_BOXES` boxes.
"""

from __future__ import annotations

import os
import struct
from datetime import UTC, datetime
from typing import Any

from base.errors import DalelError

#: ffprobe's name for every file of this family (its ``mov`` demuxer).
FORMAT_NAME = "mov,mp4,m4a,3gp,3g2,mj2"
#: Largest ``moov`` read (a phone's hour of video has a few MiB of it).
MOOV_LIMIT = 32 * 1024 * 1024
#: Boxes walked at most, at the top and inside the ``moov``: a file of tiny boxes stops here.
MAX_BOXES = 20_000
#: Seconds from 1904-01-01 (the boxes' epoch) to 1970-01-01.
EPOCH_1904 = 2082844800

#: Sample entry -> ffprobe's codec_name, for the codecs phones and cameras write.
VIDEO_CODECS = {
    b"avc1": "h264",
    b"avc3": "h264",
    b"hvc1": "hevc",
    b"hev1": "hevc",
    b"av01": "av1",
    b"vp09": "vp9",
    b"mp4v": "mpeg4",
    b"s263": "h263",
    b"jpeg": "mjpeg",
}
AUDIO_CODECS = {
    b"Opus": "opus",
    b"samr": "amr_nb",
    b"sawb": "amr_wb",
    b"ac-3": "ac3",
    b"ec-3": "eac3",
    b".mp3": "mp3",
}
#: MPEG-4 objectTypeIndication of an ``mp4a`` entry -> codec_name.
MP4A_OBJECTS = {0x40: "aac", 0x66: "aac", 0x67: "aac", 0x68: "aac", 0x69: "mp3", 0x6B: "mp3"}
#: QuickTime text atoms of ``udta`` (and iTunes ``ilst`` items) -> ffprobe's tag key.
UDTA_KEYS = {
    b"\xa9day": "date",
    b"\xa9xyz": "location",
    b"\xa9mak": "make",
    b"\xa9mod": "model",
    b"\xa9too": "encoder",
    b"\xa9swr": "encoder",
    b"\xa9enc": "encoder",
}


#: The tags metadata reads (lowercased): a value of one of them this reader cannot read
#: sends the file to ffprobe; other tags are left out.
READ_KEYS = frozenset(
    {
        "com.apple.quicktime.creationdate",
        "creation_time",
        "date",
        "com.apple.quicktime.location.iso6709",
        "location",
        "com.apple.quicktime.make",
        "make",
        "com.apple.quicktime.model",
        "model",
        "com.apple.quicktime.software",
        "software",
        "encoder",
    }
)


def _put(tags: dict[str, str], key: str, value: str) -> None:
    """One tag; the same tag read twice with two values is left to ffprobe (which keeps the
    last it meets)."""
    if tags.get(key, value) != value:
        raise _Unsure(f"two values of {key}")
    tags[key] = value


class _Unsure(DalelError):
    """Something this reader leaves to ffprobe (never leaves :func:`probe`)."""


def probe(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """ffprobe's ``format`` and ``streams`` (the keys metadata reads) for the file at
    ``path``, read from its boxes; None when ffprobe should read it."""
    try:
        with open(path, "rb") as fh:
            return _probe(fh, os.fstat(fh.fileno()).st_size)
    except (_Unsure, OSError, ValueError, struct.error, IndexError, UnicodeDecodeError):
        return None


def _probe(fh: Any, size: int) -> dict[str, Any]:
    head = fh.read(16)
    if len(head) < 16 or head[4:8] != b"ftyp":
        raise _Unsure("no ftyp first")
    ftyp_size = struct.unpack(">I", head[:4])[0]
    if not 16 <= ftyp_size <= 4096 or ftyp_size % 4:
        raise _Unsure("ftyp")
    fh.seek(0)
    ftyp = fh.read(ftyp_size)
    major, minor = ftyp[8:12], struct.unpack(">I", ftyp[12:16])[0]
    tags: dict[str, str] = {
        "major_brand": _brand(major),
        "minor_version": str(minor),
        "compatible_brands": "".join(_brand(ftyp[i : i + 4]) for i in range(16, ftyp_size, 4)),
    }
    moov = _find_moov(fh, size, ftyp_size)
    return _read_moov(moov, tags)


def _brand(raw: bytes) -> str:
    if not all(32 <= c < 127 or c == 0 for c in raw):
        raise _Unsure("brand")
    return raw.decode("ascii").rstrip("\x00")


def _find_moov(fh: Any, size: int, pos: int) -> bytes:
    for _ in range(MAX_BOXES):
        if pos + 8 > size:
            break
        fh.seek(pos)
        hdr = fh.read(16)
        box_size, btype = struct.unpack(">I4s", hdr[:8])
        head = 8
        if box_size == 1:
            if len(hdr) < 16:
                raise _Unsure("cut")
            box_size, head = struct.unpack(">Q", hdr[8:16])[0], 16
        elif box_size == 0:
            box_size = size - pos
        if box_size < head or pos + box_size > size:
            raise _Unsure("a box past the end")
        if btype == b"moof":
            raise _Unsure("fragmented")
        if btype == b"moov":
            if box_size - head > MOOV_LIMIT:
                raise _Unsure("moov too large")
            fh.seek(pos + head)
            data: bytes = fh.read(box_size - head)
            if len(data) != box_size - head:
                raise _Unsure("moov cut")
            return data
        pos += box_size
    raise _Unsure("no moov")


class _Walk:
    """Boxes laid end to end in data[start:end], with a count shared over the walk."""

    def __init__(self) -> None:
        self.left = MAX_BOXES

    def boxes(self, data: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
        out: list[tuple[bytes, int, int]] = []
        pos = start
        while pos < end:
            self.left -= 1
            if self.left < 0 or pos + 8 > end:
                raise _Unsure("boxes")
            box_size, btype = struct.unpack(">I4s", data[pos : pos + 8])
            head = 8
            if box_size == 1:
                if pos + 16 > end:
                    raise _Unsure("boxes")
                box_size, head = struct.unpack(">Q", data[pos + 8 : pos + 16])[0], 16
            elif box_size == 0:
                box_size = end - pos
            if box_size < head or pos + box_size > end:
                raise _Unsure("a box past its parent's end")
            out.append((btype, pos + head, pos + box_size))
            pos += box_size
        return out

    def child(self, data: bytes, start: int, end: int, name: bytes) -> tuple[int, int] | None:
        for btype, s, e in self.boxes(data, start, end):
            if btype == name:
                return s, e
        return None


def _time(seconds: int) -> str | None:
    """A box's time as ffprobe writes it (seconds since 1904; a smaller value, as some
    writers put, is taken as seconds since 1970, as ffprobe takes it); None for 0 (not set)."""
    if seconds == 0:
        return None
    if seconds >= EPOCH_1904:
        seconds -= EPOCH_1904
    try:
        moment = datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise _Unsure("time") from None
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def _times_and_scale(data: bytes, s: int) -> tuple[int, int, int]:
    """(creation time, timescale, duration) of an ``mvhd`` or ``mdhd`` payload."""
    version = data[s]
    if version == 0:
        created, _, scale, duration = struct.unpack(">IIII", data[s + 4 : s + 20])
    elif version == 1:
        created, _, scale, duration = struct.unpack(">QQIQ", data[s + 4 : s + 32])
    else:
        raise _Unsure("header version")
    return created, scale, duration


def _read_moov(moov: bytes, tags: dict[str, str]) -> dict[str, Any]:
    walk = _Walk()
    top = walk.boxes(moov, 0, len(moov))
    names = [t for t, _, _ in top]
    if b"mvex" in names:
        raise _Unsure("fragmented")
    if names.count(b"mvhd") != 1:
        raise _Unsure("mvhd")
    fmt: dict[str, Any] = {"format_name": FORMAT_NAME, "tags": tags}
    streams: list[dict[str, Any]] = []
    for btype, s, e in top:
        if btype == b"mvhd":
            created, scale, duration = _times_and_scale(moov, s)
            if scale == 0 or duration in (0, 2**32 - 1, 2**64 - 1):
                # (no duration, or "unknown": ffprobe takes one from the streams)
                raise _Unsure("duration")
            fmt["duration"] = f"{duration / scale:.6f}"
            if (when := _time(created)) is not None:
                _put(tags, "creation_time", when)
        elif btype == b"trak":
            stream = _track(walk, moov, s, e)
            if stream is not None:
                streams.append(stream)
        elif btype == b"udta":
            _udta(walk, moov, s, e, tags)
        elif btype == b"meta":
            _meta(walk, moov, s, e, tags)
    return {"format": fmt, "streams": streams}


def _track(walk: _Walk, data: bytes, s: int, e: int) -> dict[str, Any] | None:
    mdia = walk.child(data, s, e, b"mdia")
    if mdia is None:
        raise _Unsure("trak without mdia")
    hdlr = walk.child(data, *mdia, b"hdlr")
    mdhd = walk.child(data, *mdia, b"mdhd")
    if hdlr is None or mdhd is None:
        raise _Unsure("mdia without hdlr or mdhd")
    kind = {b"vide": "video", b"soun": "audio"}.get(data[hdlr[0] + 8 : hdlr[0] + 12])
    if kind is None:
        return None  # timecode, text, hint...: not what metadata reads
    stream: dict[str, Any] = {"codec_type": kind, "tags": {}}
    created, _, _ = _times_and_scale(data, mdhd[0])
    if (when := _time(created)) is not None:
        stream["tags"]["creation_time"] = when
    minf = walk.child(data, *mdia, b"minf")
    stbl = walk.child(data, *minf, b"stbl") if minf else None
    stsd = walk.child(data, *stbl, b"stsd") if stbl else None
    if stsd is None:
        raise _Unsure("no stsd")
    entries = walk.boxes(data, stsd[0] + 8, stsd[1])
    if not entries:
        raise _Unsure("no sample entry")
    fourcc, es, ee = entries[0]
    if kind == "video":
        codec = VIDEO_CODECS.get(fourcc)
        if codec is None or ee - es < 28:
            raise _Unsure("video codec")
        width, height = struct.unpack(">HH", data[es + 24 : es + 28])
        if width == 0 or height == 0:
            raise _Unsure("video size")
        stream.update(codec_name=codec, width=width, height=height)
    else:
        codec = AUDIO_CODECS.get(fourcc) or (_mp4a(data, es, ee) if fourcc == b"mp4a" else None)
        if codec is None:
            raise _Unsure("audio codec")
        stream["codec_name"] = codec
    return stream


def _mp4a(data: bytes, s: int, e: int) -> str | None:
    """The codec of an ``mp4a`` entry: its ES descriptor's objectTypeIndication."""
    at = data.find(b"esds", s, e)
    if at < 0:
        return None
    pos = at + 8  # past the type and the full box's version and flags
    if pos >= e or data[pos] != 0x03:
        return None
    pos = _past_length(data, pos + 1, e) + 3  # ES_ID (2), flags (1)
    flags = data[pos - 1]
    if flags & 0x80:
        pos += 2
    if flags & 0x40:
        pos += 1 + data[pos]
    if flags & 0x20:
        pos += 2
    if pos >= e or data[pos] != 0x04:
        return None
    pos = _past_length(data, pos + 1, e)
    return MP4A_OBJECTS.get(data[pos]) if pos < e else None


def _past_length(data: bytes, pos: int, end: int) -> int:
    """Past a descriptor's length (1 to 4 bytes, 7 bits each)."""
    for _ in range(4):
        if pos >= end:
            raise _Unsure("descriptor")
        more = data[pos] & 0x80
        pos += 1
        if not more:
            return pos
    return pos


def _udta(walk: _Walk, data: bytes, s: int, e: int, tags: dict[str, str]) -> None:
    for btype, bs, be in walk.boxes(data, s, e):
        if btype == b"meta":
            _meta(walk, data, bs, be, tags)
        elif btype == b"loci":
            _put(tags, "location", _loci(data, bs, be))
        elif btype in UDTA_KEYS:
            if be - bs < 4:
                raise _Unsure("text atom")
            length = struct.unpack(">H", data[bs : bs + 2])[0]
            if bs + 4 + length > be:
                raise _Unsure("text atom")
            text = data[bs + 4 : bs + 4 + length].decode("utf-8").rstrip("\x00")
            _put(tags, UDTA_KEYS[btype], text)


def _loci(data: bytes, s: int, e: int) -> str:
    """A 3GPP ``loci`` box as ffprobe writes it: ISO 6709, then the place's name."""
    end = data.find(b"\x00", s + 6, e)
    if end < 0 or data[s + 6 : s + 8] in (b"\xfe\xff", b"\xff\xfe") or end + 13 > e:
        raise _Unsure("loci")
    place = data[s + 6 : end].decode("utf-8")
    # after the name's NUL: its role (1 byte), then longitude, latitude, altitude (16.16)
    longitude, latitude, altitude = (
        v / 65536 for v in struct.unpack(">iii", data[end + 2 : end + 14])
    )
    text = f"{latitude:+08.4f}{longitude:+09.4f}"
    if altitude:
        text += f"{altitude:+f}"
    return f"{text}/{place}"


def _meta(walk: _Walk, data: bytes, s: int, e: int, tags: dict[str, str]) -> None:
    """A ``meta`` box: iTunes items (``mdir``) or QuickTime keys (``mdta``)."""
    if s + 12 <= e and data[s + 4 : s + 8] == b"hdlr":
        start = s  # QuickTime's meta: no version and flags
    else:
        start = s + 4
    hdlr = walk.child(data, start, e, b"hdlr")
    ilst = walk.child(data, start, e, b"ilst")
    if hdlr is None or ilst is None:
        return
    handler = data[hdlr[0] + 8 : hdlr[0] + 12]
    names: dict[bytes, str] = {}
    if handler == b"mdta":
        keys = walk.child(data, start, e, b"keys")
        if keys is None:
            raise _Unsure("mdta without keys")
        count = struct.unpack(">I", data[keys[0] + 4 : keys[0] + 8])[0]
        pos = keys[0] + 8
        for index in range(1, count + 1):
            if pos + 8 > keys[1]:
                raise _Unsure("keys")
            ksize = struct.unpack(">I", data[pos : pos + 4])[0]
            if ksize < 8 or pos + ksize > keys[1]:
                raise _Unsure("keys")
            names[struct.pack(">I", index)] = data[pos + 8 : pos + ksize].decode("utf-8")
            pos += ksize
    elif handler == b"mdir":
        names = dict(UDTA_KEYS)
    else:
        return
    for btype, bs, be in walk.boxes(data, *ilst):
        key = names.get(btype)
        if key is None or key.lower() not in READ_KEYS:
            continue
        value = walk.child(data, bs, be, b"data")
        if value is None:
            raise _Unsure("item without data")
        kind = struct.unpack(">I", data[value[0] : value[0] + 4])[0] & 0xFFFFFF
        if kind != 1:  # only UTF-8 text is read here
            raise _Unsure("item of another type")
        _put(tags, key, data[value[0] + 8 : value[1]].decode("utf-8"))

"""A decompression bomb (300 KB of PNG that decodes to 2.5 gigapixels) is refused from its
header, before a pixel is decoded."""

from __future__ import annotations

import resource
import struct
import zlib

from ocr.prepare import ImageProblem, decode


def png_bomb(width: int, height: int) -> bytes:
    """A 1-bit black PNG of ``width`` x ``height``: tiny on disk, huge when decoded."""
    row = b"\x00" * (1 + (width + 7) // 8)
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def test_a_png_bomb_is_too_large_without_being_decoded():
    bomb = png_bomb(50_000, 50_000)
    assert len(bomb) < 1_000_000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert decode(bomb) is ImageProblem.TOO_LARGE
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 200_000  # decoded, it would take 2.5 GB (5.3 GB before this check)


def test_ocr_image_refuses_a_bomb_by_name(dalel, tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_bomb(30_000, 30_000))
    r = dalel("ocr-image", path, "--form", "kz-mazhilis-party-list-2023")
    assert r.code != 70 and "Traceback" not in r.err + r.out
    assert "image not readable: image_too_large" in r.out

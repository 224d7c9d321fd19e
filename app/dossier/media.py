"""Images for the dossier: display copies, data URIs and QR codes of hashes (pure)."""

from __future__ import annotations

import base64
import io

import qrcode
from PIL import Image, ImageOps, UnidentifiedImageError

from base.errors import DalelError

DISPLAY_MAX_PX = 1000
"""Longest side of an image as shown in the PDF (the original is attached unchanged)."""


class ImageUnreadable(DalelError, ValueError):
    """An exhibit that claims to be an image cannot be decoded."""


def data_uri(data: bytes, media_type: str) -> str:
    """``data:`` URI of ``data``."""
    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"


def display_jpeg(data: bytes, max_px: int = DISPLAY_MAX_PX, quality: int = 82) -> bytes:
    """A reduced, upright JPEG of an image for printing (EXIF orientation applied)."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
            scale = min(1.0, max_px / max(width, height))
            target = (max(1, int(width * scale)), max(1, int(height * scale)))
            if img.format == "JPEG" and scale < 1.0:
                img.draft("RGB", target)  # decode at a reduced scale: much cheaper
            upright = ImageOps.exif_transpose(img).convert("RGB")
            upright.thumbnail((max_px, max_px), Image.Resampling.BICUBIC, reducing_gap=None)
            out = io.BytesIO()
            upright.save(out, "JPEG", quality=quality, optimize=False)
            return out.getvalue()
    except (UnidentifiedImageError, OSError) as exc:
        raise ImageUnreadable(f"cannot decode image: {exc}") from exc


QR_MASK = 0
"""The QR codes' mask pattern, fixed: choosing the best of the eight scores each one, which
took most of a code's time (about 6 of 8 ms). Any mask reads the same; the hash held is
unchanged."""


def qr_png(text: str) -> bytes:
    """PNG of a QR code holding ``text`` (medium error correction, 4 pixels a module, mask
    :data:`QR_MASK`), drawn from the module matrix at once rather than box by box."""
    qr = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        box_size=4,
        border=2,
        mask_pattern=QR_MASK,
    )
    qr.add_data(text)
    qr.make(fit=True)
    matrix = qr.get_matrix()  # with the border
    n = len(matrix)
    pixels = bytes(0 if dark else 255 for row in matrix for dark in row)
    img = Image.frombytes("L", (n, n), pixels)
    img = img.resize((n * qr.box_size, n * qr.box_size), Image.Resampling.NEAREST).convert("1")
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()

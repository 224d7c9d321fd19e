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


def qr_png(text: str) -> bytes:
    """PNG of a QR code holding ``text`` (medium error correction)."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=4, border=2)
    qr.add_data(text)
    qr.make(fit=True)
    img = qr.make_image(fill_color="black", back_color="white")
    out = io.BytesIO()
    img.save(out)
    return out.getvalue()

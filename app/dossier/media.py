"""Images for the dossier: display copies, data URIs and QR codes of hashes (pure), and the
fetcher that serves them to WeasyPrint."""

from __future__ import annotations

import base64
import io
import re
from concurrent.futures import Future
from typing import Any

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


class MediaFetcher:
    """Images of the dossier served to WeasyPrint as ``dalel-media:N`` URLs.

    Cheaper than data URIs (no base64 through the HTML parser) and it refuses every
    other URL, so a template can never reach the network or the file system. An image may be
    registered while it is still being made (:meth:`add_pending`): WeasyPrint waits for it
    only when it needs it, after it has parsed the HTML and applied the styles.
    """

    SCHEME = "dalel-media:"

    def __init__(self) -> None:
        self._items: list[tuple[bytes | Future[bytes | None], str]] = []

    def add(self, data: bytes, media_type: str) -> str:
        """Register ``data`` and return its URL."""
        self._items.append((data, media_type))
        return f"{self.SCHEME}{len(self._items) - 1}"

    def add_pending(self, data: Future[bytes | None], media_type: str) -> str:
        """Register an image still being made (None: it could not be made) and return its URL."""
        self._items.append((data, media_type))
        return f"{self.SCHEME}{len(self._items) - 1}"

    def shown_in(self, html: str) -> list[bytes | Future[bytes | None]]:
        """The registered items ``html`` refers to (its ``dalel-media:N`` URLs)."""
        found = {int(n) for n in re.findall(re.escape(self.SCHEME) + r"(\d+)", html)}
        return [self._items[i][0] for i in sorted(found) if i < len(self._items)]

    def any_missing(self) -> bool:
        """True when an image registered pending could not be made (waits for each)."""
        return any(isinstance(data, Future) and data.result() is None for data, _ in self._items)

    def fetcher(self) -> Any:
        """A WeasyPrint URL fetcher serving the registered items only."""
        from weasyprint.urls import URLFetcher, URLFetcherResponse

        items = self._items
        scheme = self.SCHEME

        class _Fetcher(URLFetcher):  # type: ignore[misc]
            def fetch(self, url: str, headers: Any = None) -> Any:
                if not url.startswith(scheme):
                    raise ValueError(f"dossier templates may not load {url}")
                item, media_type = items[int(url[len(scheme) :])]
                data = item.result() if isinstance(item, Future) else item
                if data is None:
                    raise ValueError(f"{url} could not be made")
                return URLFetcherResponse(url, body=data, headers={"Content-Type": media_type})

        return _Fetcher()

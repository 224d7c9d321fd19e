"""The receipt-check page: served at ``/verify`` and written whole by ``dalel receipt page``.

The same template and the same script (:func:`web.bundle.verify_script`) make both. Served, the
script and style come from the server (its Content-Security-Policy allows only ``'self'``);
written to a file, they are inlined and the file carries its own policy naming their hashes,
so the one file works from a disk, a USB stick or any web host, offline.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import zlib
from urllib.parse import urlsplit

import jinja2

from evidence.core.keys import PublicKey
from web.bundle import STATIC, verify_script

_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(STATIC.parent / "templates")),
    autoescape=True,
    trim_blocks=False,
)


def fingerprint(key: PublicKey) -> str:
    """The key's fingerprint as the page shows it: SHA-256 of the raw key, groups of four."""
    digest = hashlib.sha256(key.raw).hexdigest()
    return " ".join(digest[i : i + 4] for i in range(0, len(digest), 4))


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def _safe_inline(script: str) -> str:
    """The script, made safe inside ``<script>``: no ``</script`` or ``<!--`` can end it."""
    out = re.sub(r"</(script)", r"<\\/\1", script, flags=re.IGNORECASE)
    return out.replace("<!--", "<\\!--")


_HOSTNAME = re.compile(r"[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?")
_IPV6 = re.compile(r"[0-9a-f:.]+")


def web_origin(url: str) -> str:
    """``scheme://host[:port]`` of an http(s) address, checked strictly: it goes into the
    page's security policy, where nothing may end the policy or add a source. ValueError for
    anything else."""
    u = urlsplit(url)
    try:
        port = u.port
    except ValueError:
        raise ValueError(f"{url!r} is not a web address") from None
    host = u.hostname or ""
    ok = _HOSTNAME.fullmatch(host) or (":" in host and _IPV6.fullmatch(host))
    if u.scheme not in ("http", "https") or u.username or u.password or not ok:
        raise ValueError(f"{url!r} is not a web address")
    return f"{u.scheme}://{f'[{host}]' if ':' in host else host}" + (f":{port}" if port else "")


def render(
    key: PublicKey | None,
    *,
    log_url: str = "",
    inline: bool = False,
    published_url: str = "",
    tiles_url: str = "",
) -> str:
    """The page pinning ``key``; ``log_url`` (the server's public address) is asked for the
    log's latest checkpoint and a consistency proof when online (served, the page asks its
    own server); ``tiles_url``: instead, the log published as tiles (``dalel log tiles``,
    served by any static server or CDN), the proof made from them in the browser; ``inline``
    makes the self-contained file; ``published_url``: where the page says the key is
    published (default ``log_url``)."""
    published = []
    if published_url or log_url:
        published.append(f"{published_url or log_url}/log/key")
    css = (STATIC / "verify" / "verify.css").read_text(encoding="utf-8")
    script = _safe_inline(verify_script()) if inline else ""
    html = _ENV.get_template("verify.html").render(
        key=key.verifier() if key else "",
        fingerprint=fingerprint(key) if key else "",
        log_url=log_url,
        tiles_url=tiles_url.rstrip("/"),
        published=published,
        inline=inline,
        css=css,
        script=script,
    )
    if inline:
        origins = []
        for url in (log_url, tiles_url):
            if url:
                origins.append(web_origin(url))
        connect = " ".join(dict.fromkeys(origins)) or "'none'"
        policy = (
            f"default-src 'none'; script-src {_csp_hash(script)}; style-src {_csp_hash(css)}; "
            f"connect-src {connect}; img-src data: blob:; "
            "media-src blob: mediastream:; base-uri 'none'; form-action 'none'"
        )
        meta = f'<meta http-equiv="Content-Security-Policy" content="{policy}">\n'
        html = html.replace('<meta charset="utf-8">\n', '<meta charset="utf-8">\n' + meta, 1)
    return html


def compact(receipt: dict) -> str:
    """A receipt as a QR code carries it: base64url (no padding) of raw DEFLATE of its JSON
    without ``entry`` (the signed line's own copy, put back by the page) and ``timestamp``
    (a token with its certificates does not fit in a QR code)."""
    slim = {k: v for k, v in receipt.items() if k not in ("entry", "timestamp")}
    text = json.dumps(slim, ensure_ascii=False, separators=(",", ":")).encode()
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    raw = packer.compress(text) + packer.flush()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def qr_link(base_url: str, receipt: dict) -> str:
    """The link a receipt's QR code holds: the receipt-check page, the receipt in its
    ``#fragment`` (never sent to a server)."""
    return f"{base_url.rstrip('/')}/verify#r={compact(receipt)}"


def qr_png(link: str) -> bytes:
    """The QR code of ``link`` as PNG (error correction L: a receipt is a long link)."""
    import io

    import qrcode
    from qrcode.constants import ERROR_CORRECT_L

    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_L, border=4, box_size=4)
    qr.add_data(link)
    qr.make(fit=True)
    buf = io.BytesIO()
    qr.make_image().save(buf, format="PNG")
    return buf.getvalue()

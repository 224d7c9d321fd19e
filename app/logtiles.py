"""The custody log published as C2SP tlog-tiles in a folder (``dalel log tiles --out DIR``),
and read back, from a folder or a web address, to check a receipt against it.

The folder can be served as it is by any static web server or CDN (full tiles never change:
serve them with ``Cache-Control: public, max-age=31536000, immutable``; ``checkpoint`` and the
partial tiles with a short max-age). Only hash tiles are written (:mod:`evidence.core.tiles`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from base.errors import UsageError
from evidence.storage import tiles_out
from evidence.storage.store import Store

MAX_FETCH = 1 << 20
"""The most a tile source may answer for one path (a full tile is 8 KiB)."""


@dataclass(frozen=True)
class TilesWritten:
    """What ``log tiles`` wrote."""

    out: Path
    size: int
    """The entries of the checkpoint published."""
    written: int
    """Tiles written now."""
    kept: int
    """Full tiles that were there already (they never change)."""
    follow: bool = False
    """Every commit keeps the folder up to date from now on."""

    def to_dict(self) -> dict[str, Any]:
        return {"out": str(self.out), "size": self.size, "written": self.written,
                "kept": self.kept, "follow": self.follow}  # fmt: skip


def write(store: Store, out: Path, *, follow: bool = False) -> TilesWritten:
    """Write or bring up to date in ``out`` the tiles of the store's latest signed checkpoint,
    then the checkpoint itself (last: a reader never finds a checkpoint whose tiles are not
    there yet). A full tile already there with other bytes is refused. With ``follow``, the
    config names the folder (``[log] tiles_dir``): every writer keeps it up to date after
    each commit from then on."""
    latest = store.latest_checkpoint()
    if latest is None:
        raise UsageError("the log has no checkpoint yet", fix="hand in a file first")
    done = tiles_out.write(store.load_tree(), latest, out, keep_newer=True)
    if follow:
        raw = dict(store.config.raw)
        raw["log"] = {**raw.get("log", {}), tiles_out.CONFIG_KEY: str(out.resolve())}
        store.write_config(raw)
    return TilesWritten(out, done.size, done.written, done.kept, follow)


def fetcher(source: str) -> Callable[[str], bytes]:
    """``fetch(path)`` for a tiles folder or a web address serving one (``https://…/log``)."""
    if source.startswith(("http://", "https://")):
        import httpx

        base = source.rstrip("/")
        try:
            httpx.URL(base)
        except (httpx.InvalidURL, ValueError):
            raise UsageError(
                f"{source!r} is not a web address", fix="e.g. https://cdn.example.org/log"
            ) from None
        client = httpx.Client(timeout=15, follow_redirects=False)

        def get(path: str) -> bytes:
            try:
                with client.stream("GET", f"{base}/{path}") as r:
                    if r.status_code != 200:
                        raise OSError(f"{base}/{path}: HTTP {r.status_code}")
                    data = b""
                    for chunk in r.iter_bytes():
                        data += chunk
                        if len(data) > MAX_FETCH:
                            raise OSError(f"{base}/{path}: more than {MAX_FETCH} bytes")
                    return data
            except (httpx.HTTPError, httpx.InvalidURL) as e:  # refused, timed out, cut
                raise OSError(f"{base}/{path}: {e}") from None

        return get
    root = Path(source)
    if not (root / "checkpoint").is_file():
        raise UsageError(
            f"{source} holds no checkpoint", fix="write it with: dalel log tiles --out DIR"
        )
    resolved = root.resolve()

    def read(path: str) -> bytes:
        p = (resolved / path).resolve()
        if not p.is_relative_to(resolved):
            raise OSError(f"{path} is outside {source}")
        with open(p, "rb") as f:
            data = f.read(MAX_FETCH + 1)
        if len(data) > MAX_FETCH:
            raise OSError(f"{p}: more than {MAX_FETCH} bytes")
        return data

    return read

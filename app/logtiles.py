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
from base.fsio import atomic_write, fsync_dir
from evidence.core import tiles
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

    def to_dict(self) -> dict[str, Any]:
        return {"out": str(self.out), "size": self.size, "written": self.written,
                "kept": self.kept}  # fmt: skip


def write(store: Store, out: Path) -> TilesWritten:
    """Write or bring up to date the tiles of the store's latest signed checkpoint in ``out``,
    then the checkpoint itself (last: a reader never finds a checkpoint whose tiles are not
    there yet). A full tile already there with other bytes is refused: the folder holds
    another log, or this log was rewritten."""
    latest = store.latest_checkpoint()
    if latest is None:
        raise UsageError("the log has no checkpoint yet", fix="hand in a file first")
    size = latest.checkpoint.size
    tree = store.load_tree()
    if tree.size < size:
        raise UsageError("the log is shorter than its latest checkpoint", fix="run dalel audit")
    out.mkdir(parents=True, exist_ok=True)
    written = kept = 0
    dirs: set[Path] = set()
    for path, data in tiles.tiles_of(tree, size):
        dest = out / path
        if dest.exists():
            if dest.read_bytes() == data:
                kept += ".p/" not in path
                continue
            if ".p/" not in path:
                raise UsageError(
                    f"{dest} holds another tile than this log's",
                    fix="publish into an empty folder, or the one this store published to",
                )
        dest.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(dest, data, durable=False)
        dirs.add(dest.parent)
        written += 1
    for d in dirs:
        fsync_dir(d)
    atomic_write(out / "checkpoint", latest.text.encode())
    return TilesWritten(out, size, written, kept)


def fetcher(source: str) -> Callable[[str], bytes]:
    """``fetch(path)`` for a tiles folder or a web address serving one (``https://…/log``)."""
    if source.startswith(("http://", "https://")):
        import httpx

        base = source.rstrip("/")
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
            except httpx.HTTPError as e:  # refused, timed out, cut: the source is unreachable
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

"""The log published as C2SP tlog-tiles (``dalel log tiles``) and receipts checked against it
(``dalel receipt verify --log DIR|URL``): from a folder and from a web server, across the
log's growth, and with a changed tile, another log's checkpoint or a missing tile."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from evidence.core import checkpoint as cp
from evidence.storage.store import Store
from tests.conftest import VALID_IIN, make_photo


def _checks(result) -> dict[str, tuple[str, str | None]]:
    return {c["check"]: (c["status"], c.get("reason")) for c in result.json()["checks"]}


def _ingest(dalel, store: Path, tmp_path: Path, n: int, start: int = 0) -> None:
    files = []
    for i in range(start, start + n):
        files.append(make_photo(tmp_path / "in" / f"p{i}.jpg", (i % 250, 40, 90)))
    r = dalel("--store", store, "ingest", *files, "--observer", VALID_IIN, "--precinct", "101")
    assert r.code == 0, r.err


PUBLISHED = ("published-checkpoint", "published-tiles", "published-log-consistent",
             "in-published-log")  # fmt: skip


def test_tiles_in_a_folder_check_every_receipt_and_grow_with_the_log(
    store_dir: Path, tmp_path: Path, dalel
) -> None:
    _ingest(dalel, store_dir, tmp_path, 3)
    out = tmp_path / "pub"
    r = dalel("--store", store_dir, "log", "tiles", "--out", out, "--json")
    assert r.code == 0, r.err
    store = Store.open(store_dir)
    size = store.latest_checkpoint().checkpoint.size
    assert r.json()["size"] == size and r.json()["written"] >= 1
    assert (out / "checkpoint").read_text() == store.latest_checkpoint().text
    assert (out / f"tile/0/000.p/{size}").stat().st_size == 32 * size
    first = sorted((store_dir / "receipts").glob("*.json"))[0]
    ok = dalel("receipt", "verify", first, "--key", store_dir / "public" / "log.pub",
               "--log", out, "--json")  # fmt: skip
    assert ok.code == 0, ok.out
    assert all(_checks(ok)[c] == ("PASSED", None) for c in PUBLISHED), _checks(ok)

    # the log grows past a full tile: the old receipt still holds against the new tiles
    _ingest(dalel, store_dir, tmp_path, 260, start=3)
    again = dalel("--store", store_dir, "log", "tiles", "--out", out, "--json")
    assert again.code == 0
    bigger = Store.open(store_dir).latest_checkpoint().checkpoint.size
    assert bigger > 256 and (out / "tile/0/000").stat().st_size == 256 * 32
    assert (out / "tile/1/000.p/1").exists()
    for receipt in (first, sorted((store_dir / "receipts").glob("*.json"))[-1]):
        r = dalel("receipt", "verify", receipt, "--log", out, "--json")
        assert r.code == 0, r.out
        assert _checks(r)["in-published-log"] == ("PASSED", None)
    # brought up to date again: full tiles kept as they are
    third = dalel("--store", store_dir, "log", "tiles", "--out", out, "--json").json()
    assert third["kept"] >= 1 and third["written"] <= 3


def test_a_changed_tile_another_logs_checkpoint_or_a_missing_tile_is_named(
    store_dir: Path, tmp_path: Path, dalel
) -> None:
    _ingest(dalel, store_dir, tmp_path, 4)
    out = tmp_path / "pub"
    assert dalel("--store", store_dir, "log", "tiles", "--out", out).code == 0
    receipt = sorted((store_dir / "receipts").glob("*.json"))[0]
    size = Store.open(store_dir).latest_checkpoint().checkpoint.size
    tile = out / f"tile/0/000.p/{size}"
    good = tile.read_bytes()

    changed = bytearray(good)
    changed[40] ^= 1  # the second leaf's hash
    tile.write_bytes(bytes(changed))
    r = dalel("receipt", "verify", receipt, "--log", out, "--json")
    assert r.code != 0 and _checks(r)["published-tiles"] == ("FAILED", "TILES_INVALID")
    tile.write_bytes(good[:-1])
    r = dalel("receipt", "verify", receipt, "--log", out, "--json")
    assert r.code != 0 and _checks(r)["published-tiles"] == ("INDETERMINATE", "LOG_UNREACHABLE")
    tile.unlink()
    r = dalel("receipt", "verify", receipt, "--log", out, "--json")
    assert r.code != 0 and _checks(r)["published-tiles"][1] == "LOG_UNREACHABLE"
    assert "Traceback" not in r.out + r.err
    tile.write_bytes(good)

    # another store's log published in its place
    from evidence.provision import init_store

    other = tmp_path / "other"
    init_store(other, org="Other")
    _ingest(dalel, other, tmp_path / "o", 2)
    (out / "checkpoint").write_text(Store.open(other).latest_checkpoint().text)
    r = dalel("receipt", "verify", receipt, "--log", out, "--json")
    assert r.code != 0
    assert _checks(r)["published-checkpoint"] == ("FAILED", "CHECKPOINT_SIGNATURE_INVALID")

    # a folder with no checkpoint is a usage error, plainly
    empty = tmp_path / "empty"
    empty.mkdir()
    r = dalel("receipt", "verify", receipt, "--log", empty)
    assert r.code == 2 and "holds no checkpoint" in r.err


def test_a_folder_holding_another_logs_full_tile_is_refused(
    store_dir: Path, tmp_path: Path, dalel
) -> None:
    _ingest(dalel, store_dir, tmp_path, 260)
    out = tmp_path / "pub"
    assert dalel("--store", store_dir, "log", "tiles", "--out", out).code == 0
    full = out / "tile/0/000"
    full.write_bytes(bytes(32) + full.read_bytes()[32:])
    r = dalel("--store", store_dir, "log", "tiles", "--out", out)
    assert r.code == 2 and "another tile" in r.err


@pytest.fixture
def web(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A plain static web server on loopback serving a folder (as a CDN would)."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/log", root
    server.shutdown()


def test_a_receipt_is_checked_against_tiles_served_over_http(
    store_dir: Path, tmp_path: Path, dalel, web
) -> None:
    url, root = web
    _ingest(dalel, store_dir, tmp_path, 5)
    assert dalel("--store", store_dir, "log", "tiles", "--out", root / "log").code == 0
    receipt = sorted((store_dir / "receipts").glob("*.json"))[2]
    r = dalel("receipt", "verify", receipt, "--log", url, "--json")
    assert r.code == 0, r.out
    assert all(_checks(r)[c] == ("PASSED", None) for c in PUBLISHED)
    shutil.rmtree(root / "log" / "tile")
    r = dalel("receipt", "verify", receipt, "--log", url, "--json")
    assert r.code != 0 and _checks(r)["published-tiles"] == ("INDETERMINATE", "LOG_UNREACHABLE")
    down = dalel("receipt", "verify", receipt, "--log", "http://127.0.0.1:9/log", "--json")
    assert down.code != 0
    assert _checks(down)["published-log"] == ("INDETERMINATE", "LOG_UNREACHABLE")
    assert cp.parse((root / "log" / "checkpoint").read_text()).checkpoint.size >= 5


def test_with_follow_every_commit_keeps_the_tiles_up_to_date(
    store_dir: Path, tmp_path: Path, dalel
) -> None:
    """`log tiles --follow`: from then on each writer's commits write the tiles they changed
    and the new checkpoint, from the tree in memory; what they write equals a full
    publication of the same log."""
    _ingest(dalel, store_dir, tmp_path, 2)
    out = tmp_path / "followed"
    r = dalel("--store", store_dir, "log", "tiles", "--out", out, "--follow", "--json")
    assert r.code == 0 and r.json()["follow"] is True
    assert Store.open(store_dir).config.raw["log"]["tiles_dir"] == str(out.resolve())
    for batch in range(3):  # three more commands, each its own writer and commits
        _ingest(dalel, store_dir, tmp_path, 120, start=10 + 200 * batch)
        head = Store.open(store_dir).latest_checkpoint()
        assert (out / "checkpoint").read_text() == head.text
    size = Store.open(store_dir).latest_checkpoint().checkpoint.size
    assert size > 256 and (out / "tile/0/000").exists()
    fresh = tmp_path / "fresh"
    assert dalel("--store", store_dir, "log", "tiles", "--out", fresh).code == 0
    for f in fresh.rglob("*"):
        if f.is_file():
            assert (out / f.relative_to(fresh)).read_bytes() == f.read_bytes(), f
    receipt = sorted((store_dir / "receipts").glob("*.json"))[-1]
    ok = dalel("receipt", "verify", receipt, "--log", out, "--json")
    assert ok.code == 0 and _checks(ok)["in-published-log"] == ("PASSED", None)
    # a folder that cannot be written does not stop a commit: the log goes on, the folder
    # catches up at the next commit that can write it
    (out / "tile").rename(out / "tile.away")
    (out / "tile").write_bytes(b"not a folder")
    _ingest(dalel, store_dir, tmp_path, 3, start=900)
    assert (out / "checkpoint").read_text() == receipt_head(receipt)
    (out / "tile").unlink()
    (out / "tile.away").rename(out / "tile")
    _ingest(dalel, store_dir, tmp_path, 2, start=950)
    assert (out / "checkpoint").read_text() == Store.open(store_dir).latest_checkpoint().text


def receipt_head(receipt: Path) -> str:
    """The checkpoint a receipt names (the latest when it was written)."""
    import json

    return json.loads(receipt.read_text())["checkpoint"]


def test_a_receipt_newer_than_the_published_log_is_not_yet_checkable_not_failed(
    store_dir: Path, tmp_path: Path, dalel
) -> None:
    """Tiles published on a schedule (or cached by a CDN) lag behind the newest receipts:
    that is INDETERMINATE 'LOG_BEHIND', not a broken log."""
    _ingest(dalel, store_dir, tmp_path, 3)
    out = tmp_path / "pub"
    assert dalel("--store", store_dir, "log", "tiles", "--out", out).code == 0
    _ingest(dalel, store_dir, tmp_path, 2, start=10)
    newest = sorted((store_dir / "receipts").glob("*.json"))[-1]
    r = dalel("receipt", "verify", newest, "--log", out, "--json")
    assert r.code != 0
    got = _checks(r)
    assert got["published-log-consistent"] == ("INDETERMINATE", "LOG_BEHIND")
    assert "in-published-log" not in got and got["published-tiles"] == ("PASSED", None)
    # a bad address is a usage error, plainly, never an internal error
    bad = dalel("receipt", "verify", newest, "--log", "http://[::1/log")
    assert bad.code == 2 and "not a web address" in bad.err


def test_a_slower_publication_never_puts_an_older_checkpoint_over_a_newer_one(
    tmp_path: Path,
) -> None:
    from evidence.core import merkle
    from evidence.core.keys import SigningKey
    from evidence.storage import tiles_out

    key = SigningKey.generate("dalel.kz/test/0001")
    tree = merkle.MerkleTree(merkle.leaf_hash(b"%d" % i) for i in range(300))

    def head(n: int) -> cp.SignedCheckpoint:
        return cp.parse(cp.sign(cp.Checkpoint(key.name, n, tree.root(n)), key))

    out = tmp_path / "t"
    tiles_out.write(tree, head(300), out)  # a writer's hook, first
    tiles_out.write(tree, head(200), out, keep_newer=True)  # `log tiles` from an older tree
    assert cp.parse((out / "checkpoint").read_text()).checkpoint.size == 300
    tiles_out.write(tree, head(200), out)  # (a hook publishes what its commit signed)
    assert cp.parse((out / "checkpoint").read_text()).checkpoint.size == 200

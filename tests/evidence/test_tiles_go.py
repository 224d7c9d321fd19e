"""Interoperability: Go's own checksum-database code (golang.org/x/mod/sumdb/tlog and
sumdb/note, from Debian's golang-golang-x-mod-dev) reads the tiles ``dalel log tiles`` writes,
verifies the checkpoint's signed note and checks an inclusion proof for every entry of the
log; it must agree with Dalel on every leaf, and refuse a changed tile or another key."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, VALID_IIN, make_photo

pytestmark = pytest.mark.slow
SOURCE = ROOT / "testing" / "tlogcheck"


@pytest.fixture(scope="module")
def tlogcheck(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("go")
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": "/usr/share/gocode",
           "GOCACHE": str(out / "cache"), "HOME": str(out), "GOFLAGS": ""}  # fmt: skip
    r = subprocess.run(["go", "build", "-o", str(out / "tlogcheck"), "."], cwd=SOURCE, env=env,
                       capture_output=True, text=True, timeout=600)  # fmt: skip
    assert r.returncode == 0, r.stderr
    return out / "tlogcheck"


def test_go_sumdb_agrees_with_dalel_on_every_leaf(tlogcheck, store_dir, tmp_path, dalel) -> None:
    files = [make_photo(tmp_path / "in" / f"p{i}.jpg", (i % 250, 60, 20)) for i in range(300)]
    r = dalel("--store", store_dir, "ingest", *files, "--observer", VALID_IIN, "--precinct", "7")
    assert r.code == 0, r.err
    out = tmp_path / "pub"
    assert dalel("--store", store_dir, "log", "tiles", "--out", out).code == 0
    key = (store_dir / "public" / "log.pub").read_text()
    log = store_dir / "log" / "custody.jsonl"
    ok = subprocess.run([tlogcheck, out, key, log], capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    size = int(ok.stdout.split()[1])
    assert ok.stdout.startswith("ok ") and size > 256  # a full tile and a partial one

    # a changed leaf hash in a tile: Go refuses it (its tile check against the root)
    tile = out / "tile/0/000"
    good = tile.read_bytes()
    tile.write_bytes(good[:100] + bytes([good[100] ^ 1]) + good[101:])
    bad = subprocess.run([tlogcheck, out, key, log], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and bad.stderr
    tile.write_bytes(good)
    # another log's key does not open the checkpoint
    from evidence.core.keys import SigningKey

    stranger = SigningKey.generate(key.split("+")[0]).public.verifier()
    other = subprocess.run([tlogcheck, out, stranger, log], capture_output=True, text=True,
                           timeout=300)  # fmt: skip
    assert other.returncode == 1 and "checkpoint signature" in other.stderr

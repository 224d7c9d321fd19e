"""The receipt-check page's verifier (JavaScript, run by node) agrees with the CLI's on good
receipts and every tamper case: the same checks, statuses, named reasons and sub-reasons. It
also verifies the Go sumdb signed-note test vector, and RFC 9162 proofs of every shape."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from evidence.core import merkle, receipts
from evidence.core.keys import PublicKey
from evidence.provision import init_store
from evidence.storage.store import Store
from testing.receipt_cases import cases
from web.bundle import BundleError, bundle, verifier_script

NODE = shutil.which("node") or "/usr/bin/node"

# golang.org/x/mod/sumdb/note, note_test.go: the published signed-note test vector.
GO_KEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_SIG = (
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
)
GO_NOTE = GO_TEXT + "\n\u2014 PeterNeumann " + GO_SIG + "\n"

HARNESS = """
const v = globalThis.__dalelModules['verify/verifier.js'];
const job = JSON.parse(require('fs').readFileSync(process.argv[2], 'utf8'));
const out = {};
for (const [name, c] of Object.entries(job.receipts || {})) {
  out[name] = v.verifyReceipt(c.receipt, c.pinned);
}
out.notes = (job.notes || []).map(([note, key]) => v.verifyNote(note, key));
const b = (xs) => xs.map(v.b64decode);
out.inclusion = (job.inclusion || []).map(([i, n, leaf, proof, root]) =>
  v.verifyInclusion(i, n, v.b64decode(leaf), b(proof), v.b64decode(root)));
out.consistency = (job.consistency || []).map(([m, n, r1, r2, proof]) =>
  v.verifyConsistency(m, n, v.b64decode(r1), v.b64decode(r2), b(proof)));
out.loads = (job.loads || []).map((text) => {
  try { v.loadReceipt(text); return null; } catch (e) { return e.message; }
});
process.stdout.write(JSON.stringify(out));
"""


def node(job: dict, tmp_path: Path) -> dict:
    script = tmp_path / "verifier.js"
    script.write_text(verifier_script() + HARNESS)
    data = tmp_path / "job.json"
    data.write_text(json.dumps(job))
    p = subprocess.run([NODE, str(script), str(data)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def _triples(checks: list[dict]) -> list[tuple]:
    return [(c["check"], c["status"], c["reason"], tuple(c["sub_reasons"])) for c in checks]


def test_node_and_the_cli_agree_on_every_receipt_case(filled_store, tmp_path):
    other = tmp_path / "other"
    init_store(other, org="Other")
    all_cases = cases(filled_store, Store.open(other).public_key().verifier())
    got = node(
        {"receipts": {c.name: {"receipt": c.receipt, "pinned": c.pinned} for c in all_cases}},
        tmp_path,
    )
    seen_reasons: set[str] = set()
    for c in all_cases:
        pinned = PublicKey.from_verifier(c.pinned) if c.pinned else None
        py = receipts.verify(c.receipt, pinned).to_dict()
        js = got[c.name]
        assert _triples(js["checks"]) == _triples(py["checks"]), c.name
        assert (js["ok"], js["item_sha256"], js["leaf_index"]) == (
            py["ok"],
            py["item_sha256"],
            py["leaf_index"],
        ), c.name
        seen_reasons |= {ch["reason"] for ch in js["checks"] if ch["reason"]}
        holds = c.name.startswith("good") or c.name == "no-timestamp"  # a warning only
        assert holds == js["ok"], c.name
    # every named reason a receipt alone can fail with was exercised
    assert seen_reasons >= {
        "MALFORMED",
        "KEY_NOT_PINNED",
        "KEY_MISMATCH",
        "SIGNATURE_INVALID",
        "ENTRY_MISMATCH",
        "CHECKPOINT_SIGNATURE_INVALID",
        "PROOF_INVALID",
        "TIMESTAMP_INVALID",
        "NO_TIMESTAMP",
        "TSA_ROOT_NOT_PINNED",
    }


def test_the_go_sumdb_signed_note_vector(tmp_path):
    key = PublicKey.from_verifier(GO_KEY)
    raw = base64.b64decode(GO_SIG)
    assert raw[:4] == key.id and key.verify(raw[4:], GO_TEXT.encode())  # the CLI's side
    other = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
    got = node(
        {
            "notes": [
                [GO_NOTE, GO_KEY],
                [GO_NOTE.replace("cryptography", "cryptographY"), GO_KEY],
                [GO_NOTE, other],
                [GO_NOTE.replace("PeterNeumann x08", "PeterNeumann x09"), GO_KEY],
                [GO_NOTE, GO_KEY.replace("+c74f20a3+", "+c74f20a4+")],
                [GO_TEXT, GO_KEY],
            ]
        },
        tmp_path,
    )
    assert got["notes"] == [True, False, False, False, False, False]


def test_merkle_proofs_of_every_shape_agree(tmp_path):
    tree = merkle.MerkleTree()
    for i in range(33):
        tree.append(merkle.leaf_hash(f"leaf {i}".encode()))
    b = lambda h: base64.b64encode(h).decode()  # noqa: E731
    inclusion, consistency, expect_inc, expect_con = [], [], [], []
    for n in range(1, 34):
        root = tree.root(n)
        for i in range(n):
            proof = [b(h) for h in tree.inclusion_proof(i, n)]
            inclusion.append([i, n, b(tree.leaf(i)), proof, b(root)])
            expect_inc.append(True)
            if proof:  # a tampered hash, and the wrong index
                inclusion.append([i, n, b(tree.leaf(i)), [b(b"\0" * 32)] + proof[1:], b(root)])
                inclusion.append([(i + 1) % n, n, b(tree.leaf(i)), proof, b(root)])
                expect_inc += [False, False]
        for m in range(1, n + 1):
            proof = [b(h) for h in tree.consistency_proof(m, n)]
            consistency.append([m, n, b(tree.root(m)), b(root), proof])
            expect_con.append(True)
            if proof:
                consistency.append([m, n, b(tree.root(m)), b(root), proof[:-1]])
                expect_con.append(False)
    got = node({"inclusion": inclusion, "consistency": consistency}, tmp_path)
    assert got["inclusion"] == expect_inc
    assert got["consistency"] == expect_con
    for (i, n, leaf, proof, root), ok in zip(inclusion, expect_inc, strict=True):
        assert (
            merkle.verify_inclusion(
                i,
                n,
                base64.b64decode(leaf),
                [base64.b64decode(p) for p in proof],
                base64.b64decode(root),
            )
            == ok
        )


def test_receipt_files_beyond_the_limits_are_refused_as_the_cli_does(tmp_path):
    texts = ["[" * 40 + "]" * 40, "not json", " " * (receipts.MAX_BYTES + 1), '{"format": 1}']
    got = node({"loads": texts}, tmp_path)["loads"]
    assert "nested deeper" in got[0] and "not JSON" in got[1] and "larger than" in got[2]
    assert got[3] is None  # JSON: what it holds is the verifier's to judge


def test_the_bundler_refuses_what_it_cannot_read(tmp_path, monkeypatch):
    import web.bundle as wb

    static = tmp_path / "static"
    (static / "x").mkdir(parents=True)
    monkeypatch.setattr(wb, "STATIC", static)
    (static / "x" / "a.js").write_text("export default function () {}\n")
    with pytest.raises(BundleError, match="cannot bundle"):
        bundle(static / "x" / "a.js")
    (static / "x" / "b.js").write_text('import { q } from "some-package";\n')
    with pytest.raises(BundleError, match="bare import"):
        bundle(static / "x" / "b.js")
    (static / "x" / "c.js").write_text('import { q } from "../../../etc/passwd";\n')
    with pytest.raises(BundleError, match="leaves the static folder"):
        bundle(static / "x" / "c.js")


TILES_HARNESS = """
const v = globalThis.__dalelModules['verify/verifier.js'];
const fs = require('fs');
const path = require('path');
const job = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const read = (dir) => async (p) => new Uint8Array(fs.readFileSync(path.join(dir, p)));
(async () => {
  const out = { proofs: [], checks: {}, paths: job.paths.map((n) => v.tileIndexPath(n)) };
  const tiles = new v.TileHashes(read(job.dir), job.size);
  for (const m of job.froms) {
    const proof = await tiles.consistencyProof(m, job.size);
    out.proofs.push(proof.map((h) => Buffer.from(h).toString('base64')));
  }
  for (const [name, dir] of Object.entries(job.dirs)) {
    try {
      const { latestText, hashes, behind } = await v.latestFromTiles(job.receipt, read(dir));
      out.checks[name] = behind
        ? { status: 'BEHIND' }
        : v.consistencyCheck(job.receipt, latestText, hashes, job.key);
    } catch (e) {
      out.checks[name] = { status: 'ERROR', detail: e.message };
    }
  }
  process.stdout.write(JSON.stringify(out));
})();
"""


def test_the_page_proves_consistency_from_the_tiles_alone(filled_store, tmp_path, dalel):
    """The receipt-check page, given the log's tiles (`receipt page --tiles-url`), makes the
    consistency proof itself from static files: equal to the store's own proof for every old
    size, accepted for a real receipt, refused when a tile was changed."""
    from tests.conftest import VALID_IIN, make_photo

    files = [make_photo(tmp_path / "in" / f"p{i}.jpg", (i % 250, 9, 99)) for i in range(300)]
    r = dalel("--store", filled_store, "ingest", *files, "--observer", VALID_IIN, "--precinct", "5")
    assert r.code == 0, r.err
    out = tmp_path / "pub"
    assert dalel("--store", filled_store, "log", "tiles", "--out", out).code == 0
    store = Store.open(filled_store)
    size = store.latest_checkpoint().checkpoint.size
    tree = store.load_tree()
    froms = [1, 2, 3, 7, 100, 255, 256, 257, size - 1, size]
    changed = tmp_path / "changed"
    shutil.copytree(out, changed)
    tile = changed / "tile/0/000"
    raw = bytearray(tile.read_bytes())
    raw[7] ^= 1
    tile.write_bytes(bytes(raw))
    receipt = json.loads(sorted((filled_store / "receipts").glob("*.json"))[0].read_text())
    # tiles published before the receipt's commit (a CDN's cached copy, say)
    early = tmp_path / "early"
    tree_early = merkle.MerkleTree(tree.leaf(i) for i in range(2))
    from evidence.core import checkpoint as cp
    from evidence.storage import tiles_out

    old_head = cp.parse(cp.sign(cp.Checkpoint(store.config.origin, 2, tree_early.root()),
                                store.log_key))  # fmt: skip
    tiles_out.write(tree_early, old_head, early)
    script = tmp_path / "tiles.js"
    script.write_text(verifier_script() + TILES_HARNESS)
    job = tmp_path / "tiles.json"
    job.write_text(json.dumps({
        "dir": str(out), "size": size, "froms": froms, "receipt": receipt,
        "key": store.public_key().verifier(),
        "dirs": {"good": str(out), "changed": str(changed), "early": str(early)},
        "paths": [0, 5, 1000, 1234067],
    }))  # fmt: skip
    p = subprocess.run([NODE, str(script), str(job)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    assert got["paths"] == ["000", "005", "x001/000", "x001/x234/067"]
    for m, proof in zip(froms, got["proofs"], strict=True):
        expected = [base64.b64encode(h).decode() for h in tree.consistency_proof(m, size)]
        assert proof == expected, m
    assert got["checks"]["good"]["status"] == "PASSED", got["checks"]
    assert got["checks"]["changed"]["status"] == "FAILED"
    assert got["checks"]["changed"]["reason"] == "CONSISTENCY_INVALID"
    assert got["checks"]["early"]["status"] == "BEHIND"  # not yet published: not a failure


def test_a_page_written_with_tiles_asks_them_and_its_policy_lets_it(tmp_path, filled_store, dalel):
    out = tmp_path / "page.html"
    r = dalel("--store", filled_store, "receipt", "page", out, "--tiles-url",
              "https://cdn.example.org/log/", "--log-url", "https://dalel.example.org")  # fmt: skip
    assert r.code == 0, r.err
    html = out.read_text()
    assert 'data-tiles="https://cdn.example.org/log"' in html
    assert "connect-src https://dalel.example.org https://cdn.example.org;" in html
    bad = dalel("--store", filled_store, "receipt", "page", tmp_path / "p2.html",
                "--tiles-url", "file:///etc")  # fmt: skip
    assert bad.code == 2 and "web address" in bad.err


def test_only_a_plain_web_origin_goes_into_the_pages_policy() -> None:
    from web import verifypage

    assert verifypage.web_origin("https://cdn.example.org/log/") == "https://cdn.example.org"
    assert verifypage.web_origin("http://127.0.0.1:8080/x") == "http://127.0.0.1:8080"
    assert verifypage.web_origin("https://[::1]:9/log") == "https://[::1]:9"
    for bad in ("https://a;script-src *", 'https://a"b', "https://a b/", "file:///etc",
                "javascript:alert(1)", "https://user:pw@cdn.example.org", "https://x:99999",
                "https://", "https://a'/"):  # fmt: skip
        with pytest.raises(ValueError):
            verifypage.web_origin(bad)

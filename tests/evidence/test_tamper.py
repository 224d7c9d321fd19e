"""Every tampering case is detected and named by audit (or by receipt verify)."""

from __future__ import annotations

import json
from pathlib import Path

from evidence import audit
from evidence.core import custody, receipts
from evidence.core.keys import SigningKey
from evidence.storage.store import Store
from tests.conftest import delete_object, tamper_object


def run_audit(store_dir: Path) -> audit.AuditReport:
    return audit.run(audit.StoreSource(Store.open(store_dir)))


def log_lines(store_dir: Path) -> list[bytes]:
    return (store_dir / "log" / "custody.jsonl").read_bytes().splitlines()


def write_lines(store_dir: Path, lines: list[bytes]) -> None:
    (store_dir / "log" / "custody.jsonl").write_bytes(b"".join(ln + b"\n" for ln in lines))


def first_object(store_dir: Path) -> str:
    """The SHA-256 of the first object ingested."""
    return custody.parse_line(log_lines(store_dir)[0]).entry["item"]["sha256"]


def test_intact_store_passes(filled_store, dalel):
    report = run_audit(filled_store)
    assert report.ok, report.findings
    # 3 ingests, 2 item-token entries, 2 checkpoint-token entries
    assert report.entries == 7 and report.checkpoints == 2 and report.receipts == 3
    assert report.tokens == 5
    r = dalel("--store", filled_store, "audit", "--json")
    assert r.code == 0 and r.json()["ok"] is True


def test_one_byte_of_an_object_flipped(filled_store, dalel):
    sha = first_object(filled_store)
    data = bytearray(Store.open(filled_store).objects.read(sha))
    data[len(data) // 2] ^= 0x01
    tamper_object(filled_store, sha, bytes(data))
    report = run_audit(filled_store)
    assert audit.Reason.HASH_MISMATCH in report.reasons()
    assert any(f.item == sha for f in report.failures)
    r = dalel("--store", filled_store, "audit")
    assert r.code == 1 and "HASH_MISMATCH" in r.out


def test_an_object_deleted(filled_store):
    delete_object(filled_store, first_object(filled_store))
    assert audit.Reason.OBJECT_MISSING in run_audit(filled_store).reasons()


def test_a_log_entry_edited(filled_store):
    lines = log_lines(filled_store)
    lines[1] = lines[1].replace(b'"precinct":"101"', b'"precinct":"102"')
    write_lines(filled_store, lines)
    report = run_audit(filled_store)
    assert audit.Reason.SIGNATURE_INVALID in report.reasons()
    assert any(f.item == "entry 1" for f in report.failures)
    assert audit.Reason.CHECKPOINT_ROOT_MISMATCH in report.reasons()


def test_a_log_entry_deleted(filled_store):
    lines = log_lines(filled_store)
    del lines[1]
    write_lines(filled_store, lines)
    reasons = run_audit(filled_store).reasons()
    assert audit.Reason.ENTRY_MISSING in reasons
    assert audit.Reason.CHAIN_BROKEN in reasons


def test_two_entries_swapped(filled_store):
    lines = log_lines(filled_store)
    lines[0], lines[1] = lines[1], lines[0]
    write_lines(filled_store, lines)
    reasons = run_audit(filled_store).reasons()
    assert audit.Reason.ENTRY_OUT_OF_ORDER in reasons
    assert audit.Reason.CHAIN_BROKEN in reasons


def test_the_log_truncated(filled_store):
    write_lines(filled_store, log_lines(filled_store)[:1])
    reasons = run_audit(filled_store).reasons()
    assert audit.Reason.LOG_TRUNCATED in reasons
    assert audit.Reason.RECEIPT_NOT_IN_LOG in reasons


def test_an_entry_resigned_with_another_key(filled_store):
    lines = log_lines(filled_store)
    rec = custody.parse_line(lines[2])
    mallory = SigningKey.generate(Store.open(filled_store).config.origin)
    edited = dict(rec.entry, note="re-signed by someone else")
    lines[2] = custody.make_line(edited, mallory)
    write_lines(filled_store, lines)
    report = run_audit(filled_store)
    assert audit.Reason.KEY_UNTRUSTED in report.reasons()
    assert any(
        f.item == "entry 2" and f.reason is audit.Reason.KEY_UNTRUSTED for f in report.failures
    )


def test_an_entry_resigned_claiming_the_log_key_id(filled_store):
    lines = log_lines(filled_store)
    rec = custody.parse_line(lines[2])
    mallory = SigningKey.generate("mallory")
    forged = custody.make_line(rec.entry, mallory).replace(
        mallory.public.id_hex.encode(), rec.key_id.encode()
    )
    lines[2] = forged
    write_lines(filled_store, lines)
    assert audit.Reason.SIGNATURE_INVALID in run_audit(filled_store).reasons()


def test_a_checkpoint_whose_root_does_not_match(filled_store):
    store = Store.open(filled_store)
    from evidence.core import checkpoint as cp

    path = store.checkpoint_paths()[0]
    head = cp.parse(path.read_text()).checkpoint
    forged = cp.Checkpoint(head.origin, head.size, bytes(32))
    path.write_text(cp.sign(forged, store.log_key))  # even validly signed
    report = run_audit(filled_store)
    assert audit.Reason.CHECKPOINT_ROOT_MISMATCH in report.reasons()
    assert audit.Reason.CONSISTENCY_INVALID in report.reasons()


def test_a_checkpoint_with_a_bad_signature(filled_store):
    store = Store.open(filled_store)
    path = store.checkpoint_paths()[-1]
    text = path.read_text()
    body, sig = text.rsplit(" ", 1)
    path.write_text(body + " " + ("A" if sig[0] != "A" else "B") + sig[1:])
    assert audit.Reason.CHECKPOINT_SIGNATURE_INVALID in run_audit(filled_store).reasons()


# --- receipts ------------------------------------------------------------------------------
def _receipt(store_dir: Path) -> tuple[Path, dict]:
    p = sorted((store_dir / "receipts").glob("*.json"))[0]
    return p, json.loads(p.read_text())


def _verify(store_dir: Path, receipt: dict) -> receipts.ReceiptReport:
    return receipts.verify(receipt, Store.open(store_dir).public_key())


def test_receipt_verifies_offline_with_pinned_key(filled_store, dalel):
    p, r = _receipt(filled_store)
    assert _verify(filled_store, r).ok
    res = dalel("receipt", "verify", p, "--key", filled_store / "public" / "log.pub")
    assert res.code == 0 and "KEY_NOT_PINNED" not in res.out
    res = dalel("receipt", "verify", p, "--json")
    assert res.code == 0
    assert any(c["reason"] == "KEY_NOT_PINNED" for c in res.json()["checks"])


def test_receipt_with_item_hash_altered(filled_store, dalel, tmp_path):
    p, r = _receipt(filled_store)
    sha = r["entry"]["item"]["sha256"]
    r["entry"]["item"]["sha256"] = "0" * 64
    rep = _verify(filled_store, r)
    assert not rep.ok and receipts.Reason.ENTRY_MISMATCH in {c.reason for c in rep.failures}
    r2 = json.loads(p.read_text())
    r2["entry_line"] = r2["entry_line"].replace(sha, "0" * 64)
    r2["entry"]["item"]["sha256"] = "0" * 64
    rep = _verify(filled_store, r2)
    reasons = {c.reason for c in rep.failures}
    assert receipts.Reason.SIGNATURE_INVALID in reasons and receipts.Reason.PROOF_INVALID in reasons
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(r2))
    res = dalel("receipt", "verify", bad, "--key", filled_store / "public" / "log.pub")
    assert res.code == 1 and "SIGNATURE_INVALID" in res.out


def test_receipt_with_proof_altered(filled_store):
    _, r = _receipt(filled_store)
    proof = r["inclusion_proof"]
    assert proof, "a tree of 3 has a non-empty proof"
    proof[0] = ("B" if proof[0][0] != "B" else "C") + proof[0][1:]
    rep = _verify(filled_store, r)
    assert receipts.Reason.PROOF_INVALID in {c.reason for c in rep.failures}


def test_receipt_with_checkpoint_altered(filled_store):
    _, r = _receipt(filled_store)
    lines = r["checkpoint"].split("\n")
    lines[1] = str(int(lines[1]) + 1)
    r["checkpoint"] = "\n".join(lines)
    rep = _verify(filled_store, r)
    reasons = {c.reason for c in rep.failures}
    assert receipts.Reason.CHECKPOINT_SIGNATURE_INVALID in reasons


def test_receipt_against_a_store_whose_object_changed(filled_store, dalel):
    p, r = _receipt(filled_store)
    sha = r["entry"]["item"]["sha256"]
    tamper_object(filled_store, sha, Store.open(filled_store).objects.read(sha) + b"x")
    res = dalel("receipt", "verify", p, "--store", filled_store, "--json")
    assert res.code == 1
    assert {"HASH_MISMATCH"} <= {c["reason"] for c in res.json()["checks"]}


def test_receipt_consistency_with_a_later_store(filled_store, dalel):
    p, r = _receipt(filled_store)  # from the first batch
    res = dalel("receipt", "verify", p, "--store", filled_store, "--json")
    assert res.code == 0
    cons = next(c for c in res.json()["checks"] if c["check"] == "consistency")
    latest = Store.open(filled_store).latest_checkpoint().checkpoint.size
    assert latest > r["leaf_index"] + 1
    assert cons["status"] == "PASSED" and f"checkpoint of {latest} entries" in cons["detail"]


def test_receipt_from_another_log_key(filled_store, tmp_path, dalel):
    from evidence.provision import init_store

    other = tmp_path / "other"
    init_store(other, org="Other")
    p, _ = _receipt(filled_store)
    res = dalel("receipt", "verify", p, "--key", other / "public" / "log.pub", "--json")
    assert res.code == 1
    assert "KEY_MISMATCH" in {c["reason"] for c in res.json()["checks"]}

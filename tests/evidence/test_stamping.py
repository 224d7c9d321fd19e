"""Timestamps in the store: every item and checkpoint, online and offline, audited."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evidence import audit
from evidence.core import custody
from evidence.core.tokens import build_request, response_from_token, token_from_response
from evidence.provision import init_store
from evidence.storage.store import Store
from evidence.timestamping import stamping
from testing.tsa_server import LoopbackTSA, Mode, down_url
from tests.conftest import make_photo, tamper_object


def _ingest(dalel, store_dir: Path, folder: Path, *extra) -> dict:
    r = dalel(
        "--store",
        store_dir,
        "ingest",
        folder,
        "--observer",
        "obs-1",
        "--precinct",
        "4",
        "--json",
        *extra,
    )
    assert r.code == 0, r.err
    return r.json()


def _timestamp_entries(store_dir: Path) -> list[dict]:
    lines = (store_dir / "log" / "custody.jsonl").read_bytes().splitlines()
    return [e for e in (json.loads(x)["entry"] for x in lines) if e["event"] == "timestamp"]


def _add_tsa(dalel, store_dir: Path, tmp_path: Path, name: str, url: str, root) -> None:
    from cryptography.hazmat.primitives import serialization

    pem = tmp_path / f"{name}-root.pem"
    pem.write_bytes(root.public_bytes(serialization.Encoding.PEM))
    r = dalel(
        "--store", store_dir, "timestamp", "add-tsa", name, url, "--roots", pem, "--timeout", "1"
    )
    assert r.code == 0, r.err


def _openssl_verify(store_dir: Path, tmp_path: Path, t: dict) -> subprocess.CompletedProcess:
    store = Store.open(store_dir)
    out = tmp_path / "t.tsr"
    out.write_bytes(response_from_token(store.objects.read(t["token_sha256"])))
    ca = (
        store.public_dir / "tsa-root.pem"
        if t["source"] == "local"
        else store.public_dir / "tsa-roots" / f"{t['source']}.pem"
    )
    cmd = [
        "openssl",
        "ts",
        "-verify",
        "-digest",
        t["subject"],
        "-sha256",
        "-in",
        out,
        "-CAfile",
        ca,
    ]
    if t["source"] == "local":
        cmd += ["-untrusted", store.public_dir / "tsa.pem"]
    return subprocess.run(cmd, capture_output=True, text=True)


def test_every_item_and_checkpoint_gets_a_token_openssl_verifies(store_dir, inbox, tmp_path, dalel):
    _ingest(dalel, store_dir, inbox)
    _ingest(dalel, store_dir, make_photo(tmp_path / "late.jpg", (9, 9, 9)))
    index = Store.open(store_dir).index
    index.catch_up()
    toks = index.all_tokens()
    items = {r["sha256"] for r in index.items_where()}
    assert {t["subject"] for t in toks if t["target"] == "item"} == items
    checkpoints = Store.open(store_dir).checkpoint_paths()
    assert len([t for t in toks if t["target"] == "checkpoint"]) == len(checkpoints) == 2
    for cp_path in checkpoints:
        assert cp_path.with_suffix(".tsr").is_file()
        assert stamping.checkpoint_digest(cp_path.read_text()) in {t["subject"] for t in toks}
    for t in toks:
        p = _openssl_verify(store_dir, tmp_path, t)
        assert p.returncode == 0 and "Verification: OK" in p.stdout, (t, p.stderr)
    report = audit.run(audit.StoreSource(Store.open(store_dir)))
    assert report.ok and report.tokens == len(toks)
    # `timestamp export` writes what openssl verifies
    sha = sorted(items)[0]
    r = dalel("--store", store_dir, "timestamp", "export", sha, tmp_path / "x.tsr")
    assert r.code == 0 and "openssl ts -verify" in r.out
    p = subprocess.run(
        [
            "openssl",
            "ts",
            "-verify",
            "-digest",
            sha,
            "-sha256",
            "-in",
            tmp_path / "x.tsr",
            "-CAfile",
            store_dir / "public" / "tsa-root.pem",
            "-untrusted",
            store_dir / "public" / "tsa.pem",
        ],
        capture_output=True,
        text=True,
    )
    assert p.returncode == 0, p.stderr


def test_receipt_carries_the_items_token(store_dir, inbox, dalel, tmp_path):
    res = _ingest(dalel, store_dir, inbox)
    paths = [Path(r["receipt"]) for r in res["results"] if r.get("receipt")]
    r = dalel(
        "receipt",
        "verify",
        paths[0],
        "--key",
        store_dir / "public" / "log.pub",
        "--tsa-root",
        store_dir / "public" / "tsa-root.pem",
        "--json",
    )
    assert r.code == 0, r.out
    checks = {c["check"]: c for c in r.json()["checks"]}
    assert checks["timestamp"]["status"] == "PASSED" and "tsa-root" not in checks
    # tokens swapped between two receipts: the imprint no longer matches
    a, b = (json.loads(p.read_text()) for p in paths[:2])
    a["timestamp"], b["timestamp"] = b["timestamp"], a["timestamp"]
    swapped = tmp_path / "swapped.json"
    swapped.write_text(json.dumps(a))
    r = dalel("receipt", "verify", swapped, "--store", store_dir, "--json")
    assert r.code == 1
    bad = next(c for c in r.json()["checks"] if c["check"] == "timestamp")
    assert bad["reason"] == "TIMESTAMP_INVALID" and "IMPRINT_MISMATCH" in bad["detail"]
    # a TSA root from elsewhere does not vouch for the token
    other = tmp_path / "other"
    init_store(other, org="Other")
    r = dalel(
        "receipt", "verify", paths[0], "--tsa-root", other / "public" / "tsa-root.pem", "--json"
    )
    assert r.code == 1 and "TSA_UNTRUSTED" in json.dumps(r.json())


def test_external_tsa_is_used_first(store_dir, inbox, tmp_path, dalel):
    with LoopbackTSA() as server:
        _add_tsa(dalel, store_dir, tmp_path, "loopback", server.url, server.root_certificate)
        _ingest(dalel, store_dir, inbox)
        assert server.requests >= 4  # three items and a checkpoint
    tokens = [t for e in _timestamp_entries(store_dir) for t in e["tokens"]]
    items = [t for t in tokens if t["target"] == "item"]
    assert len(items) == 3
    for t in items:  # asked before the lock was taken, recorded under it
        assert (t["kind"], t["source"], t["refused"]) == ("external", "loopback", [])
    # a checkpoint is stamped by the local TSA under the lock, then by the external TSA
    # once the lock is let go
    checkpoints = {t["subject"] for t in tokens if t["target"] == "checkpoint"}
    assert checkpoints
    for subject in checkpoints:
        kinds = {t["kind"] for t in tokens if t["subject"] == subject}
        assert kinds == {"local", "external"}, kinds
    for t in tokens:
        if t["kind"] == "external":
            p = _openssl_verify(store_dir, tmp_path, t)
            assert p.returncode == 0, p.stderr
    assert audit.run(audit.StoreSource(Store.open(store_dir))).ok


def test_a_slow_tsa_never_holds_the_store(store_dir, inbox, tmp_path, dalel):
    """While an ingest waits three seconds on each answer of a slow TSA, another writer
    takes the store's lock again and again, never waiting long: no network wait holds it.
    (It asks every 0.3 s: an answer waited for under the lock would make it wait 2.7 s or
    more; the batch's own work under the lock, three files and a commit, takes a fraction
    of a second.)"""
    from cryptography.hazmat.primitives import serialization

    from evidence.storage.writer import Writer
    from tests.conftest import ROOT

    with LoopbackTSA(mode=Mode.SLOW, slow_seconds=3.0) as server:
        pem = tmp_path / "slow-root.pem"
        pem.write_bytes(server.root_certificate.public_bytes(serialization.Encoding.PEM))
        r = dalel(
            *("--store", store_dir, "timestamp", "add-tsa", "slow", server.url),
            *("--roots", pem, "--timeout", "8"),
        )
        assert r.code == 0, r.err
        ingest = subprocess.Popen(
            [sys.executable, "-m", "cli", "--store", str(store_dir), "ingest", str(inbox)]
            + ["--observer", "obs-1", "--precinct", "4"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        waits = []
        try:
            while ingest.poll() is None:
                if server.requests:  # the ingest is waiting on the TSA now
                    started = time.monotonic()
                    with Writer(Store.open(store_dir), wait=10.0):
                        waits.append(time.monotonic() - started)
                time.sleep(0.3)
        finally:
            _out, err = ingest.communicate(timeout=120)
        assert ingest.returncode == 0, err
        assert server.requests >= 4  # three items, and the checkpoint after the lock
    assert len(waits) >= 5 and max(waits) < 2.0, waits
    tokens = [t for e in _timestamp_entries(store_dir) for t in e["tokens"]]
    assert {t["kind"] for t in tokens if t["target"] == "item"} == {"external"}
    assert "external" in {t["kind"] for t in tokens if t["target"] == "checkpoint"}
    assert audit.run(audit.StoreSource(Store.open(store_dir))).ok


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        (Mode.GARBAGE, "MALFORMED"),
        (Mode.OTHER_HASH, "IMPRINT_MISMATCH"),
        (Mode.WRONG_NONCE, "NONCE_MISMATCH"),
        (Mode.SLOW, "TSA_TIMEOUT"),
        (Mode.UNTRUSTED, "TSA_UNTRUSTED"),
    ],
)
def test_a_misbehaving_tsa_is_refused_with_its_reason_and_local_takes_over(
    store_dir, tmp_path, dalel, mode, reason
):
    make_photo(tmp_path / "in" / "p.jpg")
    with LoopbackTSA(mode=mode, slow_seconds=3.0) as server:
        _add_tsa(dalel, store_dir, tmp_path, "flaky", server.url, server.root_certificate)
        _ingest(dalel, store_dir, tmp_path / "in")
    (entry, *_) = _timestamp_entries(store_dir)
    (t,) = entry["tokens"]
    assert t["kind"] == "local" and t["source"] == "local"
    assert t["refused"][0]["source"] == "flaky" and reason in t["refused"][0]["reasons"]
    assert audit.run(audit.StoreSource(Store.open(store_dir))).ok


def test_offline_then_upgrade(store_dir, inbox, tmp_path, dalel):
    from cryptography.hazmat.primitives import serialization

    with LoopbackTSA() as server:
        pem = tmp_path / "root.pem"
        pem.write_bytes(server.root_certificate.public_bytes(serialization.Encoding.PEM))
        assert (
            dalel(
                "--store",
                store_dir,
                "timestamp",
                "add-tsa",
                "loopback",
                down_url(),
                "--roots",
                pem,
                "--timeout",
                "1",
            ).code
            == 0
        )
        _ingest(dalel, store_dir, inbox)  # the internet is cut: local tokens, refusal noted
        (first, *_) = _timestamp_entries(store_dir)
        assert {t["kind"] for t in first["tokens"]} == {"local"}
        assert "TSA_UNREACHABLE" in first["tokens"][0]["refused"][0]["reasons"]
        offline = dalel("--store", store_dir, "timestamp", "--upgrade")
        assert offline.code == 4 and "TSA_UNREACHABLE" in offline.err
        status = dalel("--store", store_dir, "timestamp", "--json").json()
        assert status["items_local_only"] == 3 and status["items_external"] == 0
        # the internet is back
        assert (
            dalel(
                "--store",
                store_dir,
                "timestamp",
                "add-tsa",
                "loopback",
                server.url,
                "--roots",
                pem,
                "--timeout",
                "1",
            ).code
            == 0
        )
        r = dalel("--store", store_dir, "timestamp", "--upgrade", "--json")
        assert r.code == 0 and r.json()["upgraded"] >= 4
    status = dalel("--store", store_dir, "timestamp", "--json").json()
    assert status["items_external"] == 3 and status["items_local_only"] == 0
    assert status["checkpoints_local_only"] == 0
    sha = sorted(
        t["subject"]
        for e in _timestamp_entries(store_dir)
        for t in e["tokens"]
        if t["target"] == "item"
    )[0]
    r = dalel("--store", store_dir, "timestamp", "export", sha, tmp_path / "e.tsr", "--external")
    assert r.code == 0 and "external token from loopback" in r.out
    assert audit.run(audit.StoreSource(Store.open(store_dir))).ok


# --- tampering, each named by audit ------------------------------------------------------------
def _first_item_token(store_dir: Path) -> dict:
    index = Store.open(store_dir).index
    index.catch_up()
    return next(t for t in index.all_tokens() if t["target"] == "item")


def _token_findings(store_dir: Path) -> list[audit.Finding]:
    report = audit.run(audit.StoreSource(Store.open(store_dir)))
    return [f for f in report.failures if f.check == "timestamp"]


def test_audit_names_a_flipped_byte_in_a_stored_token(filled_store):
    t = _first_item_token(filled_store)
    data = bytearray(Store.open(filled_store).objects.read(t["token_sha256"]))
    data[len(data) // 3] ^= 0x04
    tamper_object(filled_store, t["token_sha256"], bytes(data))
    report = audit.run(audit.StoreSource(Store.open(filled_store)))
    assert audit.Reason.HASH_MISMATCH in report.reasons()
    assert audit.Reason.TIMESTAMP_INVALID in report.reasons()
    assert any(
        f.reason is audit.Reason.TIMESTAMP_MISSING and f.item == t["subject"]
        for f in report.failures
    )


def _insider_records(store_dir: Path, tokens: list[dict]) -> None:
    """Someone holding the log key records tokens of their choosing (a validly signed entry)."""
    store = Store.open(store_dir)
    with store.writer() as w:
        objects = []
        for t in tokens:
            objects.append(
                {"sha256": t["token_sha256"], "role": "timestamp-token", "parent": t["subject"]}
            )
        w.append({"event": "timestamp", "tokens": tokens, "objects": objects})


def _token_dict(subject: str, token_sha: str, source: str = "local") -> dict:
    return {
        "subject": subject,
        "target": "item",
        "token_sha256": token_sha,
        "source": source,
        "kind": "local",
        "gen_time": custody.utc_now(),
        "serial": "1",
        "refused": [],
    }


def test_audit_names_tokens_swapped_between_two_items(filled_store):
    index = Store.open(filled_store).index
    index.catch_up()
    a, b = [t for t in index.all_tokens() if t["target"] == "item"][:2]
    _insider_records(
        filled_store,
        [
            _token_dict(a["subject"], b["token_sha256"]),
            _token_dict(b["subject"], a["token_sha256"]),
        ],
    )
    found = _token_findings(filled_store)
    assert len(found) == 2
    assert all("IMPRINT_MISMATCH" in f.sub_reasons for f in found)


def test_audit_names_a_token_from_a_tsa_nobody_trusts(filled_store, tmp_path):
    from evidence.timestamping.tsa import LocalTSA

    other = tmp_path / "other"
    init_store(other, org="Rogue")
    rogue = LocalTSA.load(other / "keys", other / "public", other / "tsa")
    subject = _first_item_token(filled_store)["subject"]
    token = token_from_response(rogue.timestamp(bytes.fromhex(subject)))
    stored = Store.open(filled_store).objects.put_bytes(token)
    _insider_records(filled_store, [_token_dict(subject, stored.sha256)])
    (f,) = _token_findings(filled_store)
    assert "TSA_UNTRUSTED" in f.sub_reasons and f.item == subject


def test_audit_names_a_token_outside_its_certificates_validity(filled_store, tmp_path, dalel):
    subject = _first_item_token(filled_store)["subject"]
    with LoopbackTSA(mode=Mode.EXPIRED_CERT) as server:
        _add_tsa(dalel, filled_store, tmp_path, "expired", server.url, server.root_certificate)
        _status, body = server.answer(build_request(bytes.fromhex(subject), nonce=7))
    token = token_from_response(body)
    stored = Store.open(filled_store).objects.put_bytes(token)
    _insider_records(filled_store, [_token_dict(subject, stored.sha256, source="expired")])
    (f,) = _token_findings(filled_store)
    assert "TIME_OUTSIDE_CERT_VALIDITY" in f.sub_reasons


def test_bundle_carries_tokens_and_verifies_them_offline(filled_store, tmp_path, dalel):
    out = tmp_path / "bundle"
    assert dalel("--store", filled_store, "export-audit", out).code == 0
    assert len(list((out / "tokens").iterdir())) >= 4
    r = dalel("audit", "--bundle", out, "--json")
    assert r.code == 0 and r.json()["tokens"] >= 4
    victim = sorted((out / "tokens").iterdir())[0]
    victim.write_bytes(victim.read_bytes()[:-5])
    r = dalel("audit", "--bundle", out, "--json")
    assert r.code == 1 and "TIMESTAMP_INVALID" in {f["reason"] for f in r.json()["findings"]}


def test_a_checkpoint_a_crash_left_without_its_token_is_stamped_when_the_next_writer_opens(
    store_dir, inbox
):
    """The next writer stamps what a crash left owed before its first commit signs a
    checkpoint after it: killed between that commit and its stamps, it left a checkpoint
    without a token that was no longer the last (TIMESTAMP_MISSING in the kill test)."""
    from pipeline.hooks import open_store
    from tests.conftest import dalel_subprocess

    r = dalel_subprocess("--store", store_dir, "ingest", inbox, "--observer", "obs-1",
                         "--precinct", "12")  # fmt: skip
    assert r.returncode == 0, r.stderr
    (last,) = Store.open(store_dir).checkpoint_paths()[-1:]
    last.with_suffix(".tsr").unlink()  # as if killed after signing it, before its token
    with open_store(store_dir).writer(wait=2.0):
        assert last.with_suffix(".tsr").is_file()  # stamped at open, nothing committed yet
    report = audit.run(audit.StoreSource(Store.open(store_dir)))
    assert report.ok, [f.to_dict() for f in report.failures]

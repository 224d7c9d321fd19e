"""Trust anchored outside the store: a rewritten, re-signed or rolled-back store is caught by a
pinned key or a kept checkpoint; what disappears from a store is noticed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.redteam.attacks import keep, resign


def reasons(result, status: str = "FAILED") -> set[str]:
    return {c["reason"] for c in result.json()["checks"] if c["status"] == status}


def audit(dalel, store: Path, *args: object):
    return dalel("--store", store, "audit", "--json", *args)


@pytest.fixture
def kept(filled_store: Path, tmp_path: Path) -> dict[str, Path]:
    """What an auditor kept before the attack: the log key, the TSA root, the latest
    checkpoint."""
    latest = sorted((filled_store / "log" / "checkpoints").glob("*.note"))[-1]
    return {
        "key": keep(filled_store / "public" / "log.pub", tmp_path, "log.pub"),
        "roots": keep(filled_store / "public" / "tsa-root.pem", tmp_path, "roots.pem"),
        "checkpoint": keep(latest, tmp_path, "checkpoint.note"),
    }


def test_pinned_audit_of_an_intact_store_has_no_note(filled_store, kept, dalel):
    r = audit(dalel, filled_store, "--key", kept["key"], "--tsa-root", kept["roots"])
    assert r.code == 0, r.out
    assert r.json()["key_pinned"] is True and r.json()["tsa_roots_pinned"] is True
    assert reasons(r, "WARNING") == {"UNCHECKPOINTED_ENTRIES"}  # the latest one's token
    r = audit(dalel, filled_store, "--since", kept["checkpoint"])
    assert r.code == 0 and r.json()["since"] == [int(kept["checkpoint"].read_text().split()[1])]


def test_unpinned_audit_says_so_in_its_bottom_line(filled_store, dalel):
    r = dalel("--store", filled_store, "audit")
    assert r.code == 0
    bottom = r.out.strip().splitlines()[-1]
    assert bottom.startswith("INTACT") and "KEY_NOT_PINNED" in bottom
    assert "KEY_NOT_PINNED" in reasons(audit(dalel, filled_store), "WARNING")


def test_the_full_resign_attack_passes_only_an_unpinned_audit(
    filled_store, kept, dalel, tmp_path, backend
):
    resign(filled_store)
    unpinned = audit(dalel, filled_store)
    if backend == "national":
        # the index lives in a database the attacker of the folder did not rewrite: it
        # still holds the history the forged log no longer has
        assert unpinned.code == 1 and "INDEX_MISMATCH" in reasons(unpinned), unpinned.out
    else:
        # the attack is complete: nothing inside the store disagrees any more
        assert unpinned.code == 0, unpinned.out
        assert reasons(unpinned, "WARNING") == {"KEY_NOT_PINNED", "UNCHECKPOINTED_ENTRIES"}

    pinned = audit(dalel, filled_store, "--key", kept["key"])
    assert pinned.code == 1
    assert {"KEY_UNTRUSTED", "CHECKPOINT_SIGNATURE_INVALID"} <= reasons(pinned)

    since = audit(dalel, filled_store, "--since", kept["checkpoint"])
    assert since.code == 1
    assert {"CONSISTENCY_INVALID", "CHECKPOINT_SIGNATURE_INVALID"} <= reasons(since)

    # and the same for the store's audit bundle
    dalel("--store", filled_store, "export-audit", tmp_path / "bundle")
    bundle = dalel("audit", "--bundle", tmp_path / "bundle", "--json", "--key", kept["key"])
    assert bundle.code == 1 and "KEY_UNTRUSTED" in reasons(bundle)
    bundle = dalel(
        "audit", "--bundle", tmp_path / "bundle", "--json", "--since", kept["checkpoint"]
    )
    assert bundle.code == 1 and "CONSISTENCY_INVALID" in reasons(bundle)


def test_a_rollback_to_an_older_copy_is_caught_with_since(
    filled_store, dalel, tmp_path, inbox, backend
):
    backup = tmp_path / "backup"
    shutil.copytree(filled_store, backup)
    from tests.conftest import VALID_IIN, make_photo

    make_photo(tmp_path / "later.jpg", (1, 2, 3))
    r = dalel(
        "--store", filled_store, "ingest", tmp_path / "later.jpg",
        "--observer", VALID_IIN, "--precinct", "101",
    )  # fmt: skip
    assert r.code == 0, r.err
    latest = sorted((filled_store / "log" / "checkpoints").glob("*.note"))[-1]
    kept = keep(latest, tmp_path, "observer.note")
    shutil.rmtree(filled_store)
    shutil.copytree(backup, filled_store)  # the older copy restored
    unpinned = audit(dalel, filled_store)
    if backend == "national":  # the database's index still holds the newer entry
        assert unpinned.code == 1 and "INDEX_MISMATCH" in reasons(unpinned)
    else:
        assert unpinned.code == 0  # nothing inside the store can tell
    r = audit(dalel, filled_store, "--since", kept)
    assert r.code == 1 and "CONSISTENCY_INVALID" in reasons(r)


def test_a_deleted_tsa_root_is_a_finding_not_silence(filled_store, kept, dalel):
    (filled_store / "public" / "tsa-root.pem").unlink()
    r = audit(dalel, filled_store)
    assert r.code == 1 and "TSA_ROOT_MISSING" in reasons(r)
    (filled_store / "public" / "tsa-root.pem").write_text("not a certificate\n")
    r = audit(dalel, filled_store)
    assert r.code == 1 and "TSA_ROOT_MISSING" in reasons(r)
    # pinned roots do not need the store's copy
    r = audit(dalel, filled_store, "--tsa-root", kept["roots"])
    assert r.code == 0, r.out


def test_tokens_are_checked_against_the_pinned_roots(filled_store, dalel, tmp_path):
    from evidence.provision import init_store

    other = init_store(tmp_path / "other", org="Someone Else")
    r = audit(dalel, filled_store, "--tsa-root", other.public_dir / "tsa-root.pem")
    assert r.code == 1 and "TIMESTAMP_INVALID" in reasons(r)


def test_a_deleted_checkpoint_is_missing(filled_store, dalel):
    first = sorted((filled_store / "log" / "checkpoints").glob("*.note"))[0]
    first.unlink()
    r = audit(dalel, filled_store)
    assert r.code == 1 and "CHECKPOINT_MISSING" in reasons(r)
    # deleting its token too does not hide it: the log stamped it and receipts cite it
    first.with_suffix(".tsr").unlink()
    r = audit(dalel, filled_store)
    assert r.code == 1 and "CHECKPOINT_MISSING" in reasons(r)


def test_the_latest_checkpoint_deleted_with_its_token_is_missing(filled_store, dalel):
    latest = sorted((filled_store / "log" / "checkpoints").glob("*.note"))[-1]
    latest.unlink()
    latest.with_suffix(".tsr").unlink()
    r = audit(dalel, filled_store)
    assert r.code == 1 and "CHECKPOINT_MISSING" in reasons(r)


@pytest.mark.parametrize("which", [0, -1])
def test_a_deleted_receipt_is_missing(filled_store, dalel, which):
    path = sorted((filled_store / "receipts").glob("*.json"))[which]
    path.unlink()
    r = audit(dalel, filled_store)
    assert r.code == 1 and "RECEIPT_MISSING" in reasons(r)
    missing = [c for c in r.json()["checks"] if c["reason"] == "RECEIPT_MISSING"]
    assert [c["subject"] for c in missing] == [path.name]


@pytest.mark.parametrize("garbage", [b"", b"garbage\n", b"\x30\x82\xff\xff" + b"A" * 50])
def test_garbage_in_a_checkpoint_token_is_a_finding(filled_store, dalel, garbage):
    tsr = sorted((filled_store / "log" / "checkpoints").glob("*.tsr"))[0]
    tsr.write_bytes(garbage)
    r = audit(dalel, filled_store)
    assert r.code == 1 and "TIMESTAMP_INVALID" in reasons(r)
    assert tsr.name in {c["subject"] for c in r.json()["checks"]}


def test_a_token_over_another_checkpoint_is_a_finding(filled_store, dalel):
    a, b = sorted((filled_store / "log" / "checkpoints").glob("*.tsr"))[:2]
    a.write_bytes(b.read_bytes())
    r = audit(dalel, filled_store)
    assert r.code == 1 and "TIMESTAMP_INVALID" in reasons(r)


def test_a_key_file_that_is_no_key_is_a_usage_error(filled_store, dalel, tmp_path):
    bad = tmp_path / "bad.pub"
    bad.write_text("hello\n")
    r = dalel("--store", filled_store, "audit", "--key", bad)
    assert r.code == 2 and "not a log public key" in r.err
    r = dalel("--store", filled_store, "audit", "--tsa-root", bad)
    assert r.code == 2 and "no PEM certificate" in r.err
    r = dalel("--store", filled_store, "audit", "--since", bad)
    assert r.code == 2 and "not a signed checkpoint" in r.err


def test_a_bundle_is_audited_against_pinned_keys_and_its_missing_root_named(
    filled_store, kept, dalel, tmp_path
):
    bundle = tmp_path / "bundle"
    assert dalel("--store", filled_store, "export-audit", bundle).code == 0
    r = dalel(
        "audit", "--bundle", bundle, "--json", "--key", kept["key"], "--tsa-root", kept["roots"]
    )
    assert r.code == 0, r.out
    assert r.json()["key_pinned"] and "KEY_NOT_PINNED" not in reasons(r, "WARNING")
    (bundle / "public" / "tsa-root.pem").unlink()
    r = dalel("audit", "--bundle", bundle, "--json")
    assert r.code == 1 and "TSA_ROOT_MISSING" in reasons(r)
    (bundle / "public" / "log.pub").unlink()  # the pinned key does not need the bundle's
    r = dalel(
        "audit", "--bundle", bundle, "--json", "--key", kept["key"], "--tsa-root", kept["roots"]
    )
    assert r.code == 0, r.out


def test_an_observers_receipt_is_a_kept_checkpoint(filled_store, dalel, tmp_path):
    receipt = keep(sorted((filled_store / "receipts").glob("*.json"))[0], tmp_path, "r.json")
    assert audit(dalel, filled_store, "--since", receipt).code == 0
    resign(filled_store)
    r = audit(dalel, filled_store, "--since", receipt)
    assert r.code == 1 and "CONSISTENCY_INVALID" in reasons(r)

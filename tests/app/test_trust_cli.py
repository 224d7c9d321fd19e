"""The CLI contract around what a verifier trusts: `init --org` keeps the organisation's name
whole in its certificates or refuses it (exit 2, nothing made); `audit --bundle` pins the log
key with `--key`, notes `KEY_NOT_PINNED` without it and fails `KEY_UNTRUSTED` with a wrong one."""

from __future__ import annotations


# --- init: the organisation's name is kept whole, or refused -----------------------------------
def test_init_refuses_a_name_longer_than_a_certificate_holds_and_makes_nothing(tmp_path, dalel):
    name = "Республиканская демонстрационная коалиция независимых наблюдателей 202"
    assert len(name) == 70
    store = tmp_path / "s"
    r = dalel("--store", store, "init", "--org", name)
    assert r.code == 2, r.err
    assert "is 70 characters long" in r.err and "at most 64" in r.err
    assert "fix:" in r.err and "--org" in r.err
    assert not store.exists()
    r = dalel("--store", store, "init", "--org", name[:64])  # 64 Cyrillic letters fit whole
    assert r.code == 0, r.err
    assert (store / "public" / "trust-bundle.pem").is_file()


# --- audit --bundle pins the log key with --key ------------------------------------------------
def _audit_reasons(result, status: str) -> set[str]:
    return {c["reason"] for c in result.json()["checks"] if c["status"] == status}


def test_audit_of_a_bundle_pins_the_log_key_with_key(filled_store, dalel, tmp_path):
    bundle = tmp_path / "bundle"
    assert dalel("--store", filled_store, "export-audit", bundle).code == 0
    readme = (bundle / "README.txt").read_text()
    assert "dalel audit --bundle THIS_FOLDER --key log.pub" in readme
    assert (bundle / "public" / "trust-bundle.pem").is_file() and "trust-bundle.pem" in readme
    kept = tmp_path / "kept-log.pub"  # the key as the auditor got it, outside the bundle
    kept.write_bytes((filled_store / "public" / "log.pub").read_bytes())

    unpinned = dalel("audit", "--bundle", bundle, "--json")
    assert unpinned.code == 0, unpinned.out
    assert unpinned.json()["key_pinned"] is False
    assert "KEY_NOT_PINNED" in _audit_reasons(unpinned, "WARNING")
    assert "KEY_NOT_PINNED" in dalel("audit", "--bundle", bundle).out.strip().splitlines()[-1]

    pinned = dalel("audit", "--bundle", bundle, "--key", kept, "--json")
    assert pinned.code == 0, pinned.out
    assert pinned.json()["key_pinned"] is True
    notes = [c["detail"] for c in pinned.json()["checks"] if c["reason"] == "KEY_NOT_PINNED"]
    assert all("log key" not in n for n in notes)  # only the TSA roots are still unpinned

    other = tmp_path / "other"
    assert dalel("--store", other, "init").code == 0
    wrong = dalel("audit", "--bundle", bundle, "--key", other / "public" / "log.pub", "--json")
    assert wrong.code == 1
    assert "KEY_UNTRUSTED" in _audit_reasons(wrong, "FAILED")
    text = dalel("audit", "--bundle", bundle, "--key", other / "public" / "log.pub")
    assert text.code == 1 and "KEY_UNTRUSTED" in text.out

"""The public CLI contract: names, flags, exit codes, --json on stdout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import VALID_IIN, dalel_subprocess, filing_details, make_photo


def test_exit_codes_and_json_through_a_real_process(tmp_path, inbox):
    store = tmp_path / "s"
    assert dalel_subprocess("--store", store, "init", "--org", "Coalition").returncode == 0
    r = dalel_subprocess(
        "--store",
        store,
        "ingest",
        inbox,
        "--observer",
        VALID_IIN,
        "--precinct",
        "1",
        "--kind",
        "protocol",
        "--json",
    )
    assert r.returncode == 0
    data = json.loads(r.stdout)  # stdout is pure JSON
    assert data["summary"]["stored"] == 3
    (inbox / "empty.jpg").write_bytes(b"")
    r = dalel_subprocess(
        "--store", store, "ingest", inbox / "empty.jpg", "--observer", "o", "--precinct", "1"
    )
    assert r.returncode == 3 and "EMPTY_FILE" in r.stdout
    assert dalel_subprocess("--store", store, "audit").returncode == 0
    r = dalel_subprocess(
        "--store",
        store,
        "ingest",
        inbox,
        "--observer",
        "o",
        "--precinct",
        "1",
        "--kind",
        "nonsense",
    )
    assert r.returncode == 2
    assert dalel_subprocess("--store", store, "bogus-command").returncode == 2
    assert dalel_subprocess("receipt", "verify", inbox / "protocol-1.jpg").returncode == 2


def test_help_names_every_public_command():
    out = dalel_subprocess("--help").stdout
    for cmd in ("init", "ingest", "run", "receipt", "audit", "export-audit", "show", "reindex"):
        assert cmd in out


# --- global options mean the same to every command ---------------------------------------------
def _receipt(store: Path) -> Path:
    return sorted((store / "receipts").glob("*.json"))[0]


def _check_ids(result) -> set[str]:
    return {c["check"] for c in result.json()["checks"]}


@pytest.fixture
def no_default_store(tmp_path, monkeypatch) -> Path:
    """A working directory with no ./dalel-store and no $DALEL_STORE."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.delenv("DALEL_STORE", raising=False)
    return cwd


def test_receipt_verify_honours_the_global_store_and_dalel_store(
    filled_store, dalel, tmp_path, monkeypatch, no_default_store
):
    receipt = _receipt(filled_store)
    alone = dalel("receipt", "verify", receipt, "--json")
    assert alone.code == 0, alone.out
    assert "in-store-log" not in _check_ids(alone)  # no store: checked offline only
    for args in (("--store", filled_store), ()):
        if not args:
            monkeypatch.setenv("DALEL_STORE", str(filled_store))
        r = dalel(*args, "receipt", "verify", receipt, "--json")
        assert r.code == 0, r.out
        assert {"in-store-log", "consistency", "object"} <= _check_ids(r), args
        monkeypatch.delenv("DALEL_STORE", raising=False)
    # the command's own --store wins over the global one
    other = tmp_path / "other"
    assert dalel("--store", other, "init").code == 0
    assert dalel("--store", other, "receipt", "verify", receipt, "--json").code == 1
    r = dalel("--store", other, "receipt", "verify", receipt, "--store", filled_store, "--json")
    assert r.code == 0 and "in-store-log" in _check_ids(r), r.out


def test_a_default_store_that_is_not_there_is_ignored_by_verify_not_a_named_one(
    filled_store, dalel, tmp_path, monkeypatch, no_default_store
):
    receipt = _receipt(filled_store)
    monkeypatch.setenv("DALEL_STORE", str(tmp_path / "not-created-yet"))
    r = dalel("receipt", "verify", receipt, "--json")
    assert r.code == 0 and "in-store-log" not in _check_ids(r), r.out
    missing = dalel("--store", tmp_path / "typo", "receipt", "verify", receipt)
    assert missing.code == 2 and "no Dalel store" in missing.err
    # ./dalel-store, when it is there, is the store every command uses, verify included
    monkeypatch.delenv("DALEL_STORE")
    (no_default_store / "dalel-store").symlink_to(filled_store)
    r = dalel("receipt", "verify", receipt, "--json")
    assert r.code == 0 and "in-store-log" in _check_ids(r), r.out
    assert "checking against the store at dalel-store" in r.err


def test_dossier_verify_honours_the_global_store(
    filled_store, dalel, tmp_path, monkeypatch, no_default_store
):
    r = dalel(
        "--store", filled_store, "case", "new", "--precinct", "101", "--kind", "other", "--json"
    )
    assert r.code == 0, r.err
    cid = r.json()["id"]
    sha = json.loads(_receipt(filled_store).read_text())["entry"]["item"]["sha256"]
    assert dalel("--store", filled_store, "case", "add-evidence", cid, sha[:10]).code == 0
    assert dalel("--store", filled_store, "case", "set", cid, *filing_details()).code == 0
    pdf = tmp_path / "d.pdf"
    r = dalel("--store", filled_store, "dossier", "build", cid, "--out", pdf, "--lang", "en")
    assert r.code == 0, r.err
    nothing = dalel("dossier", "verify", pdf)
    assert nothing.code == 2 and "nothing to trust the signature to" in nothing.err
    r = dalel("--store", filled_store, "dossier", "verify", pdf, "--json")
    assert r.code == 0, r.out
    assert {"signature", "manifest"} <= {c["check"] for c in r.json()["checks"]}
    monkeypatch.setenv("DALEL_STORE", str(filled_store))
    assert dalel("dossier", "verify", pdf).code == 0
    other = tmp_path / "other"
    assert dalel("--store", other, "init").code == 0
    assert dalel("--store", other, "dossier", "verify", pdf).code == 1  # another store's CA
    assert dalel("--store", other, "dossier", "verify", pdf, "--store", filled_store).code == 0


# --- text output is plain text, never markup ----------------------------------------------------
def test_names_notes_and_titles_are_printed_as_given(store_dir, tmp_path, dalel):
    photo = make_photo(tmp_path / "in" / "[red]photo[bold].jpg")
    # A precinct is letters and digits only: markup in it is refused, and echoed as typed.
    r = dalel("--store", store_dir, "ingest", photo, "--observer", "obs", "--precinct", "[b]7")
    assert r.code == 2 and "'[b]7'" in r.err, r.err
    r = dalel(
        "--store",
        store_dir,
        "ingest",
        photo,
        "--observer",
        "[i]obs",
        "--precinct",
        "7",
        "--note",
        "[bold]n",
    )
    assert r.code == 0, r.err
    assert "[red]photo[bold].jpg" in r.out
    sha = json.loads(_receipt(store_dir).read_text())["entry"]["item"]["sha256"]
    assert "name '[red]photo[bold].jpg'" in dalel("--store", store_dir, "show", sha[:8]).out
    r = dalel(
        "--store",
        store_dir,
        "case",
        "new",
        "--precinct",
        "7",
        "--kind",
        "other",
        "--title",
        "[link=http://x]T[bold]",
    )
    assert r.code == 0, r.err
    shown = dalel("--store", store_dir, "case", "show", r.out.strip()).out
    assert "[link=http://x]T[bold]" in shown and "precinct 7" in shown
    assert "[link=http://x]T[bold]" in dalel("--store", store_dir, "case", "list").out

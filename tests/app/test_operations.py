"""The application layer: what every front end calls, with plain values in and typed results
out."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from app import cases, items, setup, timestamps, verify
from base.errors import EXIT_REFUSED, InvalidObserverId, StoreNotFound, UsageError
from evidence.storage.store import Store
from tests.conftest import VALID_IIN, make_photo


def _log_lines(store_dir: Path) -> int:
    return len((store_dir / "log" / "custody.jsonl").read_bytes().splitlines())


# --- which store ---------------------------------------------------------------------------
def test_the_store_is_named_by_option_then_environment_then_default(tmp_path):
    opt = setup.choose_store(tmp_path / "a", {"DALEL_STORE": str(tmp_path / "b")})
    assert (opt.path, opt.origin, opt.explicit) == (tmp_path / "a", "option", True)
    env = setup.choose_store(None, {"DALEL_STORE": str(tmp_path / "b")})
    assert (env.path, env.origin, env.explicit) == (tmp_path / "b", "environment", False)
    for environ in ({}, {"DALEL_STORE": ""}):
        default = setup.choose_store(None, environ)
        assert (default.path, default.origin) == (Path("dalel-store"), "default")


def test_verification_ignores_a_default_store_that_is_not_there(store_dir, tmp_path):
    missing = tmp_path / "missing"
    for origin in (setup.StoreOrigin.ENVIRONMENT, setup.StoreOrigin.DEFAULT):
        assert setup.open_optional(setup.StoreChoice(missing, origin)) is None
        found = setup.open_optional(setup.StoreChoice(store_dir, origin))
        assert found is not None and found.root == store_dir
    with pytest.raises(StoreNotFound):
        setup.open_optional(setup.StoreChoice(missing, setup.StoreOrigin.OPTION))


def test_init_says_what_it_made(tmp_path):
    made = setup.init(tmp_path / "s", "Coalition")
    assert made.public_key.is_file() and made.origin.startswith("dalel.kz/coalition/")
    assert made.to_dict()["root"] == str(tmp_path / "s")


# --- items ---------------------------------------------------------------------------------
def test_resolve_wants_exactly_one_item(filled_store):
    store = setup.open_store(filled_store)
    shas = sorted(r["sha256"] for r in store.index.items_where())
    assert items.resolve(store, shas[0][:12].upper()) == shas[0]
    with pytest.raises(UsageError, match="no item"):
        items.resolve(store, "not-a-hash")
    with pytest.raises(UsageError, match="several items"):
        items.resolve(store, "")
    view = items.show(store, shas[0][:12])
    assert view.sha256 == shas[0] and view.history[0]["event"] == "ingest"
    assert view.to_dict() == {"item": view.item, "history": list(view.history)}


def test_what_is_declared_is_checked_before_any_file(store_dir, inbox):
    store = setup.open_store(store_dir)
    before = _log_lines(store_dir)
    with pytest.raises(InvalidObserverId):
        items.ingest(store, [inbox], items.Declared("870412300417", "1"))
    with pytest.raises(UsageError, match="unknown kind"):
        items.ingest(store, [inbox], items.Declared(VALID_IIN, "1", kind="ballot"))
    assert _log_lines(store_dir) == before
    assert not any((store_dir / "quarantine").iterdir())


def test_a_batch_summary_counts_and_names_the_receipts(store_dir, inbox, tmp_path):
    store = setup.open_store(store_dir)
    (inbox / "empty.jpg").write_bytes(b"")
    summary = items.ingest(store, [inbox], items.Declared(VALID_IIN, "1", kind="protocol"))
    assert (summary.stored, summary.skipped, summary.refused) == (3, 0, 1)
    assert summary.exit_code == EXIT_REFUSED
    d = summary.to_dict()
    assert d["summary"] == {
        "stored": 3,
        "skipped": 0,
        "refused": 1,
        "checkpoint": str(summary.checkpoint),
        "stopped": None,  # the batch went to its end
    }
    stored = [o for o in summary.intake if o.status == "done"]
    assert len(stored) == 3 and all(o.receipt and o.receipt.is_file() for o in stored)
    assert json.dumps(d)  # the JSON contract is JSON
    again = items.run_inbox(store, inbox, items.Declared(VALID_IIN, "1", kind="protocol"))
    assert again.stored == 0 and again.skipped == 3


def test_a_stream_is_handed_in_exactly_as_a_path(store_dir, tmp_path):
    store = setup.open_store(store_dir)
    photo = make_photo(tmp_path / "p.jpg")
    summary = items.ingest_stream(
        store,
        io.BytesIO(photo.read_bytes()),
        "upload.jpg",
        items.Declared(VALID_IIN, "5", kind="violation"),
    )
    (o,) = summary.intake
    assert o.status == "done" and o.receipt is not None
    receipt = json.loads(o.receipt.read_text())
    assert receipt["entry"]["item"]["sha256"] == o.result.item.sha256
    assert receipt["entry"]["name"] == "upload.jpg" and receipt["entry"]["precinct"] == "5"
    with pytest.raises(InvalidObserverId):
        items.ingest_stream(store, io.BytesIO(b"x"), "x.jpg", items.Declared(" ", "5"))


# --- timestamps ----------------------------------------------------------------------------
def test_an_exported_local_token_names_its_roots(filled_store, tmp_path):
    store = setup.open_store(filled_store)
    status = timestamps.status(store)
    assert (status.items, status.items_local_only, status.upgrade_due) == (3, 3, True)
    sha = sorted(r["sha256"] for r in store.index.items_where())[0]
    exported = timestamps.export(store, sha[:10], tmp_path / "t.tsr")
    assert exported.sha256 == sha and exported.path.is_file()
    assert exported.ca_file == filled_store / "public" / "tsa-root.pem"
    assert exported.untrusted == filled_store / "public" / "tsa.pem"
    assert f"-CAfile {exported.ca_file} -untrusted {exported.untrusted}" in (
        exported.verify_command
    )
    with pytest.raises(UsageError, match="no external token"):
        timestamps.export(store, sha, tmp_path / "e.tsr", external=True)
    with pytest.raises(UsageError, match="no external TSA"):
        timestamps.upgrade(store)


# --- verification --------------------------------------------------------------------------
def test_receipt_input_that_is_not_what_it_claims_is_a_usage_error(filled_store):
    store = Store.open(filled_store)
    receipt = verify.Supplied.read(sorted((filled_store / "receipts").glob("*.json"))[0])
    with pytest.raises(UsageError, match=r"upload\.json is not a receipt"):
        verify.receipt(verify.Supplied(b"\xff not json", "upload.json"))
    with pytest.raises(UsageError, match=r"k\.pub is not a log public key"):
        verify.receipt(receipt, key=verify.Supplied(b"nonsense", "k.pub"))
    with pytest.raises(UsageError, match=r"roots\.pem holds no PEM certificate"):
        verify.receipt(receipt, tsa_roots=verify.Supplied(b"nonsense", "roots.pem"))
    alone = verify.receipt(receipt)
    with_store = verify.receipt(receipt, store=store)
    assert alone.ok and with_store.ok
    assert {c.id for c in with_store.checks} - {c.id for c in alone.checks} >= {
        "in-store-log",
        "consistency",
        "object",
    }


def test_a_dossier_with_nothing_to_trust_is_a_usage_error(filled_store):
    with pytest.raises(UsageError, match="nothing to trust"):
        verify.dossier_trust(None, ())
    trust = verify.dossier_trust(Store.open(filled_store))
    assert len(trust.signer) == 1 and len(trust.tsa) == 1 and len(trust.known or ()) == 3
    given = verify.dossier_trust(None, [b"CA"])
    assert given == verify.DossierTrust((b"CA",), (b"CA",), None)


# --- cases ---------------------------------------------------------------------------------
def test_opening_a_case_needs_a_precinct_and_kind_or_a_discrepancy(filled_store):
    store = setup.open_store(filled_store)
    with pytest.raises(UsageError, match="give --precinct and --kind"):
        cases.open_case(store, precinct="101")
    with pytest.raises(UsageError, match="no protocol readings for precinct 101"):
        cases.open_case(store, from_discrepancy="101")
    opened = cases.open_case(store, precinct="101", kind="other", title="t")
    assert opened.to_dict() == {
        "id": "case-0001",
        "precinct": "101",
        "kind": "other",
        "evidence": [],
    }
    sha = sorted(r["sha256"] for r in store.index.items_where())[0]
    assert cases.attach_evidence(store, opened.id, [sha[:10], sha]).added == 1
    with pytest.raises(UsageError, match="nothing to set"):
        cases.set_details(store, opened.id, cases.CaseDetails())
    done = cases.set_details(
        store, opened.id, cases.CaseDetails(relief="r", title="T", complainant_phone="+7")
    )
    assert done.names == ("phone", "relief", "title")
    view = cases.show_case(store, opened.id)
    assert view.case.title == "T" and view.case.has_complainant
    assert view.to_dict()["deadline"]["days_left"] == 10
    (row,) = cases.by_urgency(store).rows
    assert row.to_dict()["case"] == opened.id and row.to_dict()["days_left"] == 10
    assert [c["id"] for c in cases.list_cases(store).to_dict()] == [opened.id]

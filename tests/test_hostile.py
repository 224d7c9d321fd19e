"""A catalogue of hostile inputs and faults: each runs the CLI in its own process and asserts
the exit code, that no traceback reaches the user, and, where a store is involved, that
``audit`` still passes afterwards or reports the named finding.

Grow it whenever a command is added or a new way to break one is found.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import VALID_IIN, dalel_subprocess, make_photo

pytestmark = pytest.mark.slow


def run(*args: object) -> subprocess.CompletedProcess[str]:
    """The CLI in a subprocess; never a traceback on stdout or stderr, never exit 70."""
    r = dalel_subprocess(*args)
    assert "Traceback" not in r.stdout and "Traceback" not in r.stderr, r.stderr
    assert r.returncode != 70, r.stderr
    return r


def audit(*args: object) -> subprocess.CompletedProcess[str]:
    """``audit --json`` of a store (``--store DIR``) or a bundle (``--bundle DIR``)."""
    return run(*args, "audit", "--json") if args[0] == "--store" else run("audit", *args, "--json")


def reasons(r: subprocess.CompletedProcess[str]) -> set[str]:
    """The named reasons of an ``audit --json`` run's problems."""
    data = json.loads(r.stdout)
    return {c["reason"] for c in data["checks"] if c["status"] == "FAILED" and c.get("reason")}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with one photo in it, and its audit bundle next to it (``bundle``)."""
    root = tmp_path_factory.mktemp("hostile")
    store = root / "store"
    assert run("--store", store, "init", "--org", "Test Coalition").returncode == 0
    photo = make_photo(root / "in" / "protocol.jpg")
    r = run(
        "--store", store, "ingest", photo, "--observer", VALID_IIN, "--precinct", "101",
        "--kind", "protocol",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert run("--store", store, "export-audit", root / "bundle").returncode == 0
    return root


@pytest.fixture
def store(base: Path, tmp_path: Path) -> Path:
    """A fresh copy of the base store, free to damage."""
    return Path(shutil.copytree(base / "store", tmp_path / "store"))


@pytest.fixture
def bundle(base: Path, tmp_path: Path) -> Path:
    """A fresh copy of the base store's audit bundle, free to damage."""
    return Path(shutil.copytree(base / "bundle", tmp_path / "bundle"))


# --- damaged stores and bundles: audit findings, exit 1 ------------------------------------
def test_the_copies_pass_the_audit(store: Path, bundle: Path) -> None:
    assert audit("--store", store).returncode == 0
    assert audit("--bundle", bundle).returncode == 0


@pytest.mark.parametrize("gone", ["log", "log/custody.jsonl"])
def test_a_store_without_its_log_is_a_finding(store: Path, gone: str) -> None:
    target = store / gone
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    r = audit("--store", store)
    assert r.returncode == 1
    assert "LOG_MISSING" in reasons(r)
    text = run("--store", store, "audit")
    assert text.returncode == 1 and "LOG_MISSING" in text.stdout


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        ("deep line", "LINE_MALFORMED"),
        ("huge number line", "LINE_MALFORMED"),
        ("garbled checkpoint", "CHECKPOINT_MALFORMED"),
    ],
)
def test_a_damaged_log_or_checkpoint_is_a_finding(store: Path, damage: str, reason: str) -> None:
    log = store / "log" / "custody.jsonl"
    match damage:
        case "deep line":
            with log.open("ab") as f:
                f.write(b"[" * 100_000 + b"]" * 100_000 + b"\n")
        case "huge number line":
            with log.open("ab") as f:
                f.write(b'{"entry": {"seq": ' + b"9" * 5000 + b"}}\n")
        case "garbled checkpoint":
            (latest,) = sorted((store / "log" / "checkpoints").glob("*.note"))[-1:]
            latest.write_bytes(b"\xff\xfe" + latest.read_bytes()[:10])
    r = audit("--store", store)
    assert r.returncode == 1
    assert reason in reasons(r)


@pytest.mark.parametrize(
    "damage",
    [
        "no bundle.json",
        "empty bundle.json",
        "garbled bundle.json",
        "bundle.json a list",
        "no log",
        "no custody.jsonl",
        "no objects.txt",
        "garbled objects.txt",
        "no log key",
    ],
)
def test_a_damaged_bundle_is_a_finding(bundle: Path, damage: str) -> None:
    match damage:
        case "no bundle.json":
            (bundle / "bundle.json").unlink()
        case "empty bundle.json":
            (bundle / "bundle.json").write_text("")
        case "garbled bundle.json":
            (bundle / "bundle.json").write_bytes(b"{\xff" + b"[" * 100_000)
        case "bundle.json a list":
            (bundle / "bundle.json").write_text("[]")
        case "no log":
            shutil.rmtree(bundle / "log")
        case "no custody.jsonl":
            (bundle / "log" / "custody.jsonl").unlink()
        case "no objects.txt":
            (bundle / "objects.txt").unlink()
        case "garbled objects.txt":
            (bundle / "objects.txt").write_text("abc\nfff " + "9" * 5000 + "\n")
        case "no log key":
            (bundle / "public" / "log.pub").unlink()
    r = audit("--bundle", bundle)
    assert r.returncode == 1
    assert "BUNDLE_INCOMPLETE" in reasons(r)


def test_a_bundle_missing_several_parts_reports_each(bundle: Path) -> None:
    (bundle / "bundle.json").unlink()
    (bundle / "objects.txt").unlink()
    r = audit("--bundle", bundle)
    assert r.returncode == 1
    items = {
        c["subject"] for c in json.loads(r.stdout)["checks"] if c["reason"] == "BUNDLE_INCOMPLETE"
    }
    assert {"bundle.json", "objects.txt"} <= items
    # The other checks still ran: the log's entries were read and checked.
    assert json.loads(r.stdout)["entries"] > 0


def test_export_audit_onto_a_file_is_a_usage_error(store: Path, tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.write_text("mine")
    r = run("--store", store, "export-audit", target)
    assert r.returncode == 2
    assert "fix:" in r.stderr
    assert target.read_text() == "mine"
    r = run("--store", store, "export-audit", target / "inside")
    assert r.returncode == 2 and "fix:" in r.stderr
    assert audit("--store", store).returncode == 0


# --- dates out of range --------------------------------------------------------------------
def _new_case(store: Path) -> str:
    r = run("--store", store, "case", "new", "--precinct", "101", "--kind", "ballot-stuffing")
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


@pytest.mark.parametrize(
    "given", ["notadate", "2026-02-30", "20260315", "２０２６-03-15", "", "9" * 5000]
)
def test_case_set_with_an_event_date_that_is_no_date_is_a_usage_error(
    store: Path, given: str
) -> None:
    case_id = _new_case(store)
    r = run("--store", store, "case", "set", case_id, "--event-date", given, "--title", "t")
    assert r.returncode == 2
    assert "YYYY-MM-DD" in r.stderr
    assert audit("--store", store).returncode == 0
    shown = run("--store", store, "case", "show", case_id, "--json")
    assert json.loads(shown.stdout)["title"] == ""  # nothing of the command was set


@pytest.mark.parametrize("given", ["9999-12-31", "0001-01-01", "1999-12-31", "2101-01-01"])
def test_an_event_date_out_of_range_is_refused(store: Path, given: str) -> None:
    case_id = _new_case(store)
    r = run("--store", store, "case", "set", case_id, "--event-date", given)
    assert r.returncode == 2 and "2000-01-01" in r.stderr
    r = run(
        "--store", store, "case", "new", "--precinct", "1", "--kind", "other", "--event-date", given
    )
    assert r.returncode == 2 and "2100-12-31" in r.stderr
    assert run("--store", store, "deadlines").returncode == 0
    assert audit("--store", store).returncode == 0


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
def test_a_logged_event_date_at_the_calendars_end_does_not_crash(store: Path, day: str) -> None:
    """A case an older version let through: shown and listed, never a crash."""
    from app.setup import open_store
    from evidence.core import events

    case_id = _new_case(store)
    with open_store(store).writer() as w:
        w.append({"event": events.CASE_SET, "case": case_id, "field": "event_date", "value": day})
    for args in (("case", "show", case_id), ("case", "show", case_id, "--json"), ("deadlines",)):
        r = run("--store", store, *args)
        assert r.returncode == 0, r.stderr
    assert run("--store", store, "deadlines", "--json").returncode == 0
    assert audit("--store", store).returncode == 0


# --- receipts without limits ---------------------------------------------------------------
def _receipt(store: Path) -> dict[str, object]:
    (path,) = sorted((store / "receipts").glob("*.json"))[:1]
    data: dict[str, object] = json.loads(path.read_text())
    return data


def _verify_receipt(store: Path, tmp_path: Path, content: bytes) -> subprocess.CompletedProcess:
    path = tmp_path / "hostile-receipt.json"
    path.write_bytes(content)
    return run("receipt", "verify", path, "--store", store)


def test_a_real_receipt_holds(store: Path, tmp_path: Path) -> None:
    r = _verify_receipt(store, tmp_path, json.dumps(_receipt(store)).encode())
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize(
    "content",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"format": "dalel-receipt/1", "entry": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b"{" * 100_000,
        b'{"leaf_index": ' + b"9" * 5000 + b"}",
        b"\xff\xfe not json",
        b"",
        b" " * (1 << 20) + b"{}",
    ],
    ids=["nested", "nested-entry", "unclosed", "5000-digits", "not-utf8", "empty", "over-1MiB"],
)
def test_a_receipt_that_cannot_be_read_is_a_usage_error(
    store: Path, tmp_path: Path, content: bytes
) -> None:
    r = _verify_receipt(store, tmp_path, content)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "is not a receipt" in r.stderr or "larger than" in r.stderr
    assert "fix:" in r.stderr


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("leaf_index", "1e999"),
        ("leaf_index", "-1e999"),
        ("leaf_index", "9" * 4000),
        ("leaf_index", "-1"),
        ("leaf_index", '"0"'),
        ("leaf_index", "true"),
        ("leaf_index", "0.5"),
        ("inclusion_proof", json.dumps(["AAAA"] * 100)),
        ("entry_line", json.dumps("[" * 100_000 + "]" * 100_000)),
        ("checkpoint", json.dumps("o\n" + "9" * 4000 + "\nAAAA\n\n— o sig\n")),
        ("log", '{"key": 5}'),
    ],
)
def test_a_receipt_with_a_hostile_field_is_malformed(
    store: Path, tmp_path: Path, field: str, value: str
) -> None:
    receipt = _receipt(store)
    receipt[field] = "@@HOSTILE@@"
    content = json.dumps(receipt).replace('"@@HOSTILE@@"', value).encode()
    r = _verify_receipt(store, tmp_path, content)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "MALFORMED" in r.stdout


@pytest.mark.parametrize(
    "value",
    [
        "5",
        "[1]",
        '{"token": "AAAA", "tsa_roots_pem": 5}',
        '{"token": "AAAA", "source": "../../keys/log", "recorded_at": "2026-01-01"}',
        '{"token": "AAAA", "source": ["x"], "recorded_at": "2026-01-01"}',
    ],
)
def test_a_receipt_with_a_hostile_timestamp_fails_its_check(
    store: Path, tmp_path: Path, value: str
) -> None:
    receipt = _receipt(store)
    receipt["timestamp"] = "@@HOSTILE@@"
    content = json.dumps(receipt).replace('"@@HOSTILE@@"', value).encode()
    r = _verify_receipt(store, tmp_path, content)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "TIMESTAMP_INVALID" in r.stdout


def test_a_hostile_receipt_in_the_store_is_an_audit_finding(store: Path) -> None:
    (store / "receipts" / "nested.json").write_bytes(b"[" * 100_000 + b"]" * 100_000)
    receipt = _receipt(store)
    text = json.dumps(receipt).replace(str(receipt["leaf_index"]), "1e999", 1)
    (store / "receipts" / "zz-infinite.json").write_text(text)
    r = audit("--store", store)
    assert r.returncode == 1
    assert reasons(r) == {"RECEIPT_INVALID"}


def test_export_audit_where_nothing_can_be_written_is_an_environment_error(store: Path) -> None:
    r = run("--store", store, "export-audit", "/proc/dalel-hostile-bundle")
    assert r.returncode == 4, r.stderr
    assert "fix:" in r.stderr
    assert audit("--store", store).returncode == 0


@pytest.mark.parametrize(
    ("csv_bytes", "code"),
    [
        (b"precinct,field,value\n101,voters," + b"9" * 5000 + b"\n", 3),
        ("precinct,field,value\n101,voters,\u00b2\n".encode(), 3),
        (b'precinct,field,value\n101,voters,"' + b"x" * 200_000 + b'"\n', 2),
        (b"", 2),
        (b"\xff\xfe\x00garbage", 2),
        (b"a,b,c\n101,voters,5\n", 2),
        (b"\x00" * 200_000, 2),
    ],
    ids=[
        "5000-digits",
        "superscript-digit",
        "200kb-field",
        "empty",
        "not-utf8",
        "wrong-header",
        "200kb-first-line",
    ],
)
def test_hostile_official_results_csv_is_named_not_a_crash(
    store: Path, tmp_path: Path, csv_bytes: bytes, code: int
) -> None:
    path = tmp_path / "official.csv"
    path.write_bytes(csv_bytes)
    r = run("--store", store, "official", "import", path)
    assert r.returncode == code, r.stderr
    assert audit("--store", store).returncode == 0


def test_rich_markup_in_names_and_notes_is_printed_literally(store: Path, tmp_path: Path) -> None:
    folder = tmp_path / "хаттама["
    make_photo(folder / "]x.jpg")
    r = run(
        "--store", store, "ingest", folder, "--observer", VALID_IIN, "--precinct", "101",
        "--note", "[bold]note[/] [/]",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "]x.jpg" in r.stdout + r.stderr
    assert audit("--store", store).returncode == 0


def test_manifest_with_a_200kb_field_is_named_not_a_crash(store: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    make_photo(folder / "a.jpg")
    (folder / "manifest.csv").write_bytes(b'file,note\na.jpg,"' + b"x" * 200_000 + b'"\n')
    r = run("--store", store, "ingest", folder, "--observer", VALID_IIN, "--precinct", "101")
    assert r.returncode == 2, r.stderr
    assert "manifest.csv cannot be read as CSV" in r.stderr and "Traceback" not in r.stderr
    assert audit("--store", store).returncode == 0

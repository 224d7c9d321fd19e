"""A case's dossier built as a job (``dalel dossier build --queue``, ``dalel worker --queues
dossier``): built once per request whatever dies when, refused at once when it could not be
built, and never on a machine without the log. Real PostgreSQL, started by the tests."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from pipeline import jobs
from tests.conftest import VALID_IIN, dalel_subprocess, filing_details, make_photo
from tests.pipeline.test_workers import _counts, _entries, _worker


def _run(*args) -> dict:
    r = dalel_subprocess(*args)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout) if "--json" in args else {}


@pytest.fixture
def case_store(postgres_server, tmp_path, monkeypatch) -> Path:
    """A store with its index in PostgreSQL holding a case ready to be filed: two photos."""
    monkeypatch.setenv("PGPASSWORD", postgres_server.password)
    url = postgres_server.create_database()
    store = tmp_path / "store"
    _run("--store", store, "init", "--org", "Coalition", "--db", url)
    photos = [make_photo(tmp_path / f"p{i}.jpg", (40 * i, 90, 200)) for i in range(2)]
    _run(
        "--store", store, "ingest", *photos, "--observer", VALID_IIN, "--precinct", "31",
        "--kind", "violation",
    )  # fmt: skip
    made = _run("--store", store, "case", "new", "--precinct", "31", "--kind", "other", "--json")
    items = [e["item"]["sha256"] for e in _entries(store, "ingest")]
    _run("--store", store, "case", "add-evidence", made["id"], *items)
    _run("--store", store, "case", "set", made["id"], *filing_details())
    yield store
    postgres_server.drop_database(url)


def _queue(store: Path, *args: str) -> dict:
    return _run("--store", store, "dossier", "build", "case-0001", "--queue", *args, "--json")


def _dossiers(store: Path) -> list[dict]:
    return _entries(store, "dossier")


def test_a_queued_dossier_is_built_once_by_a_worker_and_verifies(case_store, tmp_path):
    first = _queue(case_store, "--lang", "kk")
    assert first["queued"] is True and first["case"] == "case-0001"
    assert _queue(case_store, "--lang", "kk")["queued"] is False  # (the same request waits)
    assert _counts(case_store)["dossier"]["todo"] == 1
    assert _dossiers(case_store) == []  # nothing built before a worker runs
    done = _worker(case_store, "--queues", "dossier")
    assert done.returncode == 0, done.stderr
    built = _dossiers(case_store)
    assert [(d["case"], d["language"], d["edition"]) for d in built] == [
        ("case-0001", "kk", "court")
    ]
    out = tmp_path / "d.pdf"
    _run("--store", case_store, "dossier", "copy", built[0]["subject"], "--out", out)
    verified = dalel_subprocess("--store", case_store, "dossier", "verify", out, "--json")
    assert verified.returncode == 0, verified.stdout
    assert _counts(case_store)["dossier"]["succeeded"] == 1
    # asked again later: a new request (the case may have changed), a second dossier
    assert _queue(case_store, "--lang", "kk")["queued"] is True
    assert _worker(case_store, "--queues", "dossier").returncode == 0
    assert len(_dossiers(case_store)) == 2


@pytest.mark.parametrize("point", ["dossier-started", "dossier-logged"])
def test_a_worker_killed_while_building_leaves_one_dossier(case_store, point):
    """Killed before anything was recorded, or after the dossier was logged and before its
    job was marked done: another worker takes the job back, and the case has one dossier."""
    _queue(case_store)
    died = _worker(case_store, "--queues", "dossier", env={jobs.DIE_AT: point})
    assert died.returncode == 137, (died.returncode, died.stderr)
    assert _counts(case_store)["dossier"]["doing"] == 1
    assert len(_dossiers(case_store)) == (1 if point == "dossier-logged" else 0)
    again = _worker(case_store, "--queues", "dossier", "--stalled-after", "1")
    assert again.returncode == 0, again.stderr
    assert "put back on the queue" in again.stderr
    assert len(_dossiers(case_store)) == 1
    left = _counts(case_store)["dossier"]
    assert (left["doing"], left["succeeded"], left["failed"]) == (0, 1, 0)
    assert dalel_subprocess("--store", case_store, "audit").returncode == 0


def test_what_could_not_be_built_is_refused_before_it_is_queued(case_store, tmp_path):
    r = dalel_subprocess("--store", case_store, "dossier", "build", "case-0404", "--queue")
    assert r.returncode != 0 and "case-0404" in r.stderr
    made = _run(
        "--store", case_store, "case", "new", "--precinct", "31", "--kind", "other", "--json"
    )
    r = dalel_subprocess("--store", case_store, "dossier", "build", made["id"], "--queue")
    assert r.returncode == 2 and "cannot be filed yet" in r.stderr
    assert _counts(case_store)["dossier"]["todo"] == 0
    # a draft of it may be queued; a PKCS#12 signature may not (the worker signs)
    assert _queue(case_store, "--draft")["queued"] is True
    p12 = tmp_path / "id.p12"
    p12.write_bytes(b"not read")
    r = dalel_subprocess(
        "--store", case_store, "dossier", "build", "case-0001", "--queue", "--sign", p12
    )
    assert r.returncode == 2 and "organization's certificate" in r.stderr


def test_no_dossier_worker_where_the_log_is_not(case_store, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(case_store / "config.toml", elsewhere / "config.toml")
    r = dalel_subprocess(
        "--store", elsewhere, "worker", "--queues", "dossier", "--until-done",
        env={**os.environ},
    )  # fmt: skip
    assert r.returncode == 2 and "holds the log" in r.stderr


def test_a_store_without_postgresql_builds_its_dossiers_itself(tmp_path):
    store = tmp_path / "s"
    _run("--store", store, "init", "--org", "Coalition")
    _run("--store", store, "case", "new", "--precinct", "31", "--kind", "other")
    r = dalel_subprocess("--store", store, "dossier", "build", "case-0001", "--queue", "--draft")
    assert r.returncode == 2 and "need PostgreSQL" in r.stderr
    assert "dalel dossier build case-0001 --out FILE" in r.stderr  # (what it can do instead)

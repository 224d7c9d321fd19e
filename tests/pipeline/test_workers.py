"""OCR as jobs on the PostgreSQL queue (Procrastinate): ``dalel ocr --queue`` and
``dalel worker``, against a real PostgreSQL server the tests start. Workers are separate
processes, killed at named points and at random moments; each protocol photo must end with
exactly one reading in the log, the same reading the in-process path makes."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from evidence import audit
from evidence.provision import init_store
from evidence.storage.store import Store
from ocr.synth.generate import make_sample
from pipeline import jobs
from tests.conftest import ROOT, VALID_IIN, dalel_subprocess

PHOTOS = 3


def _hand_in(store: Path, folder: Path, indices, *, seed: int, kind: str = "protocol") -> None:
    """Clean typed protocol photos from the generator, handed in to precinct 12 as ``kind``."""
    folder.mkdir()
    for i in indices:
        s = make_sample(i, seed, tier="clean", script="typed", layout="table", adds_up=True)
        (folder / f"p{i}.{s.ext}").write_bytes(s.image)
    r = dalel_subprocess(
        "--store", store, "ingest", folder, "--observer", VALID_IIN, "--precinct", "12",
        "--kind", kind,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr


@pytest.fixture
def national(postgres_server, tmp_path, monkeypatch) -> Path:
    """A store with its index (and so its job queue) in PostgreSQL, holding PHOTOS protocol
    photos handed in as protocols and not yet read."""
    monkeypatch.setenv("PGPASSWORD", postgres_server.password)
    url = postgres_server.create_database()
    store = tmp_path / "store"
    init_store(store, org="Test Coalition", db=url)
    _hand_in(store, tmp_path / "protocols", range(PHOTOS), seed=7)
    yield store
    postgres_server.drop_database(url)


def _entries(store: Path, event: str) -> list[dict]:
    lines = (store / "log" / "custody.jsonl").read_bytes().splitlines()
    return [e for e in (json.loads(ln)["entry"] for ln in lines) if e["event"] == event]


def _protocols(store: Path) -> set[str]:
    return {e["item"]["sha256"] for e in _entries(store, "ingest") if e["kind"] == "protocol"}


def _one_reading_each(store: Path) -> list[dict]:
    """Each protocol photo has exactly one reading in the log; every saved reading is
    marked with its line; the store audits clean."""
    readings = _entries(store, "ocr")
    subjects = [e["subject"] for e in readings]
    assert sorted(subjects) == sorted(_protocols(store)), subjects
    opened = Store.open(store)
    engine = create_engine(opened.index_url)
    try:
        with engine.connect() as c:
            saved = c.execute(select(jobs.readings.c.sha256, jobs.readings.c.seq)).all()
    finally:
        engine.dispose()
    assert sorted(s for s, _ in saved) == sorted(subjects)
    by_subject = {e["subject"]: e["seq"] for e in readings}
    assert all(seq == by_subject[sha] for sha, seq in saved), saved
    assert audit.run(audit.StoreSource(opened)).ok
    return readings


def _worker(store: Path, *args: str, env: dict | None = None, timeout: int = 240):
    return dalel_subprocess(
        "--store", store, "worker", "--until-done", *args,
        timeout=timeout, env={**os.environ, **(env or {})},
    )  # fmt: skip


def _counts(store: Path) -> dict[str, dict]:
    r = dalel_subprocess("--store", store, "jobs", "--json")
    assert r.returncode == 0, r.stderr
    return {q["queue"]: q for q in json.loads(r.stdout)}


def test_queued_readings_are_the_readings_made_in_process(national, tmp_path):
    r = dalel_subprocess("--store", national, "ocr", "--queue", "--json")
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)["queued"]) == PHOTOS
    # queued again before any worker ran: nothing is queued twice
    again = json.loads(dalel_subprocess("--store", national, "ocr", "--queue", "--json").stdout)
    assert again["queued"] == [] and len(again["waiting"]) == PHOTOS
    assert _counts(national)["ocr"]["todo"] == PHOTOS

    done = _worker(national, "--json")
    assert done.returncode == 0, done.stderr
    ended = {q["queue"]: q for q in json.loads(done.stdout)}
    assert ended["ocr"]["succeeded"] == PHOTOS and ended["ocr"]["todo"] == 0
    assert ended["log"]["succeeded"] >= 1 and ended["log"]["failed"] == 0
    queued = {e["subject"]: e for e in _one_reading_each(national)}

    # the same photos read in the command's own process, in a store on SQLite
    local = tmp_path / "local"
    init_store(local, org="Local")
    photos = tmp_path / "protocols"
    r = dalel_subprocess(
        "--store", local, "run", photos, "--observer", VALID_IIN, "--precinct", "12",
        "--kind", "protocol",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    here = {e["subject"]: e for e in _entries(local, "ocr")}
    assert set(here) == set(queued)
    national_store, local_store = Store.open(national), Store.open(local)
    for sha, e in here.items():
        for k in ("figures", "form", "engine", "relations", "precinct_on_sheet"):
            assert queued[sha][k] == e[k], k
        crops = [[o for o in x["objects"] if o["role"] == "crop"] for x in (queued[sha], e)]
        assert crops[0] == crops[1] and crops[0]  # the same crops, byte for byte

        def full(store: Store, entry: dict) -> dict:
            (o,) = [o for o in entry["objects"] if o["role"] == "reading"]
            with store.objects.open(o["sha256"]) as f:
                return {k: v for k, v in json.loads(f.read()).items() if k != "seconds"}

        assert full(national_store, queued[sha]) == full(local_store, e)  # (but its wall time)

    # everything read: queuing again queues nothing, reading here reads nothing
    after = json.loads(dalel_subprocess("--store", national, "ocr", "--queue", "--json").stdout)
    assert after["queued"] == [] and len(after["done"]) == PHOTOS
    r = dalel_subprocess("--store", national, "ocr", "--json")
    assert [x["status"] for x in json.loads(r.stdout)] == ["skipped"] * PHOTOS
    assert len(_entries(national, "ocr")) == PHOTOS


@pytest.mark.parametrize("point", jobs.DIE_POINTS)
def test_a_worker_killed_mid_job_leaves_one_reading(national, point):
    assert dalel_subprocess("--store", national, "ocr", "--queue").returncode == 0
    died = _worker(national, env={jobs.DIE_AT: point})
    assert died.returncode == 137, (died.returncode, died.stderr)
    left = _counts(national)
    assert left["ocr"]["doing"] + left["log"]["doing"] == 1  # its job, still "running"
    if point == "log-committed":  # the lines were in the log before it died
        assert len(_entries(national, "ocr")) == PHOTOS
    # another worker gives the dead one's job back to the queue once its heartbeat is stale
    again = _worker(national, "--stalled-after", "1")
    assert again.returncode == 0, again.stderr
    assert "put back on the queue" in again.stderr
    _one_reading_each(national)
    left = _counts(national)
    assert left["ocr"]["doing"] == left["log"]["doing"] == 0
    assert left["ocr"]["failed"] == left["log"]["failed"] == 0


def _running(store: Path) -> int:
    """Jobs running in the newest worker (not those of one killed before)."""
    engine = create_engine(Store.open(store).index_url)
    try:
        with engine.connect() as c:
            return int(
                c.exec_driver_sql(
                    "SELECT count(*) FROM procrastinate_jobs WHERE status = 'doing' "
                    "AND worker_id = (SELECT max(id) FROM procrastinate_workers)"
                ).scalar()
            )
    finally:
        engine.dispose()


def test_workers_killed_at_random_moments_leave_one_reading_each(national):
    assert dalel_subprocess("--store", national, "ocr", "--queue").returncode == 0
    rng = random.Random(17)
    args = [sys.executable, "-m", "cli", "--store", str(national), "worker"]
    killed_running = 0
    for _ in range(4):
        w = subprocess.Popen(
            [*args, "--stalled-after", "1"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while not _running(national) and w.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)  # until it has taken a job
        time.sleep(rng.uniform(0.0, 2.5))  # then somewhere in reading or logging it
        killed_running += _running(national) > 0
        w.send_signal(signal.SIGKILL)
        w.wait(timeout=30)
    assert killed_running >= 2  # (the kills did land mid-job)
    done = _worker(national, "--stalled-after", "1", "--concurrency", "2")
    assert done.returncode == 0, done.stderr
    _one_reading_each(national)


def test_two_workers_at_once_read_each_photo_once(national):
    assert dalel_subprocess("--store", national, "ocr", "--queue").returncode == 0
    done = _worker(national, "--concurrency", "2", "--json")
    assert done.returncode == 0, done.stderr
    ended = {q["queue"]: q for q in json.loads(done.stdout)}
    assert ended["ocr"]["succeeded"] == PHOTOS
    _one_reading_each(national)


def test_jobs_need_postgresql_and_name_real_queues(national, tmp_path):
    r = dalel_subprocess("--store", national, "worker", "--queues", "ocr,bogus")
    assert r.returncode == 2 and "no such queue: bogus" in r.stderr
    r = dalel_subprocess("--store", national, "jobs")
    assert r.returncode == 0 and "ocr" in r.stdout and "Traceback" not in r.stderr
    local = tmp_path / "local"  # the embedded default: reading happens in the command
    init_store(local, org="Local")
    for cmd in (("ocr", "--queue"), ("worker", "--until-done"), ("jobs",)):
        r = dalel_subprocess("--store", local, *cmd)
        assert r.returncode == 2, (cmd, r.stderr)
        assert "PostgreSQL" in r.stderr and "Traceback" not in r.stderr


def test_a_running_worker_upgrades_local_timestamps_once_a_tsa_answers(
    postgres_server, tmp_path, monkeypatch
):
    from cryptography.hazmat.primitives import serialization

    from testing.tsa_server import LoopbackTSA, down_url

    monkeypatch.setenv("PGPASSWORD", postgres_server.password)
    url = postgres_server.create_database()
    store = tmp_path / "store"
    init_store(store, org="Test Coalition", db=url)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for i in range(2):
        (inbox / f"act{i}.txt").write_text(f"act {i}\n")

    def status() -> dict:
        r = dalel_subprocess("--store", store, "timestamp", "--json")
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    with LoopbackTSA() as tsa:
        pem = tmp_path / "root.pem"
        pem.write_bytes(tsa.root_certificate.public_bytes(serialization.Encoding.PEM))

        def add_tsa(where: str) -> None:
            r = dalel_subprocess(
                "--store", store, "timestamp", "add-tsa", "loopback", where, "--roots", pem,
                "--timeout", "1",
            )  # fmt: skip
            assert r.returncode == 0, r.stderr

        add_tsa(down_url())  # the internet is cut: the store's own TSA stamps
        r = dalel_subprocess(
            "--store", store, "ingest", inbox, "--observer", VALID_IIN, "--precinct", "12"
        )
        assert r.returncode == 0, r.stderr
        assert status()["items_local_only"] == 2
        worker = subprocess.Popen(
            [sys.executable, "-m", "cli", "--store", str(store), "worker", "--queues", "log",
             "--upgrade-every", "1"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            time.sleep(3)  # it tries while the TSA cannot be reached: nothing changes
            assert worker.poll() is None
            assert status()["items_local_only"] == 2
            add_tsa(tsa.url)  # the internet is back
            deadline = time.monotonic() + 60
            while status()["items_local_only"] and time.monotonic() < deadline:
                time.sleep(0.5)
        finally:
            worker.send_signal(signal.SIGTERM)
            _, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err
    now = status()
    assert now["items_local_only"] == 0 and now["items_external"] == 2, err
    assert audit.run(audit.StoreSource(Store.open(store))).ok
    postgres_server.drop_database(url)


def test_the_log_signs_only_readings_of_its_own_photos(national):
    """Whoever can write to the database can save anything as a reading: the log job signs
    only a reading of a photo in the store, under its own key, in the ``ocr`` schema."""
    from sqlalchemy.dialects.postgresql import insert

    assert dalel_subprocess("--store", national, "ocr", "--queue").returncode == 0
    assert _worker(national).returncode == 0
    real = _entries(national, "ocr")[0]
    stranger = "ab" * 32
    forged = {
        "not-a-reading": (real["subject"], {**real, "event": "ingest"}),
        "another-photo": (stranger, {**real, "subject": stranger}),
        "wrong-key": (real["subject"], {**real, "figures": {}}),
        # under the very key of a real reading of that photo, but of another precinct (as a
        # job queued with a forged precinct would make it): the log knows the photo's
        jobs.reading_key(real["subject"], real["form"], real["engine"]) + "x": (
            real["subject"],
            {**real, "precinct": "999"},
        ),
        "not-json": (real["subject"], "{"),
        # under the right key, but back-dated, or naming an object the store does not hold
        # (each under its own right key: a form of its own, so that the key check passes)
        jobs.reading_key(real["subject"], "forged-a", real["engine"]): (
            real["subject"],
            {k: v for k, v in real.items() if k not in ("seq", "prev", "v")}
            | {"time": "2020-01-01T00:00:00Z", "form": "forged-a"},
        ),
        jobs.reading_key(real["subject"], "forged-b", real["engine"]): (
            real["subject"],
            {k: v for k, v in real.items() if k not in ("seq", "prev", "v", "time")}
            | {"objects": [{"sha256": "cd" * 32, "role": "reading"}], "form": "forged-b"},
        ),
    }
    opened = Store.open(national)
    engine = create_engine(opened.index_url)
    try:
        with engine.begin() as c:
            for key, (sha, entry) in forged.items():
                text = entry if isinstance(entry, str) else json.dumps(entry)
                c.execute(insert(jobs.readings).values(key=key, sha256=sha, entry=text))
    finally:
        engine.dispose()
    app = jobs.make_app(opened, upgrade_every=0)
    with app.open():
        jobs._defer_log(app)
    done = _worker(national, "--json")
    assert done.returncode == 0, done.stderr
    assert {q["queue"]: q for q in json.loads(done.stdout)}["log"]["failed"] == 0
    assert len(_entries(national, "ocr")) == PHOTOS  # nothing forged was signed
    engine = create_engine(opened.index_url)
    try:
        with engine.connect() as c:
            marks = dict(c.execute(select(jobs.readings.c.key, jobs.readings.c.seq)).all())
    finally:
        engine.dispose()
    assert all(marks[k] == jobs.REFUSED for k in forged)
    assert audit.run(audit.StoreSource(Store.open(national))).ok


def test_a_reading_the_log_refused_does_not_block_its_photo(national, tmp_path):
    """A reading saved under a photo's own key and refused by the log (here: naming another
    precinct) would hold that key for good; queued again, it is dropped and the photo read."""
    from sqlalchemy.dialects.postgresql import insert

    assert dalel_subprocess("--store", national, "ocr", "--queue").returncode == 0
    assert _worker(national).returncode == 0
    real = _entries(national, "ocr")[0]
    _hand_in(national, tmp_path / "later", [PHOTOS], seed=7)
    (later,) = _protocols(national) - {e["subject"] for e in _entries(national, "ocr")}
    key = jobs.reading_key(later, real["form"], real["engine"])
    forged = {k: v for k, v in real.items() if k not in ("seq", "prev", "v", "time")}
    forged |= {"subject": later, "precinct": "999"}
    opened = Store.open(national)
    engine = create_engine(opened.index_url)
    try:
        with engine.begin() as c:
            c.execute(insert(jobs.readings).values(key=key, sha256=later, entry=json.dumps(forged)))
    finally:
        engine.dispose()
    app = jobs.make_app(opened, upgrade_every=0)
    with app.open():
        jobs._defer_log(app)
    assert _worker(national, "--queues", "log").returncode == 0
    assert later not in {e["subject"] for e in _entries(national, "ocr")}  # refused
    r = dalel_subprocess("--store", national, "ocr", "--queue", "--json")
    assert r.returncode == 0, r.stderr
    again = json.loads(r.stdout)
    assert again["queued"] == [later] and again["refused_before"] == [later]
    assert _worker(national).returncode == 0
    readings = [e for e in _entries(national, "ocr") if e["subject"] == later]
    assert [e["precinct"] for e in readings] == ["12"]
    _one_reading_each(national)


def test_a_worker_on_another_machine_needs_only_the_config(postgres_server, tmp_path, monkeypatch):
    """The objects in S3 and the index in PostgreSQL: a worker whose folder holds nothing but
    a copy of the store's config.toml reads the protocols (no log, no keys there); the
    machine that holds the log logs them."""
    import shutil

    from testing.seaweed import SeaweedServer

    monkeypatch.setenv("PGPASSWORD", postgres_server.password)
    url = postgres_server.create_database()
    with SeaweedServer.start() as s3:
        for name, value in s3.environ().items():
            monkeypatch.setenv(name, value)
        store = tmp_path / "store"
        init_store(store, org="Coalition", db=url, objects="s3://dalel-workers/p", retain_days=1)
        _hand_in(store, tmp_path / "protocols", range(2), seed=9)
        assert dalel_subprocess("--store", store, "ocr", "--queue").returncode == 0
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        shutil.copy(store / "config.toml", elsewhere / "config.toml")
        read = _worker(elsewhere, "--queues", "ocr")
        assert read.returncode == 0, read.stderr
        assert not (elsewhere / "log").exists() and not (elsewhere / "keys").exists()
        assert _entries(store, "ocr") == []  # read, saved, not yet logged
        logged = _worker(store, "--queues", "log")
        assert logged.returncode == 0, logged.stderr
        readings = _entries(store, "ocr")
        assert sorted(e["subject"] for e in readings) == sorted(_protocols(store))
        assert all(e["precinct"] == "12" for e in readings)
        assert audit.run(audit.StoreSource(Store.open(store))).ok
    postgres_server.drop_database(url)


def test_following_queues_each_protocol_photo_the_store_logs(national, tmp_path):
    r = dalel_subprocess("--store", national, "ocr", "--queue", "--follow", "--json")
    assert r.returncode == 0, r.stderr
    made = json.loads(r.stdout)
    assert len(made["queued"]) == PHOTOS and made["following"] is True
    assert _worker(national).returncode == 0
    assert len(_entries(national, "ocr")) == PHOTOS

    def hand_in(name: str, index: int, kind: str) -> None:
        _hand_in(national, tmp_path / name, [index], seed=11, kind=kind)

    hand_in("later", 5, "protocol")  # the ingest's commit puts it on the queue by itself
    hand_in("scene", 6, "violation")  # not a protocol: not queued
    assert _counts(national)["ocr"]["todo"] == 1
    assert _worker(national).returncode == 0
    _one_reading_each(national)  # (every protocol photo, the new one too)
    assert len(_entries(national, "ocr")) == PHOTOS + 1

    r = dalel_subprocess("--store", national, "ocr", "--queue", "--no-follow", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["following"] is False
    hand_in("after", 7, "protocol")
    assert _counts(national)["ocr"]["todo"] == 0  # no more by itself

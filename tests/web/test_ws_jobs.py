"""Dossier builds as background jobs (web/workspace/cases.py ``Jobs``): one at a time, the rest
queued, progress moving while one builds, and a failure said in plain words with the traceback
saved to the store's logs/ (never shown)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from evidence.storage.store import Store
from web.workspace import cases as ws_cases


def _ctx(store: Store) -> Any:
    return SimpleNamespace(
        store=store, lock=threading.Lock(), user=SimpleNamespace(pseudonym="usr-test")
    )


def _wait(job: ws_cases.Job, states: set[str], seconds: float = 10.0) -> None:
    end = time.monotonic() + seconds
    while job.state not in states and time.monotonic() < end:
        time.sleep(0.02)
    assert job.state in states, job.state


def test_jobs_run_one_at_a_time_and_end_with_the_dossier(tmp_path: Path, monkeypatch) -> None:
    store = Store.create(tmp_path / "store")
    release = threading.Event()
    calls: list[str] = []

    def build(store: Store, case: str, out: Path, **kw: Any) -> Any:
        calls.append(case)
        assert release.wait(10)
        return SimpleNamespace(result=SimpleNamespace(sha256=f"sha-of-{case}"))

    monkeypatch.setattr(ws_cases.dossiers, "build", build)
    jobs = ws_cases.Jobs()
    ctx = _ctx(store)
    first = jobs.start(ctx, "case-1", "court", "kk", False)
    second = jobs.start(ctx, "case-2", "public", "en", True)
    _wait(first, {"running"})
    time.sleep(0.3)
    assert second.state == "queued" and calls == ["case-1"]
    assert 0 < first.progress < 1
    release.set()
    _wait(first, {"done"})
    _wait(second, {"done"})
    assert (first.dossier, second.dossier) == ("sha-of-case-1", "sha-of-case-2")
    assert first.progress == 1.0
    shown = first.to_dict(lambda key, **_: key)
    assert shown["state"] == "done" and shown["dossier"] == "sha-of-case-1"


def test_a_failed_job_says_why_in_plain_words_and_saves_the_traceback(
    tmp_path: Path, monkeypatch
) -> None:
    store = Store.create(tmp_path / "store")

    def build(*a: Any, **kw: Any) -> Any:
        raise ZeroDivisionError("secret internals")

    monkeypatch.setattr(ws_cases.dossiers, "build", build)
    job = ws_cases.Jobs().start(_ctx(store), "case-1", "court", "ru", False)
    _wait(job, {"failed"})
    assert job.error is not None and job.error["reason"] == "INTERNAL"
    message = job.error["message"]
    assert "Traceback" not in message and "secret internals" not in message
    name = message.rsplit("logs/", 1)[1]
    saved = (store.root / "logs" / name).read_text()
    assert "Traceback" in saved and "ZeroDivisionError" in saved


def test_the_server_answers_polls_while_a_dossier_builds(tmp_path: Path, monkeypatch) -> None:
    from starlette.testclient import TestClient

    from app import users
    from web.app import create_app

    store = Store.create(tmp_path / "store")
    added = users.add(Store.open(tmp_path / "store"), "Lawyer", "lawyer")
    release = threading.Event()

    def build(*a: Any, **kw: Any) -> Any:
        assert release.wait(20)
        return SimpleNamespace(result=SimpleNamespace(sha256="a" * 64))

    monkeypatch.setattr(ws_cases.dossiers, "build", build)
    monkeypatch.setattr(ws_cases, "_get_case", lambda store, cid: None)
    with TestClient(create_app(store), base_url="http://127.0.0.1") as client:
        csrf = client.post("/api/session", json={"name": "Lawyer", "password": added.password})
        headers = {"X-CSRF-Token": csrf.json()["csrf"]}
        r = client.post("/api/cases/case-0001/dossiers", json={"edition": "court"}, headers=headers)
        assert r.status_code == 202
        job = r.json()["job"]
        for _ in range(20):
            t0 = time.monotonic()
            polled = client.get(f"/api/jobs/{job}").json()
            assert time.monotonic() - t0 < 1.0
            assert polled["state"] in ("queued", "running")
        release.set()
        end = time.monotonic() + 10
        while client.get(f"/api/jobs/{job}").json()["state"] != "done":
            assert time.monotonic() < end
            time.sleep(0.05)
        assert client.get(f"/api/jobs/{job}").json()["dossier"] == "a" * 64

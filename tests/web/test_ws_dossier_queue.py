"""The workspace's "build" button with ``dalel dossier queue on``: the dossier goes on the
store's job queue, the job page says it waits for a worker, and shows the dossier once a
worker of the ``dossier`` queue built it. Real PostgreSQL and a real worker process."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from app import jobs
from evidence.storage.store import Store
from tests.conftest import dalel_subprocess
from tests.pipeline.test_dossier_jobs import _dossiers, case_store  # noqa: F401 (the fixture)
from tests.pipeline.test_workers import _worker
from web.workspace import cases as ws_cases


def _until(check, seconds: float = 20.0) -> None:
    end = time.monotonic() + seconds
    while not check() and time.monotonic() < end:
        time.sleep(0.05)
    assert check()


def test_the_workspace_queues_a_dossier_and_shows_it_once_a_worker_built_it(case_store):  # noqa: F811
    r = dalel_subprocess("--store", case_store, "dossier", "queue", "on", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"workspace_queues_dossiers": True}
    store = Store.open(case_store)
    assert jobs.workspace_queues_dossiers(store)
    ctx: Any = SimpleNamespace(
        store=store, lock=threading.Lock(), user=SimpleNamespace(pseudonym="usr-lawyer")
    )
    job = ws_cases.Jobs().start(ctx, "case-0001", "court", "kk", False)
    _until(lambda: job.queued_as is not None)
    ws_cases.Jobs.refresh(store, job)
    shown = job.to_dict(lambda key, **_: key)
    assert shown["state"] == "queued" and shown["step"] == "cases.step.queued_worker"
    assert _dossiers(case_store) == []  # the web server built nothing itself

    assert _worker(case_store, "--queues", "dossier").returncode == 0
    ws_cases.Jobs.refresh(store, job)
    (built,) = _dossiers(case_store)
    assert job.state == "done" and job.dossier == built["subject"]
    assert built["actor"] == {"role": "legal-team", "id": "usr-lawyer"}
    assert built["language"] == "kk"


def test_a_store_without_postgresql_keeps_building_in_the_server(tmp_path: Path):
    store = tmp_path / "s"
    assert dalel_subprocess("--store", store, "init", "--org", "C").returncode == 0
    r = dalel_subprocess("--store", store, "dossier", "queue", "on")
    assert r.returncode == 2 and "need PostgreSQL" in r.stderr
    assert not jobs.workspace_queues_dossiers(Store.open(store))

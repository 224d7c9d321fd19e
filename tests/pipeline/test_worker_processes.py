"""``dalel worker --concurrency N``: worker processes that keep dying are not started again
for ever, and one that ended with an error is said; the periodic job's schedule."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from evidence.provision import init_store
from pipeline import jobs
from tests.conftest import dalel_subprocess


@pytest.fixture
def queue_store(postgres_server, tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("PGPASSWORD", postgres_server.password)
    url = postgres_server.create_database()
    store = tmp_path / "store"
    init_store(store, org="Coalition", db=url)
    yield store
    postgres_server.drop_database(url)


def _workers(store: Path, *args: str, timeout: int = 120):
    env = {**os.environ, jobs.DIE_AT: "worker-start"}
    return dalel_subprocess(
        "--store", store, "worker", "--concurrency", "2", *args, env=env, timeout=timeout
    )


def test_workers_run_until_done_that_end_with_an_error_are_said(queue_store):
    r = _workers(queue_store, "--until-done")
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "2 of 2 worker processes ended with an error (exit 137, 137)" in r.stderr


def test_a_worker_process_dying_at_its_start_is_not_started_again_for_ever(queue_store):
    """Started again after a pause that grows (0.5, 1, 2, 4 s), then given up: the command
    stops every worker and says why, instead of starting one five times a second."""
    began = time.monotonic()
    r = _workers(queue_store)
    took = time.monotonic() - began
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert f"at its start {jobs.QUICK_DEATHS} times in a row" in r.stderr
    assert took >= 7.5  # (the pauses before the second to the fifth start)


@pytest.mark.parametrize(
    ("seconds", "cron"),
    [
        (1, "* * * * * */1"),
        (45, "* * * * * */30"),
        (60, "*/1 * * * *"),
        (50 * 60, "*/30 * * * *"),
        (3600, "0 */1 * * *"),
        (3 * 3600, "0 */3 * * *"),
        (5 * 3600, "0 */4 * * *"),
        (86400, "0 0 * * *"),
        (7 * 86400, "0 0 * * *"),
    ],
)
def test_the_periodic_jobs_schedule_rounds_down_within_its_unit(seconds, cron):
    from croniter import croniter

    assert jobs.cron_every(seconds) == cron
    assert croniter.is_valid(cron)

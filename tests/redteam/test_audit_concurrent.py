"""Audit while the store is being written: a writer's work in progress is never tampering."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evidence import audit
from evidence.storage.store import Store
from tests.conftest import ROOT, VALID_IIN, dalel_subprocess, make_photo

WRITERS = 4
INGESTS_EACH = 3


def _writer(store: Path, photos: list[Path]) -> subprocess.Popen[str]:
    """A process that ingests each photo in its own command, one after the other."""
    script = (
        "import sys\n"
        "from cli.main import main\n"
        "store, *photos = sys.argv[1:]\n"
        "for p in photos:\n"
        f"    rc = main(['--store', store, 'ingest', p, '--observer', '{VALID_IIN}',"
        " '--precinct', '7'])\n"
        "    if rc: sys.exit(rc)\n"
    )
    return subprocess.Popen(
        [sys.executable, "-c", script, str(store), *map(str, photos)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_audits_during_four_concurrent_writers_are_never_false(store_dir, tmp_path):
    photos = [
        [
            make_photo(tmp_path / f"w{w}" / f"{i}.jpg", (w * 40, i * 60, 90))
            for i in range(INGESTS_EACH)
        ]
        for w in range(WRITERS)
    ]
    writers = [_writer(store_dir, p) for p in photos]
    sizes: list[int] = []
    cli_audits = 0
    cli: subprocess.Popen[str] | None = None

    def cli_audit() -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "cli", "--store", str(store_dir), "audit", "--json"]
            + ["--no-rehash"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    try:
        # quick audits in this process all along, and command-line audits one after another
        # beside them, until every writer is done and one command-line audit has finished
        while any(w.poll() is None for w in writers) or cli is not None or not cli_audits:
            report = audit.run(audit.StoreSource(Store.open(store_dir), rehash=False))
            assert not report.failures, report.failures
            sizes.append(report.entries)
            if cli is None and (not cli_audits or any(w.poll() is None for w in writers)):
                cli = cli_audit()
            elif cli is not None and cli.poll() is not None:
                out, err = cli.communicate()
                assert out, err
                failed = [c for c in json.loads(out)["checks"] if c["status"] == "FAILED"]
                assert cli.returncode == 0 and not failed, (cli.returncode, failed)
                cli_audits += 1
                cli = None
            time.sleep(0.02)
    finally:
        for w in writers:
            w.wait(timeout=300)
        if cli is not None:
            cli.kill()
            cli.wait()
    for w in writers:
        assert w.returncode == 0, w.stderr.read() if w.stderr else ""
    assert len(set(sizes)) >= 3  # the audits did run while the log grew
    final = dalel_subprocess("--store", store_dir, "audit", "--json")
    report = json.loads(final.stdout)
    assert final.returncode == 0 and report["ok"]
    assert report["receipts"] == WRITERS * INGESTS_EACH
    assert not any(c["reason"] == "RECEIPT_MISSING" for c in report["checks"])

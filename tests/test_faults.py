"""The environment misbehaving: a disk that fills up, a store mounted read-only, a command
killed mid-way. For each: the exit code (4 for an environment to fix), a message that says
what to do and no traceback, nothing already received lost, and `audit` passing afterwards.

The disks are real: each scenario runs in its own mount namespace (``unshare -m``) on a small
tmpfs or a read-only bind mount, gone when the scenario ends.
"""

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

from tests.conftest import ROOT, dalel_subprocess, make_photo

DRIVER = r"""
import json, os, subprocess, sys
from pathlib import Path

def dalel(*args):
    p = subprocess.run([sys.executable, "-m", "cli", *map(str, args)], capture_output=True,
                       text=True, cwd=ROOT, timeout=600)
    return {"code": p.returncode, "out": p.stdout, "err": p.stderr}

def sh(*args):
    subprocess.run(list(map(str, args)), check=True)

ROOT, WORK = sys.argv[1], Path(sys.argv[2])
steps = []
"""


def _in_namespace(tmp_path: Path, body: str) -> list[dict]:
    """Run ``body`` (Python, after :data:`DRIVER`) in a private mount namespace; it appends
    results to ``steps``, returned here."""
    script = tmp_path / "driver.py"
    script.write_text(DRIVER + body + "\nprint(json.dumps(steps))\n")
    unshare = ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-rm"]
    p = subprocess.run(
        [*unshare, sys.executable, str(script), str(ROOT), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.splitlines()[-1])


def _noisy_photos(folder: Path, n: int, side: int = 300) -> Path:
    """Photos that do not compress (random pixels): ``n`` × ~``side``² × 3 bytes."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(folder / f"p{i}.png")
    return folder


def _clean(step: dict) -> None:
    assert "Traceback" not in step["out"] + step["err"], step
    assert "internal error" not in step["err"], step


def test_a_disk_that_fills_up_mid_batch_stops_it_cleanly_and_loses_nothing(tmp_path):
    photos = _noisy_photos(tmp_path / "in", 12)
    steps = _in_namespace(
        tmp_path,
        """
disk = WORK / "disk"; disk.mkdir()
sh("mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", disk)
st = disk / "st"
steps.append(dalel("--store", st, "init", "--org", "X"))
steps.append(dalel("--store", st, "ingest", WORK / "in", "--observer", "o", "--precinct", "1",
                   "--json"))
steps.append(dalel("--store", st, "audit", "--json"))
steps.append({"receipts": len(list((st / "receipts").glob("*.json")))})
sh("mount", "-o", "remount,size=20m", disk)  # space freed
steps.append(dalel("--store", st, "ingest", WORK / "in", "--observer", "o", "--precinct", "1",
                   "--json"))
steps.append(dalel("--store", st, "audit", "--json"))
""",
    )
    init, full, audit1, counted, again, audit2 = steps
    assert init["code"] == 0, init
    _clean(full)
    assert full["code"] == 4, full
    summary = json.loads(full["out"])["summary"]
    stopped = summary["stopped"]
    assert stopped["error"].startswith("the disk is full") and "free space" in stopped["fix"]
    assert 1 <= summary["stored"] < 12 and stopped["not_taken"] == 12 - summary["stored"]
    assert counted["receipts"] == summary["stored"]  # every file taken was receipted
    assert audit1["code"] == 0 and json.loads(audit1["out"])["ok"], audit1
    assert again["code"] == 0 and json.loads(again["out"])["summary"]["stored"] == len(
        list(photos.iterdir())
    )
    assert audit2["code"] == 0 and json.loads(audit2["out"])["receipts"] == 12 + summary["stored"]


def test_a_full_disk_under_other_commands_is_exit_4_with_a_fix(tmp_path):
    """case new, official import and dossier build on a store whose disk is full."""
    make_photo(tmp_path / "in" / "a.jpg")
    steps = _in_namespace(
        tmp_path,
        """
disk = WORK / "disk"; disk.mkdir()
sh("mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", disk)
st = disk / "st"
dalel("--store", st, "init", "--org", "X")
dalel("--store", st, "ingest", WORK / "in", "--observer", "o", "--precinct", "1")
dalel("--store", st, "case", "new", "--precinct", "1", "--kind", "other", "--title", "T")
(WORK / "off.csv").write_text("precinct,field,value\\n1,amanat,5\\n")
(st / "reserve").unlink(missing_ok=True)
filler = disk / "filler"
subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True)
steps.append(dalel("--store", st, "case", "new", "--precinct", "1", "--kind", "other",
                   "--title", "T2"))
steps.append(dalel("--store", st, "case", "set", "case-0001", "--respondent", "УИК № 1"))
steps.append(dalel("--store", st, "official", "import", WORK / "off.csv"))
steps.append(dalel("--store", st, "dossier", "build", "case-0001", "--draft", "--out",
                   disk / "d.pdf"))
filler.unlink()
steps.append(dalel("--store", st, "audit"))
""",
    )
    *commands, audit = steps
    for step in commands:
        _clean(step)
        assert step["code"] == 4 and "full" in step["err"], step
        assert "fix:" in step["err"]
    assert audit["code"] == 0, audit


def test_a_store_mounted_read_only_is_exit_4_and_still_audits(tmp_path):
    make_photo(tmp_path / "in" / "a.jpg")
    make_photo(tmp_path / "more" / "b.jpg", (1, 2, 3))
    steps = _in_namespace(
        tmp_path,
        """
st = WORK / "st"
dalel("--store", st, "init", "--org", "X")
dalel("--store", st, "ingest", WORK / "in", "--observer", "o", "--precinct", "1")
sh("mount", "--bind", st, st)
sh("mount", "-o", "remount,ro,bind", st)
steps.append(dalel("--store", st, "ingest", WORK / "more", "--observer", "o", "--precinct", "1"))
steps.append(dalel("--store", st, "case", "new", "--precinct", "1", "--kind", "other"))
steps.append(dalel("--store", st, "audit"))
steps.append(dalel("--store", st, "export-audit", WORK / "export"))
steps.append(dalel("audit", "--bundle", WORK / "export"))
""",
    )
    ingest, case, audit, export, bundle = steps
    for step in (ingest, case):
        _clean(step)
        assert step["code"] == 4 and "read-only" in step["err"], step
    for step in (audit, export, bundle):
        _clean(step)
        assert step["code"] == 0, step


@pytest.mark.parametrize("command", ["dossier build", "official import", "case set"])
def test_kill_9_at_any_moment_of_a_command_leaves_a_store_that_audits(tmp_path, dalel, command):
    """The command is killed at six moments spread over its run; after each, `audit` passes
    and the command, run again, completes."""
    from tests.app.test_dossier_store import _protocol

    store = tmp_path / "st"
    assert dalel("--store", store, "init", "--org", "X").code == 0
    photo = _protocol(tmp_path, "p", 6)
    assert (
        dalel(
            *("--store", store, "ingest", photo, "--observer", "o", "--precinct", "31"),
            *("--kind", "protocol"),
        ).code
        == 0
    )
    assert dalel("--store", store, "case", "new", "--precinct", "31", "--kind", "other").code == 0
    from evidence.storage.store import Store

    index = Store.open(store).index
    index.catch_up()
    shas = [r["sha256"] for r in index.items_where()]
    assert dalel("--store", store, "case", "add-evidence", "case-0001", *shas).code == 0
    (tmp_path / "off.csv").write_text("precinct,field,value\n31,amanat,5\n")
    args = {
        "dossier build": ["dossier", "build", "case-0001", "--draft", "--out"],
        "official import": ["official", "import", str(tmp_path / "off.csv")],
        "case set": ["case", "set", "case-0001", "--respondent", "УИК № 31"],
    }[command]
    started = time.monotonic()
    full = dalel_subprocess("--store", store, *_out(args, tmp_path, "whole"))
    took = time.monotonic() - started
    assert full.returncode == 0, full.stderr
    rng = random.Random(command)
    for n in range(6):
        p = subprocess.Popen(
            [sys.executable, "-m", "cli", "--store", str(store), *_out(args, tmp_path, str(n))],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.2, 1.0) * took)
        p.send_signal(signal.SIGKILL)
        p.wait()
        audit = dalel_subprocess("--store", store, "audit")
        assert audit.returncode == 0, audit.stdout[-2000:]
    again = dalel_subprocess("--store", store, *_out(args, tmp_path, "again"))
    assert again.returncode == 0, again.stderr
    assert dalel_subprocess("--store", store, "audit").returncode == 0


def _out(args: list[str], tmp_path: Path, name: str) -> list[str]:
    return [*args, str(tmp_path / f"{name}.pdf")] if args[-1] == "--out" else args


def test_the_server_on_a_full_disk_answers_507_and_takes_the_file_once_there_is_room(tmp_path):
    """An observer's upload while the store's disk is full gets 507 with a reason (no trace);
    once space is freed the same phone hands the file in and gets its receipt."""
    _noisy_photos(tmp_path / "in", 1)
    steps = _in_namespace(
        tmp_path,
        """
sys.path.insert(0, ROOT)
from tests.web.test_server import Server, _create, _invite, _patch, _receipt
disk = WORK / "disk"; disk.mkdir()
sh("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", disk)
st = disk / "st"
dalel("--store", st, "init", "--org", "X")
server = Server(st).start()
try:
    token = _invite(st).token
    data = (WORK / "in" / "p0.png").read_bytes()
    (st / "reserve").unlink(missing_ok=True)
    filler = disk / "filler"
    subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True)
    r = _create(server, token, data)
    steps.append({"create": r.status_code, "body": r.text})
    if r.status_code == 201:
        p = _patch(server, token, r.headers["Location"], 0, data)
        steps.append({"patch": p.status_code, "body": p.text})
    filler.unlink()
    r = _create(server, token, data)
    p = _patch(server, token, r.headers["Location"], 0, data)
    got = _receipt(server, token, r.headers["Location"])
    steps.append({"again": [r.status_code, p.status_code, got.status_code]})
finally:
    server.stop()
steps.append(dalel("--store", st, "audit"))
""",
    )
    *full, again, audit = steps
    refused = full[-1]
    status = refused.get("patch", refused.get("create"))
    assert status == 507, full
    body = json.loads(refused["body"])
    assert body["error"] == "STORE_CANNOT_WRITE" and "try again" in body["message"], body
    assert "Traceback" not in refused["body"] and str(tmp_path) not in refused["body"]
    assert again["again"] == [201, 204, 200], again
    assert audit["code"] == 0, audit

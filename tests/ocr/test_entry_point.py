"""``python -m ocr IMAGE --form ID [--json]``: the entry point the CLI wraps."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ocr.synth import make_sample

ROOT = Path(__file__).resolve().parents[2]


def test_json_and_table_output(tmp_path: Path) -> None:
    s = make_sample(0, 55, tier="clean", script="typed", layout="table")
    img = tmp_path / f"p.{s.ext}"
    img.write_bytes(s.image)
    proc = subprocess.run(
        [sys.executable, "-m", "ocr", str(img), "--form", "kz-mazhilis-party-list-2023", "--json"],
        check=False,
        capture_output=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    d = json.loads(proc.stdout)
    assert set(d["fields"]) == set(s.truth["figures"])
    truth = s.truth["figures"]
    for key, f in d["fields"].items():
        if f["status"] == "accepted":
            assert f["value"] == truth[key]
    table = subprocess.run(
        [sys.executable, "-m", "ocr", str(img), "--form", "kz-mazhilis-party-list-2023"],
        check=False,
        capture_output=True,
        cwd=ROOT,
        timeout=120,
    )
    assert table.returncode == 0
    assert "voters_on_list" in table.stdout.decode() and "accepted" in table.stdout.decode()

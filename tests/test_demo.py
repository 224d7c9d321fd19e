"""`make demo` ends by saying how to run `dalel`, which it installs in .venv, not on the PATH."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

from demo import demo

ROOT = Path(__file__).resolve().parents[1]


def test_the_entry_point_is_dalel():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["dalel"] == "cli:run"


def test_the_demo_says_how_to_run_dalel_and_what_it_says_works():
    lines = demo.how_to_run_dalel()
    bin_dir = Path(sys.executable).parent  # the tests, like the demo, run from the venv
    assert (bin_dir / "activate").exists(), "the tests run in the virtual environment"
    activate = next(ln for ln in lines if "source " in ln).split()[1]
    assert Path(ROOT, activate).resolve() == (bin_dir / "activate").resolve()
    # the command given without activating runs, from the repository (where make runs)
    direct = next(ln for ln in lines if "without activating" in ln).split(": ", 1)[1]
    argv = shlex.split(direct)
    assert Path(ROOT, argv[0]).resolve() == (bin_dir / "dalel").resolve()
    p = subprocess.run([argv[0], "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and "Usage: dalel" in p.stdout
    # once activated, a bare `dalel` is the venv's
    p = subprocess.run(
        ["bash", "-c", f"source {shlex.quote(activate)} && command -v dalel"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"},
    )
    assert p.returncode == 0 and Path(p.stdout.strip()).resolve() == (bin_dir / "dalel").resolve()


def test_without_dalel_installed_the_demo_gives_the_module_to_run(tmp_path):
    lines = demo.how_to_run_dalel(tmp_path)
    assert any("-m cli --help" in ln for ln in lines)


def test_the_demo_ends_with_it(capsys, monkeypatch):
    monkeypatch.setenv("CI", "1")  # no serving
    demo.finish(demo.OUT / "court.pdf", demo.OUT / "public.pdf")  # paths only: nothing is read
    out = capsys.readouterr().out.rstrip().splitlines()
    expected = demo.how_to_run_dalel()
    assert out[-len(expected) :] == expected

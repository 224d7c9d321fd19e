"""Every command loads only what it uses: `dalel --help` and `dalel receipt verify` never
load pyHanko, OpenCV or SQLAlchemy (they cost most of a second; the timings are in
bench/startup_bench.py and the README)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

HEAVY = ("pyhanko", "cv2", "sqlalchemy", "numpy", "weasyprint", "PIL", "aiohttp")
"""Loaded by the commands that sign, read photos, render or query the index, and only by them."""

RUN = (
    "import json, sys\n"
    "from cli.main import main\n"
    "code = main(sys.argv[2:])\n"
    "open(sys.argv[1], 'w').write(json.dumps({'code': code, 'modules': sorted(sys.modules)}))\n"
)


def loaded(tmp_path: Path, *args: object) -> tuple[int, set[str]]:
    """The exit code of ``dalel ARGS`` and the top-level packages it loaded."""
    out = tmp_path / "modules.json"
    subprocess.run(
        [sys.executable, "-c", RUN, str(out), *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        timeout=120,
        check=False,
    )
    got = json.loads(out.read_text())
    return got["code"], {m.split(".")[0] for m in got["modules"]}


@pytest.fixture
def receipt(filled_store: Path) -> Path:
    return sorted((filled_store / "receipts").glob("*.json"))[0]


def test_help_loads_none_of_the_heavy_libraries(tmp_path):
    code, modules = loaded(tmp_path, "--help")
    assert code == 0
    assert not modules & {*HEAVY, "httpx", "httpcore", "cryptography", "jinja2"}, sorted(
        modules & {*HEAVY, "httpx", "httpcore", "cryptography", "jinja2"}
    )


@pytest.mark.parametrize("with_store", [False, True], ids=["pinned-key", "against-the-store"])
def test_checking_a_receipt_loads_no_signer_no_opencv_no_database(
    tmp_path, filled_store, receipt, with_store
):
    trust = (
        ["--store", filled_store]
        if with_store
        else [
            "--key",
            filled_store / "public" / "log.pub",
            "--tsa-root",
            filled_store / "public" / "tsa-root.pem",
        ]
    )
    code, modules = loaded(tmp_path, "receipt", "verify", receipt, *trust)
    assert code == 0  # the receipt holds: the check ran to the end
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))
    assert not modules & {"httpx", "httpcore"}  # no TSA is asked when a token is checked


def test_a_command_that_needs_them_still_gets_them(tmp_path, filled_store):
    """The lazy names are real: audit opens the index (SQLAlchemy) and its report is whole."""
    code, modules = loaded(tmp_path, "--store", filled_store, "audit")
    assert code == 0 and "sqlalchemy" in modules


def test_every_text_formatter_names_a_real_result_type():
    """Formatters are registered by type name (so that the output module loads no
    application module): each name must be a class that exists, under that very name."""
    import importlib

    import cli.main  # noqa: F401  (registers every command's formatters)
    from cli.output import _FORMATTERS, type_name

    assert len(_FORMATTERS) > 20
    for name in _FORMATTERS:
        module, _, cls = name.rpartition(".")
        found = getattr(importlib.import_module(module), cls)
        assert isinstance(found, type) and type_name(found) == name

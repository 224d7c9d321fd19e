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
    code, modules = loaded_modules(tmp_path, *args)
    return code, {m.split(".")[0] for m in modules}


def loaded_modules(tmp_path: Path, *args: object) -> tuple[int, set[str]]:
    """The exit code of ``dalel ARGS`` and every module it loaded, by its full name."""
    out = tmp_path / "modules.json"
    subprocess.run(
        [sys.executable, "-c", RUN, str(out), *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        timeout=120,
        check=False,
    )
    got = json.loads(out.read_text())
    return got["code"], set(got["modules"])


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
    # our TSA's token is read by evidence.core.tokenfast: asn1crypto is left to other tokens
    assert "asn1crypto" not in modules


def test_a_command_that_needs_them_still_gets_them(tmp_path, filled_store):
    """The lazy names are real: audit opens the index (SQLAlchemy) and its report is whole."""
    code, modules = loaded(tmp_path, "--store", filled_store, "audit")
    assert code == 0 and "sqlalchemy" in modules


def test_every_text_formatter_names_a_real_result_type():
    """Formatters are registered by type name (so that the output module loads no
    application module): each name must be a class that exists, under that very name."""
    import importlib

    from cli.output import _FORMATTERS, type_name
    from cli.root import load_commands

    load_commands()  # every command module: registers every command's formatters

    assert len(_FORMATTERS) > 20
    for name in _FORMATTERS:
        module, _, cls = name.rpartition(".")
        found = getattr(importlib.import_module(module), cls)
        assert isinstance(found, type) and type_name(found) == name


@pytest.mark.parametrize("with_store", [False, True], ids=["pinned-key", "against-the-store"])
def test_checking_a_receipt_loads_no_other_command_and_no_tsa(
    tmp_path, filled_store, receipt, with_store
):
    """Only the command named loads its module (the others', with what they import, stay
    unloaded), and a store's TSA roots are read without loading its TSAs."""
    trust = ["--store", filled_store] if with_store else ["--key", filled_store / "public/log.pub"]
    code, modules = loaded_modules(tmp_path, "receipt", "verify", receipt, *trust)
    assert code == 0
    commands = {m for m in modules if m.startswith("cli.commands.")}
    assert commands == {"cli.commands.verify"}, sorted(commands)
    unwanted = modules & {
        "app.deadlines",
        "evidence.timestamping.stamping",
        "evidence.timestamping.tsa",
        "evidence.timestamping.timestamps",
        # a store only read: its writer, TOML writer and temp files load with the first write
        "evidence.storage.writer",
        "tomli_w",
        "tempfile",
        "ctypes",
        "rich.table",  # (a report prints no table)
    }
    if with_store and "[objects]" in (filled_store / "config.toml").read_text():
        # the item is hashed again from S3, and boto3's urllib3 loads tempfile (through
        # importlib.metadata): the one write-time module a read of S3 needs
        unwanted.discard("tempfile")
    assert not unwanted, sorted(unwanted)


def test_each_command_is_loaded_from_the_modules_that_define_it():
    """``cli.root.COMMANDS`` names, for every command of ``dalel``, the modules that define it
    and its subcommands (a command missing there could not be run, nor listed by --help)."""
    import click

    from cli.root import COMMANDS, cli, load_commands

    load_commands()
    assert set(COMMANDS) == set(cli.commands)
    for name, command in cli.commands.items():
        subcommands = command.commands.values() if isinstance(command, click.Group) else ()
        defined = {c.callback.__module__ for c in (command, *subcommands) if c.callback}
        assert set(COMMANDS[name]) == defined - {"cli.root"}, name


def test_a_command_loads_when_named_and_help_lists_them_all(tmp_path, filled_store):
    """A command whose module was not loaded yet runs (``init``, ``dossier verify`` from two
    modules); ``--help`` lists every command; an unknown name still gets "did you mean"."""
    code, modules = loaded_modules(tmp_path, "--store", tmp_path / "new", "init")
    assert code == 0 and "cli.commands.intake" in modules and "cli.commands.cases" not in modules
    help_text = subprocess.run(
        [sys.executable, "-m", "cli", "--help"], cwd=ROOT, capture_output=True, text=True
    ).stdout
    from cli.root import COMMANDS

    listed = {line.split()[0] for line in help_text.split("Commands:")[1].splitlines() if line}
    assert listed == set(COMMANDS)
    typo = subprocess.run(
        [sys.executable, "-m", "cli", "recept"], cwd=ROOT, capture_output=True, text=True
    )
    assert typo.returncode == 2 and "Did you mean 'receipt'?" in typo.stderr
    dossier = subprocess.run(
        [sys.executable, "-m", "cli", "dossier", "--help"], cwd=ROOT, capture_output=True, text=True
    ).stdout
    assert {"build", "copy", "verify"} <= set(dossier.split())

"""The CLI is thin and the application layer is where front ends meet.

Every command module imports only the application layer, the CLI's own modules, ``base`` and
click (parsing, one app call, rendering); every public operation of the application layer is
documented and says what it returns; the index is built only by the storage layer (one per
opened store)."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import app.cases
import app.dossiers
import app.figures
import app.items
import app.official
import app.setup
import app.timestamps
import app.verify

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("base", "evidence", "ocr", "pipeline", "app", "cli")
PROJECT = (*PRODUCT, "testing")
OPERATIONS = (
    app.setup,
    app.items,
    app.figures,
    app.timestamps,
    app.verify,
    app.cases,
    app.official,
    app.dossiers,
)


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize(
    "path", sorted((ROOT / "cli" / "commands").glob("*.py")), ids=lambda p: p.name
)
def test_commands_import_only_the_application_layer(path):
    project = {m for m in _imported(path) if m.split(".")[0] in PROJECT}
    # ``web`` is the other front end: `dalel serve` starts it, and does nothing else with it.
    beyond = {m for m in project if m.split(".")[0] not in ("app", "cli", "base", "web")}
    assert not beyond, f"{path.name} reaches past the application layer: {sorted(beyond)}"


@pytest.mark.parametrize("module", OPERATIONS, ids=lambda m: m.__name__)
def test_every_operation_is_documented_and_typed(module):
    for name, fn in inspect.getmembers(module, inspect.isfunction):
        if name.startswith("_") or fn.__module__ != module.__name__:
            continue
        assert inspect.getdoc(fn), f"{module.__name__}.{name} has no docstring"
        assert "return" in fn.__annotations__, f"{module.__name__}.{name} says not what it returns"


def test_the_index_is_built_only_by_the_storage_layer():
    builders = []
    for part in PRODUCT:
        for path in (ROOT / part).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Name)
                    and node.func.id == "Index"
                ):
                    builders.append(str(path.relative_to(ROOT)))
    assert builders and all(p.startswith("evidence/storage/") for p in builders), builders

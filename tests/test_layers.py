"""The house's layout holds: imports only go down, and no module imports itself back.

``cli, web -> app -> pipeline -> {evidence, ocr} -> base``; inside ``evidence``, ``core`` is
pure and imports nothing else of the project but ``base``; ``testing`` (fakes and sample makers) is
never imported by the product. Every import counts, those inside functions included; only
those under ``if TYPE_CHECKING:`` (annotations) are left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("base", "evidence", "ocr", "pipeline", "app", "cli", "web")

#: What each part may import (besides itself and the standard library and third parties).
ALLOWED: dict[str, set[str]] = {
    "base": set(),
    "evidence.core": {"base"},
    "evidence.content": {"base", "evidence.core"},
    "evidence.storage": {"base", "evidence.core"},
    "evidence.timestamping": {"base", "evidence.core", "evidence.storage"},
    "evidence.pdf": {"base", "evidence.core", "evidence.timestamping"},
    "evidence": {
        "base",
        "evidence.core",
        "evidence.content",
        "evidence.storage",
        "evidence.timestamping",
        "evidence.pdf",
    },
    "ocr": {"base"},
    "pipeline": {"base", "evidence", "ocr"},
    "app": {"base", "evidence", "ocr", "pipeline"},
    "cli": {"base", "evidence", "ocr", "pipeline", "app", "web"},
    "web": {"base", "evidence", "ocr", "pipeline", "app"},
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _part(module: str) -> str:
    """The layer a module belongs to: the longest key of ALLOWED it falls under."""
    best = ""
    for key in ALLOWED:
        if (module == key or module.startswith(key + ".")) and len(key) > len(best):
            best = key
    return best


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported module) for every import outside ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text(), str(path))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in node.body:
                skip.update(id(n) for n in ast.walk(inner))
    found = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found += [(node.lineno, node.module)]
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for pkg in PRODUCT for p in (ROOT / pkg).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        graph[name] = {m for _, m in _imports(path) if m in modules and m != name}
    return graph


def test_imports_only_go_down():
    bad = []
    for pkg in PRODUCT:
        for path in (ROOT / pkg).rglob("*.py"):
            name = _module_name(path)
            here = _part(name)
            for line, imported in _imports(path):
                top = imported.split(".")[0]
                if top == "testing":
                    bad.append(f"{path.relative_to(ROOT)}:{line} imports {imported} (tests only)")
                    continue
                if top not in PRODUCT:
                    continue
                there = _part(imported)
                if (
                    there
                    and there != here
                    and there not in ALLOWED[here]
                    and not any(there.startswith(a + ".") for a in ALLOWED[here])
                ):
                    bad.append(f"{path.relative_to(ROOT)}:{line} ({here}) imports {imported}")
    assert bad == []


def test_no_import_cycles():
    """Tarjan's strongly connected components over every import between product modules;
    a package's ``__init__`` re-exporting its own modules is not a cycle of the layout."""
    graph = _graph()
    for name in graph:
        graph[name] = {m for m in graph[name] if not name or not m.startswith(name + ".")}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert cycles == []


def test_the_checker_sees_a_lazy_import_and_ignores_type_checking(tmp_path):
    src = tmp_path / "m.py"
    src.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import app.x\n"
        "def f():\n    from cli import main\n"
    )
    found = [m for _, m in _imports(src)]
    assert "cli" in found and "app.x" not in found

"""One classic script from the pages' ES modules, for places a module graph cannot go.

The receipt-check page must also work as a single HTML file opened from a disk or a USB stick
(``dalel receipt page``), where ``file://`` forbids loading modules; and node runs the same
verifier in the tests. So the modules (ours and the vendored ``@noble`` ones, unchanged on disk)
are joined here into one script: each module becomes a function whose value is its exports,
run in dependency order. Only the import and export forms these files use are understood;
anything else raises, so a vendored update that needs more fails the tests, not a user.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

STATIC = Path(__file__).parent / "static"

_IMPORT_NAMED = re.compile(r'^import\s*\{([^}]*)\}\s*from\s*["\']([^"\']+)["\'];?\s*$')
_IMPORT_STAR = re.compile(r'^import\s*\*\s*as\s+(\w+)\s+from\s*["\']([^"\']+)["\'];?\s*$')
_EXPORT_DECL = re.compile(r"^export\s+((?:async\s+)?function\*?|class|const|let|var)\s+(\w+)")
_EXPORT_LIST = re.compile(r"^export\s*\{([^}]*)\}\s*;?\s*$")


class BundleError(ValueError):
    """A module uses an import or export form the bundler does not read."""


def _resolve(spec: str, importer: Path) -> Path:
    if spec.startswith("/static/"):
        path = STATIC / spec.removeprefix("/static/")
    elif spec.startswith(("./", "../")):
        path = importer.parent / spec
    else:
        raise BundleError(f"{importer.name}: bare import {spec!r} is not bundled")
    path = path.resolve()
    if STATIC.resolve() not in path.parents:
        raise BundleError(f"{importer.name}: {spec!r} leaves the static folder")
    return path


def _statements(text: str) -> list[str]:
    """The module's lines, with a multi-line ``import``/``export {`` joined into one and lines
    inside block comments left alone (marked with a leading NUL so they are not read)."""
    out: list[str] = []
    lines = text.split("\n")
    i = 0
    in_comment = False
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        if in_comment:
            out.append("\0" + line)
            in_comment = "*/" not in line
        elif stripped.startswith("/*") and "*/" not in stripped:
            out.append("\0" + line)
            in_comment = True
        elif re.match(r"^(import|export)\s*\{", line) and "}" not in line:
            joined = line
            while "}" not in joined and i + 1 < len(lines):
                i += 1
                joined += " " + lines[i].strip()
            out.append(joined)
        else:
            out.append(line)
        i += 1
    return out


def _names(spec_list: str, *, importing: bool) -> list[tuple[str, str]]:
    """``a, b as c`` as (outer name, inner name) pairs."""
    pairs = []
    for part in filter(None, (p.strip() for p in spec_list.split(","))):
        outer, _, inner = part.partition(" as ")
        outer, inner = outer.strip(), (inner.strip() or outer.strip())
        if not (outer.isidentifier() and inner.isidentifier()):
            raise BundleError(f"cannot read {part!r}")
        pairs.append((outer, inner) if importing else (inner, outer))
    return pairs


def _module(path: Path) -> tuple[str, list[Path]]:
    """The module as a function body returning its exports, and the modules it imports."""
    deps: list[Path] = []
    body: list[str] = []
    exports: list[tuple[str, str]] = []  # (exported name, local name)
    for line in _statements(path.read_text(encoding="utf-8")):
        if line.startswith("\0"):
            body.append(line[1:])
            continue
        if m := _IMPORT_NAMED.match(line):
            dep = _resolve(m.group(2), path)
            deps.append(dep)
            binds = ", ".join(
                f"{outer}: {inner}" if outer != inner else outer
                for outer, inner in _names(m.group(1), importing=True)
            )
            body.append(f"const {{ {binds} }} = __m[{_key(dep)!r}];")
        elif m := _IMPORT_STAR.match(line):
            dep = _resolve(m.group(2), path)
            deps.append(dep)
            body.append(f"const {m.group(1)} = __m[{_key(dep)!r}];")
        elif m := _EXPORT_LIST.match(line):
            exports.extend(_names(m.group(1), importing=False))
        elif m := _EXPORT_DECL.match(line):
            exports.append((m.group(2), m.group(2)))
            body.append(line[len("export") :].lstrip())
        elif re.match(r"^(import|export)\b", line):
            raise BundleError(f"{path.name}: cannot bundle {line.strip()[:80]!r}")
        else:
            body.append(line)
    ret = ", ".join(f"{name}: {local}" if name != local else name for name, local in exports)
    return "\n".join(body) + f"\nreturn {{ {ret} }};", deps


def _key(path: Path) -> str:
    return path.resolve().relative_to(STATIC.resolve()).as_posix()


def bundle(*entries: Path) -> str:
    """One classic script running ``entries`` (and all they import, each once, dependencies
    first) with the shared module table on ``globalThis.__dalelModules``."""
    order: list[Path] = []
    code: dict[Path, str] = {}

    def visit(path: Path, stack: tuple[Path, ...]) -> None:
        path = path.resolve()
        if path in code:
            return
        if path in stack:
            raise BundleError(f"import cycle through {path.name}")
        text, deps = _module(path)
        for dep in deps:
            visit(dep, (*stack, path))
        code[path] = text
        order.append(path)

    for entry in entries:
        visit(entry, ())
    parts = ["(() => {", '"use strict";', "const __m = (globalThis.__dalelModules ||= {});"]
    for path in order:
        parts.append(f"// ---- {_key(path)}")
        parts.append(f"__m[{_key(path)!r}] = (() => {{\n{code[path]}\n}})();")
    parts.append("})();\n")
    return "\n".join(parts)


@functools.cache
def verify_script() -> str:
    """The receipt-check page's script: the verifier, the page, and what they import."""
    return bundle(STATIC / "verify" / "page.js")


@functools.cache
def verifier_script() -> str:
    """The verifier alone (no page), exposed as ``globalThis.__dalelModules['verify/verifier.js']``:
    what node runs in the tests."""
    return bundle(STATIC / "verify" / "verifier.js")

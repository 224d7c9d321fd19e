"""Every hint that names a ``dalel`` command names one that exists, with options it takes.

The hints are read from the source (every string of the packages, docstrings aside: a
``fix=`` given to an error, a line a formatter prints), so a hint added later is checked
too. A command named in a hint is followed down the click command tree (``cli.root.cli``)
word by word; each ``--option`` after it must be one that command (or the ``dalel`` group,
before the command) takes, and a value given to an option with a fixed set of values must be
one of them. Options named in a ``fix`` without a command (``pass --by NAME``) must be
options of some command.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from cli.root import cli as dalel_group
from cli.root import load_commands

load_commands()  # registers every command on the group (each loads when named)

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("base", "evidence", "ocr", "pipeline", "app", "cli", "web")
HOLE = "{}"
"""What an f-string's replacement field reads as in a hint."""

#: "dalel" where it starts a command: at the start of a string, after a colon, after a
#: backtick, or after "run" ("another dalel process" is prose, not a command).
MENTION = re.compile(r"(?:^|(?<=:)\s*|(?<=`)|(?<=\brun )|(?<=\bRun ))dalel(?=\s|`|$)")
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


@dataclass(frozen=True)
class Hint:
    """A string of the source that may hold a hint."""

    where: str
    """file:line."""
    text: str
    """The string, each f-string replacement field read as ``{}``."""
    is_fix: bool
    """Whether it is given as an error's ``fix``."""


def _texts(node: ast.AST) -> list[str]:
    """The text(s) a string expression can have: constants, f-strings (fields as HOLE),
    ``+`` of such, either branch of ``a if c else b``; [] for anything else."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return [
            "".join(
                v.value if isinstance(v, ast.Constant) and isinstance(v.value, str) else HOLE
                for v in node.values
            )
        ]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _texts(node.left) or [HOLE], _texts(node.right) or [HOLE]
        return [a + b for a in left for b in right]
    if isinstance(node, ast.IfExp):
        return _texts(node.body) + _texts(node.orelse)
    return []


def _docstrings(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
    return out


def hints() -> Iterator[Hint]:
    """Every string of the packages (docstrings aside), and whether it is a ``fix``."""
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            docs = _docstrings(tree)
            fixes: set[int] = set()
            for node in ast.walk(tree):
                value = None
                if isinstance(node, ast.keyword) and node.arg == "fix":
                    value = node.value
                elif isinstance(node, ast.Assign | ast.AnnAssign):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    if any(isinstance(t, ast.Name) and t.id == "fix" for t in targets):
                        value = node.value
                if value is not None:
                    fixes.add(id(value))
                    where = f"{path.relative_to(ROOT)}:{value.lineno}"
                    for text in _texts(value):
                        yield Hint(where, text, True)
            parts = {  # the pieces of an f-string are read with it
                id(v)
                for node in ast.walk(tree)
                if isinstance(node, ast.JoinedStr)
                for v in node.values
            }
            for node in ast.walk(tree):
                if id(node) in docs or id(node) in fixes or id(node) in parts:
                    continue
                if isinstance(node, ast.Constant | ast.JoinedStr):
                    where = f"{path.relative_to(ROOT)}:{node.lineno}"
                    for text in _texts(node):
                        yield Hint(where, text, False)


def mentions(text: str) -> Iterator[list[str]]:
    """The words after each ``dalel`` that starts a command, up to where the command ends (a
    closing backtick, a ``;``, ``,`` or ``)``, or the end of the text). ``dalel`` alone (the
    program's name) and ``dalel {}`` (a command line echoed) name no command."""
    for m in MENTION.finditer(text):
        rest = text[m.end() :]
        quoted = m.start() > 0 and text[m.start() - 1] == "`"
        end = re.search(r"`" if quoted else r"[`;,()]|\. |\n", rest)
        words = [w.rstrip(".:") for w in (rest[: end.start()] if end else rest).split()]
        if words and words[0] != HOLE:
            yield words


def _option(command: click.Command, name: str) -> click.Option | None:
    for p in command.params:
        if isinstance(p, click.Option) and name in (*p.opts, *p.secondary_opts):
            return p
    return None


def _literal(value: str) -> bool:
    """A value written out, not a placeholder (``{}``, ``N``, ``SHA256…``)."""
    return HOLE not in value and not value.isupper() and not value.endswith("…")


def problems(words: list[str]) -> list[str]:
    """What is wrong with ``dalel`` followed by ``words`` (empty when it names a command that
    exists, with options it takes)."""
    command: click.Command = dalel_group
    path = ["dalel"]
    i = 0
    while i < len(words):
        word = words[i]
        if word.startswith("-"):
            name = word.split("=", 1)[0]
            if name in ("--help", "-h"):
                i += 1
                continue
            opt = _option(command, name)
            if opt is None:
                return [f"`{' '.join(path)}` has no option {name}"]
            takes_value = not opt.is_flag and not opt.count
            if takes_value and "=" not in word and i + 1 < len(words):
                value = words[i + 1]
                if isinstance(opt.type, click.Choice) and _literal(value):
                    if value not in opt.type.choices:
                        return [f"`{' '.join(path)} {name}` takes none of {value!r}"]
                i += 2
            else:
                i += 1
            continue
        if isinstance(command, click.Group):
            sub = command.commands.get(word)
            if sub is None:
                if command.invoke_without_command:
                    break
                return [f"`{' '.join(path)}` has no command {word!r}"]
            command, i = sub, i + 1
            path.append(word)
            continue
        break  # the command's arguments, or the prose after it
    if isinstance(command, click.Group) and not command.invoke_without_command:
        return [f"`{' '.join(path)}` names a group, not a command"]
    return []


def every_option() -> set[str]:
    out = {"--help"}
    todo: list[click.Command] = [dalel_group]
    while todo:
        command = todo.pop()
        for p in command.params:
            if isinstance(p, click.Option):
                out.update(p.opts)
                out.update(p.secondary_opts)
        if isinstance(command, click.Group):
            todo.extend(command.commands.values())
    return out


ALL_HINTS = list(hints())


def test_the_scanner_finds_the_hints_it_must_check():
    """The hints this file checks include those known to be there (the scanner works)."""
    texts = [h.text for h in ALL_HINTS]
    assert any("dalel case list" in t for t in texts)
    assert any(h.is_fix and "dalel ocr --item" in h.text for h in ALL_HINTS)
    assert any("dalel figures confirm --item" in t for t in texts)
    named = [words for h in ALL_HINTS for words in mentions(h.text)]
    assert ["--store", HOLE, "init", "--org", "NAME"] in named
    assert len(named) >= 20


@pytest.mark.parametrize(
    ("words", "wrong"),
    [
        (["ocr", "--precinct", "12"], False),
        (["--store", "st", "init", "--org", "NAME"], False),
        (["timestamp", "--upgrade"], False),
        (["case", "new", "--precinct", "N", "--kind", "ballot-stuffing"], False),
        (["case", "new", "--kind", "no-such-kind"], True),
        (["ocr", "--item", "SHA256"], False),
        (["ocrr"], True),
        (["case"], True),  # a group alone runs nothing
        (["case", "list", "--all"], True),
        (["figures", "confirm", "--sha", "x"], True),
        (["init", "--store", "x"], True),  # the global option goes before the command
    ],
)
def test_the_checker_tells_a_wrong_command_from_a_right_one(words, wrong):
    assert bool(problems(words)) is wrong, problems(words)


def test_every_hint_naming_a_dalel_command_names_one_that_exists():
    bad = [
        f"{h.where}: {h.text!r}: {p}"
        for h in ALL_HINTS
        for words in mentions(h.text)
        for p in problems(words)
    ]
    assert not bad, "\n".join(bad)


def test_every_option_a_fix_names_is_an_option_of_some_command():
    known = every_option()
    bad = [
        f"{h.where}: {h.text!r} names {opt}, which no command takes"
        for h in ALL_HINTS
        if h.is_fix
        for opt in OPTION.findall(h.text)
        if opt not in known
    ]
    assert not bad, "\n".join(bad)

"""Control relations between protocol figures: a small safe parser (never ``eval``).

Grammar::

    relation := expr OP expr            OP in ==, !=, <=, >=, <, >
    expr     := term (("+" | "-") term)*
    term     := NAME | INTEGER | "sum(" NAME ")" | "(" expr ")"

``sum(group)`` adds every figure of a contestant group (``parties``, ``candidates``).
Evaluation is three-valued: True, False, or None when a figure it needs is missing.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ocr.errors import RelationSyntaxError

_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>==|!=|<=|>=|<|>|\+|-|\(|\)))"
)
_COMPARE: dict[str, Callable[[int, int], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}


@dataclass(frozen=True)
class Num:
    """An integer literal."""

    value: int


@dataclass(frozen=True)
class Name:
    """A figure named by its key."""

    key: str


@dataclass(frozen=True)
class Sum:
    """``sum(group)``: all figures of a contestant group."""

    group: str


@dataclass(frozen=True)
class BinOp:
    """``left + right`` or ``left - right``."""

    op: str
    left: Expr
    right: Expr


Expr = Num | Name | Sum | BinOp


@dataclass(frozen=True)
class Relation:
    """A parsed control relation."""

    text: str
    """The relation as written in the form."""
    op: str
    """Comparison operator."""
    left: Expr
    """Left side."""
    right: Expr
    """Right side."""

    def names(self) -> set[str]:
        """Figure keys named directly (not through ``sum``)."""
        return _names(self.left) | _names(self.right)

    def groups(self) -> set[str]:
        """Contestant groups summed."""
        return _groups(self.left) | _groups(self.right)

    def keys(self, groups: Mapping[str, tuple[str, ...]]) -> set[str]:
        """Every figure key the relation depends on, groups expanded."""
        out = self.names()
        for g in self.groups():
            out |= set(groups.get(g, ()))
        return out

    def evaluate(
        self, figures: Mapping[str, int | None], groups: Mapping[str, tuple[str, ...]]
    ) -> bool | None:
        """True/False, or None when a figure it needs is missing (absent or None)."""
        left = _value(self.left, figures, groups)
        right = _value(self.right, figures, groups)
        if left is None or right is None:
            return None
        return _COMPARE[self.op](left, right)


def _names(e: Expr) -> set[str]:
    if isinstance(e, Name):
        return {e.key}
    if isinstance(e, BinOp):
        return _names(e.left) | _names(e.right)
    return set()


def _groups(e: Expr) -> set[str]:
    if isinstance(e, Sum):
        return {e.group}
    if isinstance(e, BinOp):
        return _groups(e.left) | _groups(e.right)
    return set()


def _value(
    e: Expr, figures: Mapping[str, int | None], groups: Mapping[str, tuple[str, ...]]
) -> int | None:
    if isinstance(e, Num):
        return e.value
    if isinstance(e, Name):
        return figures.get(e.key)
    if isinstance(e, Sum):
        if e.group not in groups:
            return None
        total = 0
        for k in groups[e.group]:
            v = figures.get(k)
            if v is None:
                return None
            total += v
        return total
    left = _value(e.left, figures, groups)
    right = _value(e.right, figures, groups)
    if left is None or right is None:
        return None
    return left + right if e.op == "+" else left - right


def _tokenize(text: str) -> list[tuple[str, str]]:
    pos, out = 0, []
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise RelationSyntaxError(f"relation {text!r}: unexpected character at {pos}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise RelationSyntaxError(f"relation {self.text!r}: unexpected end")
        self.i += 1
        return tok

    def expect(self, value: str) -> None:
        _, val = self.take()
        if val != value:
            raise RelationSyntaxError(f"relation {self.text!r}: expected {value!r}, got {val!r}")

    def expr(self) -> Expr:
        left = self.term()
        while (tok := self.peek()) is not None and tok[1] in ("+", "-"):
            self.take()
            left = BinOp(tok[1], left, self.term())
        return left

    def term(self) -> Expr:
        kind, val = self.take()
        if kind == "num":
            return Num(int(val))
        if kind == "name":
            if val == "sum":
                self.expect("(")
                k2, group = self.take()
                if k2 != "name":
                    raise RelationSyntaxError(f"relation {self.text!r}: sum() needs a group name")
                self.expect(")")
                return Sum(group)
            return Name(val)
        if val == "(":
            inner = self.expr()
            self.expect(")")
            return inner
        raise RelationSyntaxError(f"relation {self.text!r}: unexpected {val!r}")


def parse_relation(text: str) -> Relation:
    """Parse ``text`` into a :class:`Relation`; raises :class:`RelationSyntaxError`."""
    p = _Parser(text)
    left = p.expr()
    _, op = p.take()
    if op not in _COMPARE:
        raise RelationSyntaxError(f"relation {text!r}: expected a comparison, got {op!r}")
    right = p.expr()
    if p.peek() is not None:
        raise RelationSyntaxError(f"relation {text!r}: trailing {p.peek()[1]!r}")  # type: ignore[index]
    return Relation(text=text.strip(), op=op, left=left, right=right)

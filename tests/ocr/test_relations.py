"""The relation parser is safe (no eval) and three-valued."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocr import RelationSyntaxError, parse_relation

GROUPS = {"parties": ("p1", "p2", "p3")}


def test_sum_of_group_and_equality() -> None:
    rel = parse_relation("voted == invalid + against + sum(parties)")
    figs = {"voted": 100, "invalid": 5, "against": 5, "p1": 50, "p2": 30, "p3": 10}
    assert rel.evaluate(figs, GROUPS) is True
    assert rel.evaluate({**figs, "p3": 11}, GROUPS) is False
    assert rel.keys(GROUPS) == {"voted", "invalid", "against", "p1", "p2", "p3"}


def test_missing_figure_gives_none() -> None:
    rel = parse_relation("a <= b")
    assert rel.evaluate({"a": 1}, {}) is None
    assert rel.evaluate({"a": 1, "b": None}, {}) is None
    assert parse_relation("x == sum(parties)").evaluate({"x": 3, "p1": 1, "p2": 2}, GROUPS) is None


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a - b == 1", True),
        ("a - (b + 1) == 0", True),
        ("a != b", True),
        ("a > b", True),
        ("a >= 3", True),
        ("a < b", False),
        ("2 + a == 5", True),
    ],
)
def test_operators(text: str, expected: bool) -> None:
    assert parse_relation(text).evaluate({"a": 3, "b": 2}, {}) is expected


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('true') == 1",
        "a == ",
        "a b == c",
        "a = b",
        "a == b;",
        "sum(1) == a",
        "a.b == 1",
        "a == b == c",
        "(a == b",
        "a ** 2 == 4",
    ],
)
def test_malformed_or_hostile_text_is_refused(text: str) -> None:
    with pytest.raises(RelationSyntaxError) as exc:
        parse_relation(text)
    assert exc.value.exit_code == 2


@given(st.lists(st.integers(0, 10_000), min_size=1, max_size=6), st.integers(0, 10_000))
def test_sum_matches_python_sum(values: list[int], total: int) -> None:
    keys = tuple(f"k{i}" for i in range(len(values)))
    rel = parse_relation("t == sum(g)")
    figs = dict(zip(keys, values, strict=True)) | {"t": total}
    assert rel.evaluate(figs, {"g": keys}) is (sum(values) == total)

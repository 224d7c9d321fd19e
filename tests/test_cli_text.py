"""The text output says what the JSON says: why a figure has no value (`figures show`), the
whole legal citation of a deadline, never cut in the middle of a word (`deadlines`)."""

from __future__ import annotations

import re

import pytest

from app import figures as fg
from cli.output import WRAP_WIDTH, reason_text, render, wrapped


def _photo(item: str, figs: dict[str, fg.Figure], problem: str | None = None):
    return fg.ProtocolFigures(item, "12", "f", 1, None, figs, (), problem)


def test_figures_show_says_why_each_figure_has_no_value(capsys):
    read = _photo(
        "a" * 64,
        {
            "voters_on_list": fg.Figure(
                "voters_on_list", 900, "accepted", 0.99, (), "readings_agree"
            ),
            "voters_voted": fg.Figure(
                "voters_voted", None, "unreadable", 0.0, (), "label_not_found"
            ),
            "amanat": fg.Figure("amanat", None, "unreadable", 0.0, (), "label_not_found"),
            "osdp": fg.Figure("osdp", 31, "review", 0.6, (), "independent_readings_disagree"),
            "people": fg.Figure("people", None, "unreadable", 0.0, (), ""),
        },
    )
    unread = _photo(
        "b" * 64,
        {k: fg.Figure(k, None, "unreadable", 0.0, (), "not_a_protocol") for k in read.figures},
        problem="not_a_protocol",
    )
    view = fg.FiguresView("12", tuple(fg.group([read, unread])))
    render(view)
    out = capsys.readouterr().out
    lines = out.splitlines()

    def line_of(*words: str) -> str:
        return next(ln for ln in lines if all(w in ln for w in words))

    # each figure without a value is named with its status and its reason, in words
    missing = line_of("aaaaaaaaaa unreadable", "label_not_found")
    assert "voters_voted, amanat" in missing and "its label was not found on the page" in missing
    assert "osdp" in line_of("aaaaaaaaaa review", "independent_readings_disagree")
    assert "no reason recorded" in line_of("aaaaaaaaaa unreadable: people")
    # a page not read at all is said once, with why
    page = line_of("bbbbbbbbbb not read")
    assert "not_a_protocol" in page and "labels" in page
    assert not any("bbbbbbbbbb unreadable" in ln for ln in lines)
    # and what a person can do about it, with a command that exists
    assert "dalel figures confirm --item SHA256 --field KEY --value N" in out
    # the JSON gives the same reasons
    photos = view.to_dict()[0]["photos"]
    assert photos[0]["figures"]["voters_voted"]["reason"] == "label_not_found"
    assert photos[1]["problem"] == "not_a_protocol"
    # the keys and hashes in the table are whole
    assert "voters_on_list" in out and "aaaaaaaaaa" in line_of("figure")


def test_a_reason_without_words_is_shown_by_its_name():
    assert reason_text("something_new") == "something_new"
    assert reason_text("image_too_small") == "image_too_small (the image is too small to read)"


def test_a_result_is_printed_line_for_line_in_one_print(capsys, monkeypatch):
    """A formatter's lines, text and tables, come out in order, each on its own line, as
    one print of them all (a batch's 380 lines cost 14 CPU-ms printed one by one, 4 so)."""
    from dataclasses import dataclass

    from cli import output
    from cli.output import _table, _text, formats

    # (this test's formatter is registered for this test only)
    monkeypatch.setattr(output, "_FORMATTERS", dict(output._FORMATTERS))

    @dataclass(frozen=True)
    class Shown:
        def to_dict(self) -> dict[str, str]:
            return {}

    @formats(Shown)
    def _shown(r: Shown):
        yield _text(("stored", "green"), "   a.jpg")
        table = _table("figure", "value")
        table.add_row("amanat", "938")
        yield table
        yield _text("1 stored")

    render(Shown())
    assert capsys.readouterr().out.splitlines() == [
        "stored   a.jpg", " figure  value ", " amanat  938   ", "1 stored",
    ]  # fmt: skip


def test_deadlines_show_the_whole_citation_cut_only_between_words(store_dir, dalel):
    assert (
        dalel("--store", store_dir, "case", "new", "--precinct", "5", "--kind", "other").code == 0
    )
    (row,) = dalel("--store", store_dir, "deadlines", "--json").json()
    citation = row["citation"]
    assert len(citation) > WRAP_WIDTH  # long enough to need more than one line
    text = dalel("--store", store_dir, "deadlines").out
    lines = text.splitlines()
    start = next(i for i, ln in enumerate(lines) if "rule to be confirmed by counsel:" in ln)
    shown = " ".join(ln.strip() for ln in lines[start:])
    assert shown == "rule to be confirmed by counsel: " + citation
    assert all(len(ln) <= WRAP_WIDTH for ln in lines[start:])
    assert "…" not in text


@pytest.mark.parametrize("width", [20, 40, 100])
def test_wrapped_breaks_only_between_words(width):
    text = "Конституционный закон Республики Казахстан «О выборах», норма-об-обжаловании x " * 3
    lines = wrapped(text, indent=4, width=width)
    words = text.split()
    assert [w for ln in lines for w in ln.split()] == words  # every word whole, in order
    for ln in lines:
        assert ln.startswith("    ")
        assert len(ln) <= width or len(ln.split()) == 1  # only a lone word longer than a line
    assert re.fullmatch(r" *", wrapped("", indent=2)[0])

"""Forms are data: the shipped forms load, validate and carry the issue's wording."""

from __future__ import annotations

import json

import pytest

from ocr import FormNotFound, list_forms, load_form
from ocr.errors import UsageError
from ocr.forms import form_from_dict


def test_shipped_forms_are_listed() -> None:
    assert list_forms() == [
        "kz-maslikhat-party-list-2023",
        "kz-mazhilis-party-list-2023",
        "kz-presidential-2022",
    ]


def test_mazhilis_form_has_the_issue_keys_in_order() -> None:
    form = load_form("kz-mazhilis-party-list-2023")
    assert form.keys == (
        "voters_on_list",
        "ballots_received",
        "ballots_issued",
        "voters_voted",
        "ballots_invalid",
        "ballots_cancelled",
        "against_all",
        "amanat",
        "ak_zhol",
        "auyl",
        "respublica",
        "baytak",
        "people",
        "osdp",
    )
    assert form.label("ak_zhol").kk == "«Ақ жол» Қазақстан демократиялық партиясы"
    assert form.label("voters_on_list").ru == "Число избирателей, включенных в списки избирателей"
    assert form.groups == {"parties": form.keys[7:]}
    assert [r.text for r in form.relations][-1] == (
        "voters_voted == ballots_invalid + against_all + sum(parties)"
    )
    assert form.wording_status is None


def test_draft_forms_are_marked_for_checking() -> None:
    for fid in ("kz-maslikhat-party-list-2023", "kz-presidential-2022"):
        form = load_form(fid)
        assert (
            form.wording_status is not None and "Central Election Commission" in form.wording_status
        )


def test_presidential_form_sums_candidates() -> None:
    form = load_form("kz-presidential-2022")
    assert "candidates" in form.groups and "parties" not in form.groups
    assert "tokayev" in form.groups["candidates"]
    rel = form.relations[-1]
    assert rel.groups() == {"candidates"}


def test_unknown_form_is_a_usage_error_with_exit_code_2() -> None:
    with pytest.raises(FormNotFound) as exc:
        load_form("kz-nonexistent")
    assert exc.value.exit_code == 2
    assert "kz-mazhilis-party-list-2023" in str(exc.value)


def test_relation_naming_an_unknown_figure_is_refused() -> None:
    data = json.loads(
        json.dumps(
            {
                "id": "x",
                "title": {"ru": "a", "kk": "b"},
                "fields": [{"key": "a", "ru": "A", "kk": "A"}],
                "relations": ["a == b"],
            }
        )
    )
    with pytest.raises(UsageError, match="unknown"):
        form_from_dict(data)

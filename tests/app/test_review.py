"""Review by double entry, on protocol photos read by the real reader: blind entries, a
figure confirmed only by two different reviewers' equal values, disagreements to the
coordinator, every entry a custody record beside the machine's reading."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from app import figures as fg
from app import review
from app.setup import open_store
from evidence.storage.store import Store
from testing.workspace import protocol_store

A, B, C = "usr-aaaaaaaaaaaaaaaaaaaa", "usr-bbbbbbbbbbbbbbbbbbbb", "usr-cccccccccccccccccccc"


@pytest.fixture(scope="module")
def read_store(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("review") / "store"
    protocol_store(root)
    return root


@pytest.fixture
def store(read_store: Path, tmp_path: Path) -> Store:
    copy = tmp_path / "store"
    shutil.copytree(read_store, copy, symlinks=True)
    return open_store(copy)


def _log(store: Store) -> list[dict]:
    return [json.loads(line)["entry"] for line in store.log_path.read_text().splitlines()]


def test_the_queue_gives_the_oldest_protocol_with_figures_in_review(store: Store) -> None:
    first = review.next_for(store, A)
    assert first is not None
    photos = fg.readings(store.index)
    oldest = min(
        (p for p in photos if any(f.machine_status != "accepted" for f in p.figures.values())),
        key=lambda p: p.reading_seq,
    )
    assert first["item"] == oldest.item
    keys = {f["key"] for f in first["fields"]}
    assert keys == {k for k, f in oldest.figures.items() if f.machine_status != "accepted"}
    for f in first["fields"]:
        assert f["crop_url"].startswith("/api/crops/") and f["label"]
        assert all(isinstance(c, int) for c in f["candidates"])
    # the relations as the page evaluates them: left - right as coefficients
    rel = first["relations"][0]
    assert rel["op"] in ("==", "<=") and set(rel["terms"]) <= set(first["labels"])
    assert first["substitution"] is True and first["others"]  # precinct 31: two sheets


def test_two_reviewers_agreeing_confirm_and_the_rest_of_dalel_sees_it(store: Store) -> None:
    p = review.next_for(store, A)
    assert p is not None
    item, key = p["item"], p["fields"][0]["key"]
    mine, theirs = review.waiting(store, A), review.waiting(store, B)
    assert review.enter(store, item, key, 517, A) == "waiting_second"
    # the reviewer's progress: one more entered, today; the other reviewer's unchanged
    now = review.waiting(store, A)
    assert (now["entered"], now["today"]) == (mine["entered"] + 1, mine["today"] + 1)
    assert now["figures"] == mine["figures"] - 1
    assert review.waiting(store, B) == theirs
    # blind: B is offered the figure, and nothing of A's value
    q = review.next_for(store, B)
    assert q is not None and key in {f["key"] for f in q["fields"]}
    assert "517" not in json.dumps(q)
    # A is not offered it again, and may not enter it twice
    again = review.next_for(store, A)
    assert again is None or key not in {f["key"] for f in again["fields"] if again["item"] == item}
    with pytest.raises(review.ReviewRefused) as twice:
        review.enter(store, item, key, 517, A)
    assert twice.value.reason == "ALREADY_ENTERED"
    assert review.enter(store, item, key, 517, B) == "confirmed"
    figure = next(x for x in fg.readings(store.index) if x.item == item).figures[key]
    assert figure.value == 517 and figure.source == "confirmed"
    assert figure.machine_value != 517 or figure.machine_status != "accepted"  # beside, not over
    events = [e for e in _log(store) if e["event"] in ("review-entry", "confirm")]
    assert [e["event"] for e in events] == ["review-entry", "review-entry", "confirm"]
    assert {events[0]["actor"]["id"], events[1]["actor"]["id"]} == {A, B}
    assert events[2]["actor"]["id"] == f"{A}+{B}" and events[2]["entries"] == [events[0]["seq"]]
    with pytest.raises(review.ReviewRefused) as done:
        review.enter(store, item, key, 517, C)
    assert done.value.reason == "NOT_IN_REVIEW"


def test_a_disagreement_goes_to_the_coordinator_and_leaves_the_queues(store: Store) -> None:
    p = review.next_for(store, A)
    assert p is not None
    item, key = p["item"], p["fields"][1]["key"]
    assert review.enter(store, item, key, 40, A) == "waiting_second"
    assert review.enter(store, item, key, 46, B) == "disagreement"
    for who in (C, A, B):
        q = review.next_for(store, who)
        assert q is None or q["item"] != item or key not in {f["key"] for f in q["fields"]}
    with pytest.raises(review.ReviewRefused) as third:
        review.enter(store, item, key, 40, C)
    assert third.value.reason == "IN_DISAGREEMENT"
    (d,) = review.disagreements(store)
    assert (d["item"], d["field"]) == (item, key)
    assert sorted(e["value"] for e in d["entries"]) == [40, 46]
    figure = next(x for x in fg.readings(store.index) if x.item == item).figures[key]
    assert figure.source != "confirmed"  # nothing is confirmed while they disagree
    assert review.resolve(store, item, key, 46, C) == "confirmed"
    assert review.disagreements(store) == []
    figure = next(x for x in fg.readings(store.index) if x.item == item).figures[key]
    assert figure.value == 46 and figure.source == "confirmed"
    with pytest.raises(review.ReviewRefused):
        review.resolve(store, item, key, 46, C)


@pytest.mark.parametrize("bad", [-1, 10_000_001, 1.5, "12a", True, None, [], "9" * 20])
def test_bad_values_are_refused_and_nothing_is_recorded(store: Store, bad) -> None:
    p = review.next_for(store, A)
    assert p is not None
    size = len(_log(store))
    with pytest.raises(review.ReviewRefused) as refused:
        review.enter(store, p["item"], p["fields"][0]["key"], bad, A)
    assert refused.value.reason == "BAD_VALUE"
    assert len(_log(store)) == size


def test_unknown_protocols_and_figures_are_not_found(store: Store) -> None:
    p = review.next_for(store, A)
    assert p is not None
    for item, key in (("0" * 64, "amanat"), (p["item"], "no_such_figure")):
        with pytest.raises(review.ReviewRefused) as missing:
            review.enter(store, item, key, 1, A)
        assert missing.value.reason == "NOT_FOUND" and missing.value.status == 404
    accepted = next(
        (item, k)
        for x in fg.readings(store.index)
        for item, k in [(x.item, k) for k, f in x.figures.items() if f.machine_status == "accepted"]
    )
    with pytest.raises(review.ReviewRefused) as not_review:
        review.enter(store, *accepted, 1, A)
    assert not_review.value.reason == "NOT_IN_REVIEW"


def test_the_queue_ends_when_everything_is_entered(store: Store) -> None:
    while (p := review.next_for(store, A)) is not None:
        for f in p["fields"]:
            review.enter(store, p["item"], f["key"], 1, A)
    assert review.waiting(store, A)["protocols"] == 0
    assert review.next_for(store, B) is not None  # B still has them all


def test_the_results_table_follows_a_confirmation(store: Store) -> None:
    from app import results

    photo = next(
        p
        for p in fg.readings(store.index)
        if p.precinct == "32" and any(f.machine_status != "accepted" for f in p.figures.values())
    )
    key = next(k for k, f in photo.figures.items() if f.machine_status != "accepted")
    before = results.results(store)
    assert results.results(store) is before  # nothing changed: the same table
    row = next(r for r in before.rows if r.precinct == "32")
    assert row.protocol[key] is None  # in review: no value yet
    review.enter(store, photo.item, key, 4321, A)
    assert results.results(store).rows == before.rows  # one entry confirms nothing
    review.enter(store, photo.item, key, 4321, B)
    after = next(r for r in results.results(store).rows if r.precinct == "32")
    assert after.protocol[key] == 4321

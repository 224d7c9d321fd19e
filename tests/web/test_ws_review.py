"""Review by double entry through HTTP, on protocol photos read by the real reader: who may
call which route (401, 403, CSRF), what each answers, and bad input refused by name with
nothing recorded. (The keyboard-only review in a real browser and its screenshots are in
tests/web/test_ws_browser.py; the whole double entry through HTTP in test_ws_api.py.)"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from app import figures as fg
from app import users
from app.setup import open_store
from evidence.storage.store import Store
from testing.workspace import protocol_store
from web.app import create_app

PEOPLE = (
    ("Әлия", "reviewer"),
    ("Марат", "reviewer"),
    ("Дина", "reviewer"),
    ("Гүлнар", "coordinator"),
    ("Ержан", "lawyer"),
    ("Auditor", "auditor"),
)


@pytest.fixture(scope="module")
def read_store(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("wsreview") / "store"
    protocol_store(root)
    return root


class Served:
    def __init__(self, client: TestClient, store: Store, passwords: dict[str, str]):
        self.client = client
        self.store = store
        self.passwords = passwords

    def sign_in(self, name: str) -> dict[str, str]:
        self.client.cookies.clear()
        r = self.client.post("/api/session", json={"name": name, "password": self.passwords[name]})
        assert r.status_code == 200, r.text
        return {"X-CSRF-Token": r.json()["csrf"]}

    def lines(self) -> int:
        """How many review entries and confirmations the log holds (sign-ins are logged too)."""
        return sum(1 for e in self.log() if e["event"] in ("review-entry", "confirm"))

    def log(self) -> list[dict]:
        return [json.loads(x)["entry"] for x in self.store.log_path.read_text().splitlines()]


@pytest.fixture
def served(read_store: Path, tmp_path: Path) -> Iterator[Served]:
    root = tmp_path / "store"
    shutil.copytree(read_store, root, symlinks=True)
    store = open_store(root)
    passwords = {name: users.add(store, name, role).password for name, role in PEOPLE}
    with TestClient(create_app(store), base_url="http://127.0.0.1") as client:
        yield Served(client, store, passwords)


def _a_figure(s: Served) -> tuple[str, str, dict]:
    p = s.client.get("/api/review/next").json()
    return p["item"], p["fields"][0]["key"], p


def test_signed_out_the_api_says_sign_in_and_the_pages_redirect(served: Served) -> None:
    c = served.client
    served.sign_in("Әлия")
    item, key, p = _a_figure(served)
    crop, photo = p["fields"][0]["crop_url"], p["photo_url"]
    c.cookies.clear()
    for method, url in (
        ("GET", "/api/review/next"),
        ("POST", f"/api/review/{item}/{key}"),
        ("GET", "/api/review/disagreements"),
        ("POST", f"/api/review/{item}/{key}/resolve"),
        ("GET", photo),
        ("GET", crop),
    ):
        r = c.request(method, url, json={"value": 1} if method == "POST" else None)
        assert r.status_code == 401 and r.json()["error"] == "SIGN_IN_REQUIRED", url
    for page in ("/w/review", "/w/disagreements"):
        r = c.get(page, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/w/sign-in?next=")
    assert served.lines() == 0


def test_each_role_reaches_only_its_routes(served: Served) -> None:
    c = served.client
    served.sign_in("Әлия")
    item, key, p = _a_figure(served)
    crop, photo = p["fields"][0]["crop_url"], p["photo_url"]
    before = served.lines()
    # a lawyer and an auditor do not review; a reviewer does not settle disagreements
    for name in ("Ержан", "Auditor"):
        h = served.sign_in(name)
        assert c.get("/api/review/next").json()["error"] == "FORBIDDEN"
        r = c.post(f"/api/review/{item}/{key}", json={"value": 1}, headers=h)
        assert r.status_code == 403 and r.json()["error"] == "FORBIDDEN"
        assert c.get("/w/review").status_code == 403
        # they may see the photo and the crop (a lawyer builds cases from them)
        assert c.get(photo).status_code == 200 and c.get(crop).status_code == 200
    h = served.sign_in("Әлия")
    assert c.get("/api/review/disagreements").status_code == 403
    r = c.post(f"/api/review/{item}/{key}/resolve", json={"value": 1}, headers=h)
    assert r.status_code == 403 and r.json()["error"] == "FORBIDDEN"
    assert c.get("/w/disagreements").status_code == 403
    assert served.lines() == before  # nothing recorded
    # a coordinator may review too, and settles
    served.sign_in("Гүлнар")
    assert c.get("/api/review/next").status_code == 200
    assert c.get("/api/review/disagreements").json() == {"disagreements": []}
    assert c.get("/w/disagreements").status_code == 200


def test_a_post_without_the_sessions_csrf_token_is_refused(served: Served) -> None:
    c = served.client
    h = served.sign_in("Әлия")
    item, key, _ = _a_figure(served)
    before = served.lines()
    for headers in ({}, {"X-CSRF-Token": "x" * 43}):
        r = c.post(f"/api/review/{item}/{key}", json={"value": 5}, headers=headers)
        assert r.status_code == 403 and r.json()["error"] == "CSRF"
    assert served.lines() == before
    assert c.post(f"/api/review/{item}/{key}", json={"value": 5}, headers=h).status_code == 200
    hc = served.sign_in("Гүлнар")
    r = c.post(f"/api/review/{item}/{key}/resolve", json={"value": 5}, headers=h)  # Әлия's
    assert r.status_code == 403 and r.json()["error"] == "CSRF"
    r = c.post(f"/api/review/{item}/{key}/resolve", json={"value": 5}, headers=hc)
    assert r.status_code == 409 and r.json()["error"] == "NOT_IN_DISAGREEMENT"


def test_next_has_the_shape_the_page_needs_in_the_users_language(served: Served) -> None:
    c = served.client
    served.sign_in("Әлия")
    ru = c.get("/api/review/next")
    assert ru.status_code == 200 and ru.headers["cache-control"] == "no-store"
    p = ru.json()
    assert len(p["item"]) == 64 and p["precinct"] == "31"
    assert p["photo_url"] == f"/api/items/{p['item']}/photo"
    assert p["substitution"] is True  # precinct 31: two sheets with different figures
    assert p["others"] and all(o["item"] != p["item"] for o in p["others"])
    for o in p["others"]:
        assert c.get(o["photo_url"]).status_code == 200
    assert p["waiting"]["protocols"] >= 2 and p["waiting"]["entered"] == 0
    photos = {x.item: x for x in fg.readings(served.store.index)}
    machine = photos[p["item"]].figures
    for f in p["fields"]:
        assert {
            "key",
            "label",
            "candidates",
            "words",
            "crop_url",
            "machine_value",
            "reason",
        } <= set(f)
        assert machine[f["key"]].machine_status != "accepted"
        assert f["machine_value"] == machine[f["key"]].machine_value
        assert all(isinstance(x, int) for x in f["candidates"])
        assert isinstance(f["words"], str)
        r = c.get(f["crop_url"])
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    # top to bottom as on the sheet: in the form's order (not the log's key order)
    order = list(p["labels"])
    assert [order.index(f["key"]) for f in p["fields"]] == sorted(
        order.index(f["key"]) for f in p["fields"]
    )
    assert len(p["fields"]) > 1
    # the figures the machine accepted are given as known, so relations can be evaluated
    fields = {f["key"] for f in p["fields"]}
    assert set(p["known"]) == {k for k, f in machine.items() if f.value is not None} - fields
    for rel in p["relations"]:
        assert rel["op"] in ("==", "<=", ">=", "<", ">") and rel["text"]
        assert set(rel["terms"]) <= set(p["labels"]) and isinstance(rel["constant"], int)
    # labels in the user's language
    kk = c.get("/api/review/next?lang=kk").json()
    assert kk["item"] == p["item"]
    assert [f["label"] for f in kk["fields"]] != [f["label"] for f in p["fields"]]
    assert any(ch in "".join(kk["labels"].values()) for ch in "әғқңөұүһі")


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        ({"value": -1}, 400, "BAD_VALUE"),
        ({"value": 3.5}, 400, "BAD_VALUE"),
        ({"value": True}, 400, "BAD_VALUE"),
        ({"value": "12a"}, 400, "BAD_VALUE"),
        ({"value": None}, 400, "BAD_VALUE"),
        ({"value": 10**30}, 400, "BAD_VALUE"),
        ({"value": 10_000_001}, 400, "BAD_VALUE"),
        ({"number": 5}, 400, "BAD_VALUE"),
    ],
)
def test_bad_values_are_refused_by_name_and_nothing_is_recorded(
    served: Served, body: dict, status: int, reason: str
) -> None:
    h = served.sign_in("Әлия")
    item, key, _ = _a_figure(served)
    before = served.lines()
    r = served.client.post(f"/api/review/{item}/{key}", json=body, headers=h)
    assert r.status_code == status and r.json()["error"] == reason, r.text
    assert r.json()["message"] and "Traceback" not in r.text
    assert served.lines() == before


def test_unknown_things_and_figures_not_in_review_are_refused(served: Served) -> None:
    c = served.client
    h = served.sign_in("Әлия")
    item, key, _ = _a_figure(served)
    photos = {x.item: x for x in fg.readings(served.store.index)}
    accepted = next(k for k, f in photos[item].figures.items() if f.machine_status == "accepted")
    before = served.lines()
    cases = [
        (f"/api/review/{'0' * 64}/{key}", 404, "NOT_FOUND"),
        (f"/api/review/{item}/no_such_figure", 404, "NOT_FOUND"),
        (f"/api/review/{item[:20]}/{key}", 404, "NOT_FOUND"),
        (f"/api/review/{item}/{accepted}", 409, "NOT_IN_REVIEW"),
    ]
    for url, status, reason in cases:
        r = c.post(url, json={"value": 5}, headers=h)
        assert r.status_code == status and r.json()["error"] == reason, url
    r = c.post(f"/api/review/{item}/{key}", content=b"value=5", headers=h)
    assert r.status_code == 415 and r.json()["error"] == "JSON_REQUIRED"
    r = c.post(
        f"/api/review/{item}/{key}",
        content=b"{not json",
        headers={**h, "Content-Type": "application/json"},
    )
    assert r.status_code == 400 and r.json()["error"] == "BAD_REQUEST"
    assert served.lines() == before
    # a photo route only for protocol photos; a crop route only for crops
    reading = next(
        o["sha256"]
        for e in served.store.index.history(item)
        if e["event"] == "ocr"
        for o in e["objects"]
        if o["role"] == "reading"
    )
    assert c.get(f"/api/crops/{reading}").status_code == 404  # an object, not a crop
    assert c.get(f"/api/items/{reading}/photo").status_code == 404
    assert c.get(f"/api/crops/{item}").status_code == 404  # a photo, not a crop


def test_a_disagreement_leaves_every_reviewers_queue_and_is_settled_once(served: Served) -> None:
    c = served.client
    h = served.sign_in("Әлия")
    item, key, _ = _a_figure(served)
    assert c.post(f"/api/review/{item}/{key}", json={"value": 40}, headers=h).json() == {
        "status": "waiting_second"
    }
    h = served.sign_in("Марат")
    assert c.post(f"/api/review/{item}/{key}", json={"value": 41}, headers=h).json() == {
        "status": "disagreement"
    }
    # a third reviewer is not asked for it, and may not enter it
    h = served.sign_in("Дина")
    p = c.get("/api/review/next").json()
    assert p["item"] != item or key not in {f["key"] for f in p["fields"]}
    r = c.post(f"/api/review/{item}/{key}", json={"value": 40}, headers=h)
    assert r.status_code == 409 and r.json()["error"] == "IN_DISAGREEMENT"
    # the coordinator sees both entries, by name, and when
    hc = served.sign_in("Гүлнар")
    (d,) = c.get("/api/review/disagreements").json()["disagreements"]
    assert (d["item"], d["field"]) == (item, key)
    assert sorted((e["name"], e["value"]) for e in d["entries"]) == [("Марат", 41), ("Әлия", 40)]
    assert all(e["time"] and e["by"].startswith("usr-") for e in d["entries"])
    assert c.get(d["crop_url"]).status_code == 200
    for bad in ({"value": -5}, {"value": "x"}):
        r = c.post(f"/api/review/{item}/{key}/resolve", json=bad, headers=hc)
        assert r.status_code == 400 and r.json()["error"] == "BAD_VALUE"
    r = c.post(f"/api/review/{item}/{key}/resolve", json={"value": 40}, headers=hc)
    assert r.json() == {"status": "confirmed"}
    assert c.get("/api/review/disagreements").json() == {"disagreements": []}
    r = c.post(f"/api/review/{item}/{key}/resolve", json={"value": 41}, headers=hc)
    assert r.status_code == 409 and r.json()["error"] == "NOT_IN_DISAGREEMENT"
    confirm = [e for e in served.log() if e["event"] == "confirm"]
    assert len(confirm) == 1 and confirm[0]["value"] == 40
    assert confirm[0]["actor"] == {
        "role": "coordinator",
        "id": users.pseudonym(served.store.secret, "Гүлнар"),
    }
    photo = next(x for x in fg.readings(served.store.index) if x.item == item)
    assert photo.figures[key].value == 40 and photo.figures[key].source == "confirmed"

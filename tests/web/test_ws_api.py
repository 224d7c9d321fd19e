"""The workspace's public interface through HTTP, on protocol photos read by the real reader:
review by double entry, the alternative results and their public page, cases and dossiers
built as background jobs."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from app import users
from app.setup import open_store
from evidence.storage.store import Store
from testing.workspace import dalel, protocol_store
from web.app import create_app
from web.workspace import charts

REGISTRY = (
    "number,region,district,address,latitude,longitude\n"
    '31,Алматы қаласы,Бостандық ауданы,"Әл-Фараби даңғылы, 71",43.22,76.92\n'
    "32,Алматы қаласы,Әуезов ауданы,Абай к-сі 1,,\n"
    "33,Батыс Қазақстан облысы,Орал қаласы,,51.2,51.4\n"
    "34,=cmd|' /C calc'!A0,,,,\n"
)


@pytest.fixture(scope="module")
def read_store(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("wsapi") / "store"
    protocol_store(root)
    return root


@pytest.fixture
def served(read_store: Path, tmp_path: Path) -> Iterator[tuple[TestClient, Store, dict]]:
    root = tmp_path / "store"
    shutil.copytree(read_store, root, symlinks=True)
    store = open_store(root)
    people = {
        name: users.add(store, name, role).password
        for name, role in (
            ("Әлия", "reviewer"),
            ("Марат", "reviewer"),
            ("Coordinator", "coordinator"),
            ("Lawyer", "lawyer"),
            ("Auditor", "auditor"),
        )
    }
    with TestClient(create_app(store, batch_every=60), base_url="http://127.0.0.1") as client:
        yield client, store, people


def _as(served, name: str) -> dict[str, str]:
    client, _, people = served
    client.cookies.clear()
    r = client.post("/api/session", json={"name": name, "password": people[name]})
    assert r.status_code == 200, r.text
    return {"X-CSRF-Token": r.json()["csrf"]}


def _log(store: Store) -> list[dict]:
    return [json.loads(line)["entry"] for line in store.log_path.read_text().splitlines()]


# --- review ----------------------------------------------------------------------------------
def test_review_by_double_entry_through_the_public_interface(served) -> None:
    client, store, _ = served
    h = _as(served, "Әлия")
    r = client.get("/api/review/next")
    assert r.status_code == 200
    p = r.json()
    assert len(p["item"]) == 64 and p["precinct"] == "31"
    field = p["fields"][0]
    assert {"key", "candidates", "words", "crop_url"} <= set(field)
    crop = client.get(field["crop_url"])
    assert crop.status_code == 200 and crop.content.startswith(b"\x89PNG")
    photo = client.get(p["photo_url"])
    assert photo.status_code == 200 and photo.headers["content-type"].startswith("image/")
    url = f"/api/review/{p['item']}/{field['key']}"
    assert client.post(url, json={"value": 321}, headers=h).json() == {"status": "waiting_second"}
    again = client.post(url, json={"value": 321}, headers=h)
    assert again.status_code == 409 and again.json()["error"] == "ALREADY_ENTERED"
    for bad in ({"value": -3}, {"value": "x"}, {"v": 1}):
        r = client.post(url, json=bad, headers=h)
        assert r.status_code == 400 and r.json()["error"] == "BAD_VALUE", bad
    assert (
        client.post(f"/api/review/{'0' * 64}/amanat", json={"value": 1}, headers=h).status_code
        == 404
    )
    h = _as(served, "Марат")
    q = client.get("/api/review/next").json()
    assert "321" not in json.dumps(q)  # blind
    assert client.post(url, json={"value": 321}, headers=h).json() == {"status": "confirmed"}
    second = p["fields"][1]
    url2 = f"/api/review/{p['item']}/{second['key']}"
    assert client.post(url2, json={"value": 7}, headers=h).json()["status"] == "waiting_second"
    h = _as(served, "Әлия")
    assert client.post(url2, json={"value": 8}, headers=h).json()["status"] == "disagreement"
    h = _as(served, "Coordinator")
    (d,) = client.get("/api/review/disagreements").json()["disagreements"]
    assert {e["name"] for e in d["entries"]} == {"Әлия", "Марат"}
    assert client.post(url2 + "/resolve", json={"value": 8}, headers=h).json() == {
        "status": "confirmed"
    }
    entries = [e for e in _log(store) if e["event"] == "review-entry"]
    assert len(entries) == 4
    names = {users.pseudonym(store.secret, n) for n in ("Әлия", "Марат")}
    assert {e["actor"]["id"] for e in entries} == names
    assert "Әлия" not in store.log_path.read_text(encoding="utf-8")


def test_no_more_protocols_is_204(served) -> None:
    client, _, _ = served
    h = _as(served, "Әлия")
    for _ in range(20):
        r = client.get("/api/review/next")
        if r.status_code == 204:
            break
        p = r.json()
        for f in p["fields"]:
            url = f"/api/review/{p['item']}/{f['key']}"
            assert client.post(url, json={"value": 1}, headers=h).status_code == 200
    assert r.status_code == 204 and r.content == b""
    assert client.get("/w/review").status_code == 200


def test_photos_and_crops_only_of_readings(served) -> None:
    client, store, _ = served
    _as(served, "Auditor")
    other = store.objects.put_bytes(b"not a crop").sha256
    assert client.get(f"/api/crops/{other}").status_code == 404
    assert client.get(f"/api/items/{other}/photo").status_code == 404
    assert client.get("/api/crops/../../keys").status_code == 404


# --- alternative results ---------------------------------------------------------------------
def test_results_per_precinct_and_region_csv_json_and_the_public_switch(
    served, tmp_path: Path
) -> None:
    client, store, _ = served
    (tmp_path / "reg.csv").write_text(REGISTRY + "bad row\n", encoding="utf-8")
    out = dalel(
        "--store", store.root, "precinct", "import", tmp_path / "reg.csv", "--json", ok=(3,)
    )
    assert json.loads(out.stdout)["precincts"] == 4
    assert json.loads(out.stdout)["bad_rows"] == [{"line": 6, "reason": "fewer than six columns"}]
    (tmp_path / "official.csv").write_text(
        "precinct,field,value\n31,voters_on_list,686\n31,ballots_issued,373\n"
        "33,voters_on_list,2871\n33,ballots_issued,1903\n33,amanat,999\n35,amanat,5\n",
        encoding="utf-8",
    )
    dalel("--store", store.root, "official", "import", tmp_path / "official.csv")
    _as(served, "Auditor")
    data = client.get("/api/results?format=json").json()
    rows = {r["precinct"]: r for r in data["rows"]}
    assert set(rows) == {"31", "32", "33", "34", "35"}
    assert rows["33"]["region"] == "Батыс Қазақстан облысы" and rows["35"]["region"] is None
    assert rows["33"]["amanat_official"] == 999
    if rows["33"]["amanat_protocol"] is not None:  # typed: read for sure
        assert rows["33"]["amanat_difference"] == rows["33"]["amanat_protocol"] - 999
    assert rows["31"]["turnout_official"] == round(373 / 686, 4)
    assert data["coverage"] == {"with_photo": 3, "precincts": 5}
    regions = {g["region"]: g for g in data["regions"]}
    assert regions["Алматы қаласы"]["precincts"] == 2 and regions[None]["precincts"] == 1
    text = client.get("/api/results?format=csv")
    assert text.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(text.text)))
    assert len(table) == 5
    hostile = next(r for r in table if r["precinct"] == "34")
    assert hostile["region"].startswith("'=")  # no formula for a spreadsheet
    assert client.get("/api/results?format=xml").status_code == 400
    page = client.get("/w/results?lang=kk")
    assert page.status_code == 200 and "Батыс Қазақстан облысы" in page.text
    assert "Балама қорытындылар" in page.text and "<svg" in page.text
    # public page: off by default; only a coordinator switches it
    client.cookies.clear()
    assert client.get("/results").status_code == 404
    assert client.get("/results/data").status_code == 404
    h = _as(served, "Lawyer")
    assert client.post("/api/results/public", json={"public": True}, headers=h).status_code == 403
    h = _as(served, "Coordinator")
    assert client.post("/api/results/public", json={"public": "yes"}, headers=h).status_code == 400
    assert client.post("/api/results/public", json={"public": True}, headers=h).status_code == 200
    assert any(e["event"] == "user-change" and "results_public" in e["change"] for e in _log(store))
    client.cookies.clear()
    public = client.get("/results?lang=en")
    assert public.status_code == 200 and "Alternative results" in public.text
    exported = client.get("/results/data?format=json").text + public.text
    for private in ("usr-", "obs-", "Әлия", "Coordinator", *(r for r in _items(store))):
        assert private not in exported, private


def _items(store: Store) -> list[str]:
    return [e["item"]["sha256"] for e in _log(store) if e["event"] == "ingest"]


def test_charts_are_svg_with_bars_in_proportion_and_labels_escaped() -> None:
    svg = charts.bars("t <x>", [("a & <b>", 10), ("c", -5), ("d", 5)])
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    widths = {int(r.get("data-value")): float(r.get("width")) for r in root.iter(ns + "rect")}
    assert widths[10] == 2 * widths[5] == 2 * widths[-5] > 0
    assert "a &amp; &lt;b&gt;" in svg and "<b>" not in svg
    hist = ET.fromstring(charts.histogram("h", [("p", [0.05, 0.5, 0.55]), ("o", [0.95])]))
    counts = [int(r.get("data-value")) for r in hist.iter(ns + "rect") if r.get("class") == "bar"]
    assert sum(counts) == 4 and max(counts) == 2
    assert ET.fromstring(charts.bars("empty", [], empty="none yet")) is not None


# --- cases and dossiers ----------------------------------------------------------------------
def _wait(client: TestClient, job: str, limit: float = 240) -> dict:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        j = client.get(f"/api/jobs/{job}").json()
        if j["state"] in ("done", "failed"):
            return j
        assert 0 <= j["progress"] <= 1 and j["step"]
        time.sleep(0.3)
    raise AssertionError("the job did not end")


def test_a_lawyer_opens_a_case_from_a_discrepancy_and_builds_a_dossier(served, tmp_path) -> None:
    client, store, _ = served
    (tmp_path / "official.csv").write_text(
        "precinct,field,value\n31,ballots_invalid,99\n", encoding="utf-8"
    )
    dalel("--store", store.root, "official", "import", tmp_path / "official.csv")
    h = _as(served, "Lawyer")
    board = client.get("/api/deadlines").json()
    assert [d["precinct"] for d in board["discrepancies"]] == ["31"] and board["cases"] == []
    opened = client.post("/api/cases", json={"precinct": "31"}, headers=h)
    assert opened.status_code == 201
    cid = opened.json()["id"]
    assert len(opened.json()["evidence"]) == 2  # both photos of the precinct
    board = client.get("/api/deadlines").json()
    assert board["discrepancies"] == [] and board["cases"][0]["case"] == cid
    assert client.get("/w/deadlines?lang=kk").status_code == 200
    # a court edition lacking what a complaint needs says what, field by field
    job = client.post(f"/api/cases/{cid}/dossiers", json={"edition": "court"}, headers=h)
    assert job.status_code == 202
    failed = _wait(client, job.json()["job"])
    assert failed["state"] == "failed" and failed["error"]["reason"] == "INCOMPLETE"
    assert len(failed["error"]["gaps"]) >= 5
    fields = {
        "respondent": "УИК № 31",
        "addressee_name": "ТИК Бостандыкского района",
        "event_date": "2026-12-01",
        "facts": "Цифры протокола отличаются от официальных.",
        "relief": "Пересчитать голоса.",
        "complainant_name": "Сейітқызы Әлия",
        "complainant_iin": "870412300416",
        "complainant_address": "Алматы",
    }
    assert client.post(f"/api/cases/{cid}", json={"nope": "x"}, headers=h).status_code == 400
    assert client.post(f"/api/cases/{cid}", json=fields, headers=h).status_code == 200
    assert "870412300416" not in store.log_path.read_text(encoding="utf-8")
    me = users.pseudonym(store.secret, "Lawyer")
    sets = [e for e in _log(store) if e["event"] in ("case-set", "case-new")]
    assert sets and all(e["actor"]["id"] == me for e in sets)
    job = client.post(
        f"/api/cases/{cid}/dossiers", json={"edition": "court", "language": "kk"}, headers=h
    )
    done = _wait(client, job.json()["job"])
    assert done["state"] == "done", done
    pdf = client.get(f"/api/dossiers/{done['dossier']}")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert hashlib.sha256(pdf.content).hexdigest() == done["dossier"]
    built = [e for e in _log(store) if e["event"] == "dossier"]
    assert built[-1]["actor"]["id"] == me
    report = client.get(f"/api/dossiers/{done['dossier']}/verify").json()
    assert report["ok"] is True and report["sha256"] == done["dossier"]
    case = client.get(f"/api/cases/{cid}").json()
    assert case["dossiers"][0]["sha256"] == done["dossier"]
    page = client.get(f"/w/cases/{cid}?lang=kk")
    assert page.status_code == 200 and done["dossier"][:16] in page.text
    # the board: red at 3 days or fewer, a passed deadline said plainly
    import datetime as dt

    (row,) = client.get("/api/deadlines").json()["cases"]
    day = dt.date(2026, 12, 1) - dt.timedelta(days=row["days_left"] - 2)
    assert (
        client.post(
            f"/api/cases/{cid}", json={"event_date": day.isoformat()}, headers=h
        ).status_code
        == 200
    )
    (row,) = client.get("/api/deadlines").json()["cases"]
    assert row["days_left"] == 2 and row["warning"] and not row["passed"]
    board = client.get("/w/deadlines?lang=ru").text
    assert f'class="card case urgent" href="/w/cases/{cid}"' in board
    past = (day - dt.timedelta(days=30)).isoformat()
    assert client.post(f"/api/cases/{cid}", json={"event_date": past}, headers=h).status_code == 200
    board = client.get("/w/deadlines?lang=ru").text
    assert f'class="card case passed" href="/w/cases/{cid}"' in board and "Срок истёк" in board
    # the auditor reads, and may not change
    _as(served, "Auditor")
    assert client.get(f"/api/dossiers/{done['dossier']}/verify").json()["ok"] is True
    page = client.get(f"/w/cases/{cid}").text
    assert 'id="build"' not in page and 'id="f-respondent" name="respondent"' in page
    assert 'name="respondent" value="УИК № 31" disabled' in page


def test_case_routes_answer_unknown_things_with_404(served) -> None:
    client, store, _ = served
    h = _as(served, "Lawyer")
    assert client.get("/api/cases/case-9999").status_code == 404
    assert client.get("/w/cases/not-a-case").status_code == 404
    assert client.get(f"/api/dossiers/{'a' * 64}").status_code == 404
    photo = _items(store)[0]
    assert client.get(f"/api/dossiers/{photo}").status_code == 404  # a photo is no dossier
    assert client.get("/api/jobs/nosuchjobnosuchjob").status_code == 404
    assert client.post("/api/cases", json={"precinct": "99"}, headers=h).status_code == 400
    r = client.post("/api/cases/case-0001/dossiers", json={"edition": "x"}, headers=h)
    assert r.status_code in (400, 404)
    thumb = client.get(f"/api/items/{photo}/thumb")
    assert thumb.status_code == 200 and thumb.content[:2] == b"\xff\xd8"
    assert client.get(f"/api/items/{'b' * 64}/thumb").status_code == 404
    g = client.get("/api/gallery?precinct=31").json()
    assert len(g["items"]) == 2 and all(i["thumb_url"] for i in g["items"])


# --- warm-up ---------------------------------------------------------------------------------
def test_warm_up_reads_the_log_for_review_and_results_as_the_server_starts(
    read_store, tmp_path
) -> None:
    """Nobody's first page waits for the log to be read: the server's warm-up has made the
    review view and the results table before any request (a server without it has not)."""
    from app import figures, results, review

    root = tmp_path / "store"
    shutil.copytree(read_store, root, symlinks=True)
    store = open_store(root)
    where = f"{store.root.resolve()}:{store.index.line_hash(0)}"

    def forget() -> None:
        review._VIEWS.pop(where, None)
        results.forget()
        figures._LOGGED.clear()

    forget()
    cold = create_app(store, batch_every=60, warm=False)
    with TestClient(cold, base_url="http://127.0.0.1"):
        time.sleep(0.5)
        assert cold.state.warmed == {}
        assert where not in review._VIEWS and not results._MADE

    app = create_app(store, batch_every=60)
    with TestClient(app, base_url="http://127.0.0.1"):
        deadline = time.monotonic() + 60
        while len(app.state.warmed) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert set(app.state.warmed) == {"review", "results"}
        assert review._VIEWS[where].seq == store.index.last_seq()
        assert review._VIEWS[where].photos  # the protocols read into the view
        made = [k for k in results._MADE if k.startswith(where)]
        assert made, "the results table was not made as the server started"
        assert results._MADE[made[0]].rows
    forget()

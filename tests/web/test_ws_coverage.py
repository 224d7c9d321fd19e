"""The coverage board in the workspace: counts per region and district after an exchange with
a second organisation's store, the map, the gaps of election day, CSV and JSON, no personal
data; and in Chromium, on a laptop and on a phone."""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from app import coverage, users
from evidence.storage.store import Store
from pipeline.hooks import attach
from tests.conftest import dalel_subprocess
from web.app import create_app
from web.workspace.core import translate

REGISTRY = (
    "number,region,district,address,latitude,longitude\n"
    "101,Батыс Қазақстан облысы,Орал қаласы,,51.23,51.37\n"
    "102,Батыс Қазақстан облысы,Орал қаласы,,51.21,51.38\n"
    '103,Батыс Қазақстан облысы,"Бөкей ордасы ауданы (Сайхин ауылы, өте ұзын атауы бар)",,'
    "49.2,48.0\n"
    "104,Алматы қаласы,Бостандық ауданы,,43.22,76.92\n"
)


def _init(root: Path, org: str) -> Store:
    assert dalel_subprocess("--store", root, "init", "--org", org).returncode == 0
    return attach(Store.open(root))


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("coverage")
    ours = _init(base / "ours", "Ерікті бақылаушылар")
    other = _init(base / "other", "Адал сайлау")
    (base / "reg.csv").write_text(REGISTRY, encoding="utf-8")
    r = dalel_subprocess("--store", ours.root, "precinct", "import", base / "reg.csv")
    assert r.returncode == 0, r.stderr
    note = base / "adal.note"
    note.write_bytes(coverage.export(other, {"101": {"day"}, "102": {"morning"}, "104": {"count"}}))
    r = dalel_subprocess("--store", ours.root, "coverage", "import", note)
    assert r.returncode == 0, r.stderr
    from testing.samples import PhotoExif, write_jpeg

    photo = write_jpeg(base / "p.jpg", 5, PhotoExif())
    r = dalel_subprocess("--store", ours.root, "ingest", photo, "--observer", "o",
                         "--precinct", "101", "--kind", "protocol")  # fmt: skip
    assert r.returncode == 0, r.stderr
    return ours.root, base


@pytest.fixture
def served(stores, tmp_path) -> Iterator[tuple[TestClient, Store, dict[str, str]]]:
    root = tmp_path / "store"
    shutil.copytree(stores[0], root, symlinks=True)
    store = attach(Store.open(root))
    people = {r.value: users.add(store, f"user {r.value}", r.value).password for r in users.Role}
    with TestClient(create_app(store, batch_every=60), base_url="http://127.0.0.1") as client:
        yield client, store, people


def _as(served, role: str) -> None:
    client, _, people = served
    client.cookies.clear()
    r = client.post("/api/session", json={"name": f"user {role}", "password": people[role]})
    assert r.status_code == 200


def test_the_board_counts_the_other_organisations_coverage_by_region(served) -> None:
    client = served[0]
    for role in ("coordinator", "lawyer", "reviewer", "auditor"):
        _as(served, role)
        assert client.get("/w/coverage").status_code == 200, role
    r = client.get("/api/coverage?format=json")
    assert r.status_code == 200
    data = r.json()
    regions = {x["region"]: x for x in data["regions"]}
    west = regions["Батыс Қазақстан облысы"]
    assert (west["precincts"], west["covered"], west["partly"], west["uncovered"]) == (3, 1, 1, 1)
    assert regions["Алматы қаласы"]["partly"] == 1
    assert data["total"]["protocol_photo"] == 1  # 101 sent its protocol
    assert data["total"]["watched_without_photo"] == 2  # 102 and 104: watched, silent
    assert [n["organisation"] for n in data["imported"]] == ["Адал сайлау"]
    by = {p["precinct"]: p for p in data["precincts"]}
    assert by["101"]["others"] == {"Адал сайлау": ["morning", "evening", "count"]}

    page = client.get("/w/coverage?lang=kk").text
    assert translate("nav.coverage", "kk") in page
    # what the page's scripts say when the network is cut, in the user's language
    assert f'<meta name="t-network" content="{translate("error.network", "kk")}">' in page
    assert 'id="n-covered">1<' in page and 'id="n-uncovered">1<' in page
    assert 'id="n-gaps">2<' in page
    assert "Бөкей ордасы ауданы (Сайхин ауылы, өте ұзын атауы бар)" in page
    assert page.count('<circle class="dot ') == 4  # every precinct with a place
    assert '<circle class="dot covered"' in page and 'stroke="#1a73e8"' not in page
    # 102 and 104 are the gaps; 101 sent its photo; 103 is watched by nobody
    gaps = page.split('id="gaps"')[1].split("</ul>")[0]
    assert "102" in gaps and "104" in gaps and "101" not in gaps and "103" not in gaps


def test_the_export_is_every_precinct_and_safe_and_bad_formats_are_named(served) -> None:
    client = served[0]
    _as(served, "auditor")
    r = client.get("/api/coverage?format=csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert sorted(x["precinct"] for x in rows) == ["101", "102", "103", "104"]
    assert {x["precinct"]: x["state"] for x in rows}["101"] == "covered"
    bad = client.get("/api/coverage?format=xml", headers={"Accept-Language": "kk"})
    assert bad.status_code == 400 and bad.json()["error"] == "BAD_FORMAT"
    assert bad.json()["message"] == translate("coverage.error.format", "kk")
    client.cookies.clear()
    assert client.get("/api/coverage").status_code == 401
    assert client.get("/w/coverage", follow_redirects=False).status_code == 303


def test_our_approved_sign_ups_count_overlap_the_others_and_name_no_one(served) -> None:
    from app import signups

    client, store, _ = served
    volunteer = "Гүлжан Нұрмағамбетова-Сейітқызы"
    for precinct, shift, contact in (("102", "evening", "+7 701 555 0101"),
                                     ("102", "count", "+7 701 555 0102"),
                                     ("103", "morning", "@guljan_observer")):  # fmt: skip
        s = signups.submit(store, precinct=precinct, shift=shift, name=volunteer, contact=contact)
        signups.approve(store, s.id, by="usr-test")
    pending = signups.submit(store, precinct="104", shift="day", name="Pending Person",
                             contact="+7 701 555 0199")  # fmt: skip
    assert pending.status == "pending"
    _as(served, "coordinator")
    data = client.get("/api/coverage").json()
    by = {p["precinct"]: p for p in data["precincts"]}
    # 102: the other organisation's morning + our evening and count: covered, no overlap
    assert by["102"]["state"] == "covered" and by["102"]["ours"] == ["evening", "count"]
    assert not by["102"]["overlap"]
    assert by["103"]["state"] == "partly" and by["104"]["ours"] == []  # pending: not held
    assert data["total"]["covered"] == 2
    page = client.get("/w/coverage").text
    out = page + client.get("/api/coverage?format=csv").text + json.dumps(data)
    for private in (volunteer, "555 0101", "guljan", "Pending Person", "obs-", "usr-", "sgn-"):
        assert private not in out, private
    # the same shift held by both organisations: an overlap, ringed on the map
    s = signups.submit(store, precinct="101", shift="morning", name="Ерлан", contact="+7 701 1")
    signups.approve(store, s.id, by="usr-test")
    data = client.get("/api/coverage").json()
    assert data["total"]["overlap"] == 1
    assert 'stroke="#1a73e8"' in client.get("/w/coverage").text


def test_a_coordinator_exchanges_coverage_notes_through_the_workspace(served, tmp_path) -> None:
    client, store, _ = served
    _as(served, "coordinator")
    h = {"X-CSRF-Token": client.get("/api/session").json()["csrf"]}
    ours = client.get("/api/coverage/note")
    assert ours.status_code == 200 and ours.text.startswith(coverage.FORMAT + "\n")
    assert "attachment" in ours.headers["content-disposition"]
    logged = [json.loads(x)["entry"]["event"] for x in store.log_path.read_text().splitlines()]
    assert "coverage-export" in logged
    third = _init(tmp_path / "third", "Үшінші ұйым")
    note = coverage.export(third, {"103": {"day"}})
    kk = {**h, "Accept-Language": "kk", "Content-Type": "text/plain"}
    changed = client.post("/api/coverage/import", content=note.replace(b"103", b"104"), headers=kk)
    assert changed.status_code == 400 and changed.json()["error"] == "BAD_SIGNATURE"
    assert changed.json()["message"] == translate("coverage.error.BAD_SIGNATURE", "kk")
    own = client.post("/api/coverage/import", content=ours.content, headers=kk)
    assert own.json()["error"] == "OWN_NOTE"
    assert client.post("/api/coverage/import", content=note).status_code == 403  # no CSRF
    ok = client.post("/api/coverage/import", content=note, headers=kk)
    assert ok.status_code == 200 and ok.json()["organisation"] == "Үшінші ұйым"
    data = client.get("/api/coverage").json()
    assert {n["organisation"] for n in data["imported"]} == {"Адал сайлау", "Үшінші ұйым"}
    assert data["total"]["uncovered"] == 0  # 103: the third organisation's whole day
    # a whole city's note is larger than the guard's 64 KiB for other requests
    from web.app import guarded

    big = coverage.export(third, {str(n): {"day"} for n in range(1000, 9000)})
    assert len(big) > 64 * 1024
    password = served[2]["coordinator"]
    with TestClient(guarded(store, batch_every=60), base_url="http://127.0.0.1") as g:
        signed = g.post("/api/session", json={"name": "user coordinator", "password": password})
        gh = {"X-CSRF-Token": signed.json()["csrf"], "Content-Type": "text/plain"}
        assert g.post("/api/coverage/import", content=big, headers=gh).status_code == 200
        other = g.post("/api/session", content=b"x" * (65 * 1024), headers=gh)
        assert other.status_code == 413  # the guard's limit still holds everywhere else
    _as(served, "lawyer")
    assert client.get("/api/coverage/note").status_code == 403
    assert 'id="note-import"' not in client.get("/w/coverage").text


@pytest.mark.slow
def test_in_chromium_the_board_after_an_exchange_on_a_laptop_and_a_phone(stores, tmp_path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.web.test_server import Server
    from tests.web.test_ws_browser import SCREENSHOTS, _browser

    root = tmp_path / "store"
    shutil.copytree(stores[0], root, symlinks=True)
    store = attach(Store.open(root))
    added = users.add(store, "Гүлнар Ахметова", "coordinator")
    password = "Орал қаласы 125 учаске"  # her own, chosen at her first sign-in
    users.change_password(store, users.sign_in(store, added.user.name, added.password).token,
                          added.password, password)  # fmt: skip
    third = tmp_path / "third.note"
    third.write_bytes(coverage.export(_init(tmp_path / "t", "Үшінші ұйым"), {"103": {"day"}}))
    server = Server(root).start()
    try:
        for phone in (True, False):  # the laptop last: it imports a third note
            b = _browser(tmp_path, phone=phone)
            try:
                b.get(f"{server.url}/w/sign-in?lang=kk")
                WebDriverWait(b, 20).until(lambda d: d.find_element(By.ID, "name"))
                b.find_element(By.ID, "name").send_keys(added.user.name)
                b.find_element(By.ID, "password").send_keys(password + "\n")
                WebDriverWait(b, 20).until(lambda d: "/w/sign-in" not in d.current_url)
                b.get(f"{server.url}/w/coverage")
                WebDriverWait(b, 20).until(lambda d: d.find_element(By.ID, "totals"))
                counts = {k: b.find_element(By.ID, f"n-{k}").text
                          for k in ("covered", "partly", "uncovered", "gaps")}  # fmt: skip
                assert counts == {"covered": "1", "partly": "2", "uncovered": "1", "gaps": "2"}
                assert len(b.find_elements(By.CSS_SELECTOR, "svg circle.dot")) == 4
                wide = b.execute_script(
                    "return document.documentElement.scrollWidth - window.innerWidth"
                )
                assert wide <= 0, f"the page is {wide} px wider than the screen"
                b.save_screenshot(
                    str(SCREENSHOTS / ("ws-coverage-phone.png" if phone else "ws-coverage.png"))
                )
                if not phone:  # a third organisation's note, imported from the page
                    b.find_element(By.ID, "note-file").send_keys(str(third))
                    b.find_element(By.ID, "note-import").click()
                    WebDriverWait(b, 20).until(
                        lambda d: d.find_element(By.ID, "n-uncovered").text == "0"
                    )
                    assert b.find_element(By.ID, "n-covered").text == "2"
            finally:
                b.quit()
    finally:
        server.stop()

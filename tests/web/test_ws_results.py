"""The alternative results through HTTP and in a real browser: the page in Russian, Kazakh and
English with its three charts, regions (a long name, "region unknown") and precincts (those
that differ first, in red); the export's headers; the public switch (404 while off, only a
coordinator switches it, logged) and no personal data on the public page or its data; on a
phone the page is no wider than the screen (wide tables scroll inside their box).

The photos are real ingested items; their readings are ``ocr`` entries appended as the stage
records them (tests/web/test_ws_api.py reads real photos with the real reader).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from app import figures, registry, users
from app.setup import open_store
from evidence.storage.store import Store
from tests.app.test_results import BASE, _official, _read
from tests.conftest import VALID_IIN, make_photo
from web.app import create_app

LONG = "Солтүстік Қазақстан облысы, Мағжан Жұмабаев ауданы, Булаев қаласы"
REGISTRY = (
    "number,region,district,address,latitude,longitude\n"
    '31,Алматы қаласы,Бостандық ауданы,"Әл-Фараби д., 71",43.22,76.92\n'
    f'32,"{LONG}",Ауыл,Мектеп № 5,,\n'
    "34,Алматы қаласы,Медеу ауданы,Абай д. 1,,\n"
)
PEOPLE = (
    ("Әлия Сейітқызы", "reviewer"),
    ("Гүлнар Ахметова", "coordinator"),
    ("Ержан Оспанов", "lawyer"),
    ("Auditor Name", "auditor"),
)


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> tuple[Path, dict[str, str], list[str]]:
    """31 differs from the official results (AMANAT), 32 agrees after a person's reading, 33
    is in no region; 34 has no photo. Four people, one of each role."""
    from cli import main

    tmp = tmp_path_factory.mktemp("wsresults")
    root = tmp / "store"
    assert main(["--store", str(root), "init", "--org", "Coalition"]) == 0
    shas = []
    for n, precinct in enumerate(("31", "32", "33")):
        photo = make_photo(tmp / "in" / f"p{n}.png", (60 * n, 90, 200))
        args = ["--store", str(root), "ingest", str(photo), "--observer", VALID_IIN]
        assert main([*args, "--precinct", precinct, "--kind", "protocol"]) == 0
        shas.append(hashlib.sha256(photo.read_bytes()).hexdigest())
    store = Store.open(root)
    _read(store, shas[0], "31", BASE)
    _read(store, shas[1], "32", {**BASE, "amanat": 120}, review=("amanat",))
    _read(store, shas[2], "33", BASE)
    figures.confirm(store, shas[1], "amanat", 125, "Әлия Сейітқызы")
    _official(
        store,
        {"31": {**BASE, "amanat": 340}, "32": {**BASE, "amanat": 125}, "33": BASE, "34": BASE},
    )
    registry.import_csv(store, REGISTRY.encode())
    passwords = {name: users.add(store, name, role).password for name, role in PEOPLE}
    return root, passwords, shas


@pytest.fixture
def served(made, tmp_path: Path) -> Iterator[dict[str, Any]]:
    root, passwords, shas = made
    copy = tmp_path / "store"
    shutil.copytree(root, copy, symlinks=True)
    store = open_store(copy)
    with TestClient(create_app(store, batch_every=60), base_url="http://127.0.0.1") as client:
        yield {"client": client, "store": store, "passwords": passwords, "shas": shas}


def _as(s: dict[str, Any], name: str) -> dict[str, str]:
    s["client"].cookies.clear()
    r = s["client"].post("/api/session", json={"name": name, "password": s["passwords"][name]})
    assert r.status_code == 200, r.text
    return {"X-CSRF-Token": r.json()["csrf"]}


def _svgs(html: str) -> list[ET.Element]:
    out, at = [], 0
    while (start := html.find("<svg", at)) >= 0:
        end = html.index("</svg>", start) + len("</svg>")
        out.append(ET.fromstring(html[start:end]))
        at = end
    return out


WORDS_FILE = json.loads(
    (Path(__file__).resolve().parents[2] / "web/workspace/i18n/results.json").read_text()
)
CHARTS = ("results.chart.regions", "results.chart.turnout", "results.chart.parties")
WORDS = {
    "ru": ("Альтернативные итоги", "регион не указан", "Итоги по партиям", "Партия «AMANAT»"),
    "kk": ("Балама қорытындылар", "өңір көрсетілмеген", "Партиялар бойынша", "«AMANAT» партиясы"),
    "en": ("Alternative results", "region unknown", "Totals by party", "AMANAT party"),
}


@pytest.mark.parametrize("lang", ["ru", "kk", "en"])
def test_the_page_in_each_language(served, lang: str) -> None:
    client = served["client"]
    _as(served, "Auditor Name")
    page = client.get(f"/w/results?lang={lang}")
    assert page.status_code == 200
    for word in WORDS[lang]:
        assert word in page.text, word
    assert LONG in page.text and "Алматы қаласы" in page.text
    svgs = _svgs(page.text)
    assert len(svgs) == 3 and all(s.get("role") == "img" for s in svgs)
    titles = [s.find("{http://www.w3.org/2000/svg}title").text for s in svgs]
    assert titles == [WORDS_FILE[k][lang] for k in CHARTS]
    other = {"ru", "kk", "en"} - {lang}
    assert all(WORDS[o][3] not in page.text for o in other)  # party names in one language
    # the precinct table: 31 differs (first, in red), with both figures and the difference
    table = page.text[page.text.index('class="precincts"') :]
    body = table[table.index("<tbody>") :]
    first = body[: body.index("</tr>")]
    assert '<tr class="bad"><td>31</td>' in first and "(-40)" in first
    assert "public-toggle" not in page.text  # the switch is a coordinator's


def test_the_coordinator_sees_the_switch_and_the_export_is_named(served) -> None:
    client = served["client"]
    _as(served, "Гүлнар Ахметова")
    page = client.get("/w/results?lang=kk")
    assert 'id="public-toggle"' in page.text and "Жария бетті қосу" in page.text
    csv_ = client.get("/api/results?format=csv")
    assert csv_.headers["content-type"] == "text/csv; charset=utf-8"
    assert "alternative-results.csv" in csv_.headers["content-disposition"]
    assert LONG in csv_.content.decode("utf-8")
    bad = client.get("/api/results?format=xlsx&lang=en")
    assert bad.status_code == 400 and bad.json() == {
        "error": "BAD_FORMAT",
        "message": "Format: json or csv.",
    }
    client.cookies.clear()
    assert client.get("/api/results").status_code == 401
    assert client.get("/w/results", follow_redirects=False).status_code == 303


def test_the_public_switch_and_no_personal_data(served) -> None:
    client, store = served["client"], served["store"]
    client.cookies.clear()
    assert client.get("/results").status_code == 404
    off = client.get("/results/data")
    assert off.status_code == 404 and off.json()["error"] == "NOT_PUBLIC"
    for name in ("Әлия Сейітқызы", "Ержан Оспанов", "Auditor Name"):
        h = _as(served, name)
        assert (
            client.post("/api/results/public", json={"public": True}, headers=h).status_code == 403
        )
    h = _as(served, "Гүлнар Ахметова")
    assert client.post("/api/results/public", json={"public": True}).status_code == 403  # CSRF
    assert client.post("/api/results/public", json={"public": 1}, headers=h).status_code == 400
    assert client.get("/results").status_code == 404
    on = client.post("/api/results/public", json={"public": True}, headers=h)
    assert on.status_code == 200 and on.json() == {"public": True}
    log = [json.loads(line)["entry"] for line in store.log_path.read_text().splitlines()]
    change = [e for e in log if e["event"] == "user-change"][-1]
    assert "results_public" in json.dumps(change, ensure_ascii=False)
    client.cookies.clear()
    public = client.get("/results?lang=kk")
    assert public.status_code == 200 and "Балама қорытындылар" in public.text
    assert "public-toggle" not in public.text and 'href="/results/data?format=csv"' in public.text
    data = client.get("/results/data?format=json")
    assert data.status_code == 200 and len(data.json()["rows"]) == 4
    shown = public.text + data.text + client.get("/results/data?format=csv").text
    private = [name for name, _ in PEOPLE] + [users.pseudonym(store.secret, n) for n, _ in PEOPLE]
    private += ["usr-", "obs-", VALID_IIN, *served["shas"]]
    for p in private:
        assert p not in shown, p
    h = _as(served, "Гүлнар Ахметова")
    assert client.post("/api/results/public", json={"public": False}, headers=h).status_code == 200
    client.cookies.clear()
    assert client.get("/results").status_code == 404
    assert client.get("/results/data?format=csv").status_code == 404


# --- in a real browser ------------------------------------------------------------------------
@pytest.mark.slow
def test_on_a_phone_the_page_is_no_wider_than_the_screen(made, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.web.test_server import Server
    from tests.web.test_ws_browser import _browser

    root, passwords, _ = made
    copy = tmp_path / "store"
    shutil.copytree(root, copy, symlinks=True)
    server = Server(copy).start()
    phone = _browser(tmp_path, phone=True)
    try:
        phone.get(f"{server.url}/w/sign-in?lang=kk")
        field = WebDriverWait(phone, 20).until(lambda d: d.find_element(By.ID, "name"))
        name = "Гүлнар Ахметова"
        field.send_keys(name, Keys.TAB, passwords[name], Keys.ENTER)
        WebDriverWait(phone, 20).until(lambda d: "/w/sign-in" not in d.current_url)
        phone.get(f"{server.url}/w/results?lang=kk")
        toggle = WebDriverWait(phone, 20).until(lambda d: d.find_element(By.ID, "public-toggle"))
        width = "return document.documentElement.scrollWidth"
        assert phone.execute_script(width) <= 390
        charts = phone.find_elements(By.CSS_SELECTOR, ".charts svg")
        assert len(charts) == 3 and all(0 < c.size["width"] <= 390 for c in charts)
        toggle.click()  # the public page on, from the page
        WebDriverWait(phone, 20).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "a[href='/results']")
        )
        phone.delete_all_cookies()
        phone.get(f"{server.url}/results?lang=kk")
        assert "Балама қорытындылар" in phone.page_source and LONG in phone.page_source
        assert "usr-" not in phone.page_source and name not in phone.page_source
        assert phone.execute_script(width) <= 390
    finally:
        phone.quit()
        server.stop()

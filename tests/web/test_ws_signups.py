"""Sign-ups over HTTP: the public page's refusals (a wrong link, a form from another site, another
origin, too large, unknown or bad fields, the same person twice: each a named error in the
volunteer's language, never a stack trace), the precinct search, and the coordinator's flow
(approve: an invite the phone's API accepts, shown with its QR code; decline; a new link; the
IIN asked, kept as a pseudonym only)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from app import observers, registry, signups, users
from evidence.content import privacy
from evidence.storage.store import Store
from web.app import create_app
from web.workspace import core

REGISTRY = (
    "number,region,district,address,latitude,longitude\n"
    '31,Алматы қаласы,Бостандық ауданы,"Әл-Фараби даңғылы, 71",43.22,76.92\n'
    "32,Алматы қаласы,Әуезов ауданы,Абай көшесі 1,,\n"
    "33,Батыс Қазақстан облысы,Орал қаласы,Құрманғазы көшесі 12,51.2,51.4\n"
)
IIN = "870412300416"
NAME = "Гүлнар Серікқызы Әбдіхалықова-Нұрмағамбетова"


@pytest.fixture(autouse=True)
def _no_earlier_sign_ups() -> Iterator[None]:
    """Each test's client starts with no sign-ups counted against its address."""
    from web.workspace import signups as page

    page._TRIES.clear()
    yield
    page._TRIES.clear()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[TestClient, Store, dict[str, str]]]:
    from tests.conftest import dalel_subprocess

    root = tmp_path / "store"
    assert dalel_subprocess("--store", root, "init", "--org", "Орал бақылаушылары").returncode == 0
    store = Store.open(root)
    passwords = {r.value: users.add(store, f"user {r.value}", r.value).password for r in users.Role}
    app = create_app(store, batch_every=60, warm=False)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client, store, passwords


def _as(client: TestClient, passwords: dict[str, str], role: str) -> dict[str, str]:
    client.cookies.clear()
    r = client.post("/api/session", json={"name": f"user {role}", "password": passwords[role]})
    assert r.status_code == 200
    return {"X-CSRF-Token": r.json()["csrf"]}


def _body(**fields: object) -> dict[str, object]:
    return {"precinct": "31", "shift": "day", "name": NAME, "contact": "+7 701 555 12 34", **fields}


def test_a_wrong_or_old_link_is_a_plain_404_in_each_language(served) -> None:
    client, store, _ = served
    for lang in core.LANGUAGES:
        r = client.get(f"/s/{'A' * 22}?lang={lang}")
        assert r.status_code == 404
        assert core.translate("signup.missing.title", lang) in r.text
        assert core.translate("signup.missing.text", lang) in r.text
    client.cookies.clear()
    assert client.get("/s/x/precincts").json()["error"] == "NOT_FOUND"
    r = client.post(f"/s/{'A' * 22}", json=_body())
    assert r.status_code == 404 and r.json()["error"] == "NOT_FOUND"
    old = signups.link(store)
    new = signups.link(store, new=True)
    assert client.get(f"/s/{old.token}").status_code == 404
    assert client.get(f"/s/{new.token}").status_code == 200
    assert client.post(f"/s/{old.token}", json=_body()).status_code == 404
    assert signups.counts(store)["pending"] == 0


def test_the_public_post_refuses_hostile_input_by_name(served) -> None:
    client, store, _ = served
    url = "/s/" + signups.link(store).token
    kk = {"Accept-Language": "kk"}
    form = client.post(url, data={"precinct": "31", "shift": "day", "name": "x", "contact": "123"})
    assert form.status_code == 415 and form.json()["error"] == "JSON_REQUIRED"
    plain = client.post(url, content=json.dumps(_body()), headers={"Content-Type": "text/plain"})
    assert plain.status_code == 415
    evil = client.post(url, json=_body(), headers={"Origin": "https://evil.example"})
    assert evil.status_code == 403 and evil.json()["error"] == "BAD_ORIGIN"
    big = client.post(url, json=_body(name="ә" * 3000))
    assert big.status_code == 413 and big.json()["error"] == "TOO_LARGE"
    assert client.post(url, json=[_body()]).json()["error"] == "BAD_REQUEST"
    assert (
        client.post(url, content=b"{", headers={"Content-Type": "application/json"}).json()["error"]
        == "BAD_REQUEST"
    )
    extra = client.post(url, json=_body(admin=True))
    assert extra.status_code == 400 and extra.json()["error"] == "BAD_REQUEST"
    for fields, reason in (
        ({"precinct": IIN}, "BAD_PRECINCT"),
        ({"shift": "night"}, "BAD_SHIFT"),
        ({"name": ""}, "BAD_NAME"),
        ({"name": "x" * 101}, "BAD_NAME"),
        ({"contact": 77011234567}, "BAD_CONTACT"),
    ):
        r = client.post(url, json=_body(**fields), headers=kk)
        assert r.status_code == 400, fields
        assert r.json() == {
            "error": reason,
            "message": core.translate(f"signup.error.{reason}", "kk"),
        }
    ok = client.post(url, json=_body(), headers={**kk, "Origin": "http://127.0.0.1"})
    assert ok.status_code == 201 and ok.json()["status"] == "pending"
    assert ok.json()["message"] == core.translate("signup.done", "kk")
    assert NAME not in ok.text  # nothing personal echoed back
    again = client.post(url, json=_body(contact="8 701 555-12-34"), headers=kk)
    assert again.status_code == 409 and again.json()["error"] == "DUPLICATE"
    assert again.json()["message"] == core.translate("signup.error.DUPLICATE", "kk")
    for r in (form, plain, evil, big, extra, again):
        assert "Traceback" not in r.text
    assert signups.counts(store)["pending"] == 1


def test_the_precinct_search_and_the_registry(served) -> None:
    client, store, _ = served
    url = "/s/" + signups.link(store).token
    page = client.get(url + "?lang=kk")
    assert 'id="precinct-search"' not in page.text and 'name="precinct"' in page.text
    assert client.get(url + "/precincts").json() == {
        "registry": False, "precincts": [], "more": False,
    }  # fmt: skip
    registry.import_csv(store, REGISTRY.encode())
    page = client.get(url + "?lang=kk")
    assert page.status_code == 200 and 'id="precinct-search"' in page.text
    assert "Орал бақылаушылары" in page.text
    assert "<script>" not in page.text.replace('<script src="', "")  # no inline script (CSP)
    every = client.get(url + "/precincts").json()
    assert [p["number"] for p in every["precincts"]] == ["31", "32", "33"]
    found = client.get(url + "/precincts", params={"q": "құрманғазы"}).json()["precincts"]
    assert [p["number"] for p in found] == ["33"] and found[0]["region"].startswith("Батыс")
    assert [p["number"] for p in client.get(url + "/precincts?q=32").json()["precincts"]] == ["32"]
    unknown = client.post(url, json=_body(precinct="99"))
    assert unknown.status_code == 400 and unknown.json()["error"] == "UNKNOWN_PRECINCT"
    made = client.post(url, json=_body(precinct="33", shift="count"))
    assert made.status_code == 201
    signups.approve(store, made.json()["signup"], by="usr-x")
    taken = client.get(url + "/precincts?q=33").json()["precincts"][0]["taken"]
    assert taken == ["count"]
    assert NAME not in client.get(url + "/precincts?q=33").text


def test_a_coordinator_approves_and_the_phone_accepts_the_invite(served) -> None:
    client, store, passwords = served
    h = _as(client, passwords, "coordinator")
    page = client.get("/w/signups?lang=kk")
    assert page.status_code == 200
    assert core.translate("nav.signups", "kk") in page.text
    link = signups.link(store)
    assert link.url in page.text  # the page made the link and shows it
    client.cookies.clear()
    first = client.post("/s/" + link.token, json=_body(precinct="32", shift="evening")).json()
    second = client.post("/s/" + link.token, json=_body(contact="@marat_tg")).json()
    h = _as(client, passwords, "coordinator")
    page = client.get("/w/signups?lang=kk").text
    assert NAME in page and "@marat_tg" in page
    assert page.index(second["signup"]) < page.index(first["signup"])  # by precinct: 31, 32

    r = client.post(f"/api/signups/{second['signup']}/approve", json={}, headers=h)
    assert r.status_code == 200
    invite = r.json()["invite"]
    assert invite["url"] == f"{observers.public_url(store)}/o/#{invite['token']}"
    assert base64.b64decode(r.json()["qr"].split(",", 1)[1])[:4] == b"\x89PNG"
    assert r.json()["signup"]["status"] == "approved"
    me = client.get("/api/me", headers={"Authorization": f"Bearer {invite['token']}"})
    assert me.status_code == 200 and me.json()["precinct"] == "31"
    again = client.post(f"/api/signups/{second['signup']}/approve", json={}, headers=h)
    assert again.status_code == 409 and again.json()["error"] == "ALREADY_DECIDED"
    assert client.post("/api/signups/sgn-nope/decline", json={}, headers=h).status_code == 404

    r = client.post(f"/api/signups/{first['signup']}/decline", json={}, headers=h)
    assert r.status_code == 200 and r.json()["signup"]["status"] == "declined"
    listed = client.get("/api/signups").json()
    assert listed["counts"] == {"pending": 0, "approved": 1, "declined": 1}
    assert listed["link"]["url"] == link.url
    assert invite["token"] not in client.get("/w/signups").text  # the invite link: shown once

    made = client.post("/api/signups/link", json={}, headers=h).json()
    assert made["url"] != link.url
    assert client.get("/s/" + link.token).status_code == 404
    log = store.log_path.read_text(encoding="utf-8")
    assert NAME not in log and "marat_tg" not in log and invite["token"] not in log


def test_the_iin_setting_asks_for_it_and_keeps_a_pseudonym(served) -> None:
    client, store, passwords = served
    h = _as(client, passwords, "coordinator")
    bad = client.post("/api/signups/settings", json={"ask_iin": "yes"}, headers=h)
    assert bad.status_code == 400 and bad.json()["error"] == "BAD_REQUEST"
    on = client.post("/api/signups/settings", json={"ask_iin": True}, headers=h)
    assert on.status_code == 200 and on.json() == {"ask_iin": True}
    url = "/s/" + signups.link(store).token
    client.cookies.clear()
    assert 'id="iin"' in client.get(url).text
    missing = client.post(url, json=_body())
    assert missing.status_code == 400 and missing.json()["error"] == "IIN_REQUIRED"
    wrong = client.post(url, json=_body(iin="870412300417"))
    assert wrong.status_code == 400 and wrong.json()["error"] == "IIN_INVALID"
    ok = client.post(url, json=_body(iin=IIN))
    assert ok.status_code == 201 and IIN not in ok.text
    _as(client, passwords, "coordinator")
    listed = client.get("/api/signups").text
    assert IIN not in listed and privacy.pseudonym(store.secret, IIN) in listed
    assert IIN not in store.log_path.read_text() and IIN not in client.get("/w/signups").text


def test_only_the_coordinator_sees_sign_ups(served) -> None:
    client, _, passwords = served
    for role in ("lawyer", "reviewer", "auditor"):
        _as(client, passwords, role)
        assert client.get("/w/signups").status_code == 403
        assert client.get("/api/signups").json()["error"] == "FORBIDDEN"
        assert core.translate("nav.signups", "ru") not in client.get("/w/results").text


def test_every_sign_up_word_is_in_russian_kazakh_and_english() -> None:
    path = core.I18N / "signups.json"
    texts = json.loads(path.read_text(encoding="utf-8"))
    assert texts
    for key, by_lang in texts.items():
        assert set(by_lang) == set(core.LANGUAGES), key
        assert all(isinstance(v, str) and v.strip() for v in by_lang.values()), key
    for reason in signups.Reason:
        assert f"signup.error.{reason.value}" in texts, reason
    for shift in signups.SHIFTS:
        assert f"signup.shift.{shift}" in texts, shift


@pytest.mark.slow
def test_in_chromium_a_volunteer_signs_up_a_coordinator_approves_and_the_phone_opens_it(
    tmp_path: Path,
) -> None:
    """A volunteer on a 390 px phone signs up in Kazakh (the precinct found by its street), a
    coordinator approves in the workspace and reads the invite's link, and the volunteer's phone
    opens it and reaches the observers' page. Screenshots for the README on the way."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.conftest import dalel_subprocess
    from tests.web.test_server import Server
    from tests.web.test_ws_browser import _browser, _shot

    root = tmp_path / "store"
    assert dalel_subprocess("--store", root, "init", "--org", "Орал бақылаушылары").returncode == 0
    server = Server(root)
    with (root / "config.toml").open("a", encoding="utf-8") as f:
        f.write(f'\n[web]\npublic_url = "{server.url}"\n')
    store = Store.open(root)
    registry.import_csv(store, REGISTRY.encode())
    coordinator = "Гүлнар Ахметова"
    given = users.add(store, coordinator, "coordinator").password
    chosen = "өз құпиясөзім әңғқөұүһі"
    users.change_password(store, users.sign_in(store, coordinator, given).token, given, chosen)
    for name, precinct, shift, contact in (
        ("Нұрсұлтан Қайратұлы Әбілқайыров", "31", "morning", "@nursultan_q"),
        ("Айгерім Жұмабекқызы", "32", "day", "+7 702 000 11 22"),
        ("Марат Өтегенов", "31", "count", "+7 705 333 44 55"),
    ):
        signups.submit(store, precinct=precinct, shift=shift, name=name, contact=contact)
    declined = signups.submit(
        store, precinct="32", shift="evening", name="Ержан", contact="@erzhan"
    )
    signups.decline(store, declined.id, by="usr-x")
    link = signups.link(store)
    assert link.url.startswith(server.url + "/s/")
    server.start()
    phone = _browser(tmp_path, phone=True)
    desk = _browser(tmp_path)
    try:
        # the volunteer, on a phone, in Kazakh
        phone.get(link.url + "?lang=kk")
        search = WebDriverWait(phone, 20).until(lambda d: d.find_element(By.ID, "precinct-search"))
        WebDriverWait(phone, 20).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "#precinct-list li")
        )
        search.send_keys("Құрманғазы")
        WebDriverWait(phone, 20).until(
            lambda d: [li.get_attribute("data-number") for li in d.find_elements(
                By.CSS_SELECTOR, "#precinct-list li")] == ["33"]
        )  # fmt: skip
        phone.find_element(By.CSS_SELECTOR, "#precinct-list li").click()
        assert "33" in phone.find_element(By.ID, "precinct-chosen").text
        phone.find_element(By.CSS_SELECTOR, 'input[name="shift"][value="count"]').click()
        phone.find_element(By.ID, "name").send_keys(NAME)
        phone.find_element(By.ID, "contact").send_keys("+7 701 555 12 34")
        wide = phone.execute_script("return document.documentElement.scrollWidth")
        assert wide <= 390, wide
        _shot(phone, "ws-signup-phone.png")
        phone.find_element(By.ID, "contact").send_keys(Keys.ENTER)
        done = phone.find_element(By.ID, "signup-done")
        WebDriverWait(phone, 20).until(lambda d: done.is_displayed())
        assert phone.find_element(By.ID, "signup-done-text").text == core.translate(
            "signup.done", "kk"
        )
        mine = done.get_attribute("data-signup")
        assert signups.get(store, mine).name == NAME

        # the coordinator approves in the workspace and reads the invite's link
        desk.get(f"{server.url}/w/sign-in?lang=kk")
        field = WebDriverWait(desk, 20).until(lambda d: d.find_element(By.ID, "name"))
        field.send_keys(coordinator, Keys.TAB, chosen, Keys.ENTER)
        WebDriverWait(desk, 20).until(lambda d: "/w/sign-in" not in d.current_url)
        desk.find_element(By.LINK_TEXT, core.translate("nav.signups", "kk")).click()
        WebDriverWait(desk, 20).until(lambda d: d.current_url.endswith("/w/signups"))
        cards = [c.get_attribute("id") for c in desk.find_elements(By.CSS_SELECTOR, ".signup-row")]
        assert cards[-1] == f"row-{declined.id}"  # pending first, the declined last
        assert desk.find_element(By.ID, "signup-link").get_attribute("value") == link.url
        row = desk.find_element(By.ID, f"row-{mine}")
        assert NAME in row.text and "+7 701 555 12 34" in row.text
        row.find_element(By.CSS_SELECTOR, 'button[data-action="approve"]').click()
        url_field = WebDriverWait(desk, 20).until(lambda d: d.find_element(By.ID, f"invite-{mine}"))
        invite = url_field.get_attribute("value")
        assert invite.startswith(f"{server.url}/o/#")
        assert (
            row.find_element(By.CSS_SELECTOR, "img.qr")
            .get_attribute("src")
            .startswith("data:image/png;base64,")
        )
        assert core.translate("signups.status.approved", "kk") in row.text
        assert desk.find_element(By.CSS_SELECTOR, "#count-approved .n").text == "1"
        assert desk.find_element(By.CSS_SELECTOR, "#count-pending .n").text == "3"
        desk.set_window_size(1366, 1100)
        desk.execute_script("window.scrollTo(0, 0)")
        _shot(desk, "ws-signups.png")
        assert signups.approved_shifts(store) == {"33": frozenset({"count"})}

        # the volunteer's phone opens the invite and reaches the observers' page
        phone.get(invite)
        WebDriverWait(phone, 20).until(lambda d: d.find_element(By.ID, "app").is_displayed())
        assert not phone.find_element(By.ID, "nolink").is_displayed()
        assert "#" not in phone.current_url  # the token left the address bar
        precinct = phone.execute_script("return document.getElementById('precinct').value")
        assert precinct == "33", precinct

        # the coordinator's page fits a phone too
        phone.get(f"{server.url}/w/sign-in?lang=kk")
        field = WebDriverWait(phone, 20).until(lambda d: d.find_element(By.ID, "name"))
        field.send_keys(coordinator, Keys.TAB, chosen, Keys.ENTER)
        WebDriverWait(phone, 20).until(lambda d: "/w/sign-in" not in d.current_url)
        phone.get(f"{server.url}/w/signups")
        WebDriverWait(phone, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".signup-row"))
        wide = phone.execute_script("return document.documentElement.scrollWidth")
        assert wide <= 390, wide
    finally:
        phone.quit()
        desk.quit()
        server.stop()


def test_the_access_log_never_names_the_sign_up_token(tmp_path: Path, caplog) -> None:
    import logging

    from tests.conftest import dalel_subprocess
    from web.app import guarded

    root = tmp_path / "store"
    assert dalel_subprocess("--store", root, "init", "--org", "Coalition").returncode == 0
    store = Store.open(root)
    token = signups.link(store).token
    caplog.set_level(logging.INFO, logger="dalel.web.access")
    with TestClient(guarded(store, batch_every=60), base_url="http://127.0.0.1") as client:
        assert client.get(f"/s/{token}").status_code == 200
        assert client.get(f"/s/{token}/precincts?q=31").status_code == 200
        assert client.post(f"/s/{token}", json=_body()).status_code == 201
    lines = [r.getMessage() for r in caplog.records if r.name == "dalel.web.access"]
    assert len(lines) >= 3 and all(token not in line for line in lines), lines
    assert all(NAME not in line for line in lines)


def test_one_address_is_slowed_down_after_ten_sign_ups_an_hour(served) -> None:
    from web.workspace import signups as page

    client, store, _ = served
    url = "/s/" + signups.link(store).token
    for _ in range(3):  # refused input is not counted: a mistyped form can be sent again
        assert client.post(url, json=_body(shift="night")).json()["error"] == "BAD_SHIFT"
    for i in range(page.PER_CLIENT):
        r = client.post(url, json=_body(contact=f"+7 701 000 00{i:02d}"))
        assert r.status_code == 201, r.text
    # the eleventh is held back, and nothing of it is kept
    r = client.post(url, json=_body(contact="+7 701 000 0099"), headers={"Accept-Language": "kk"})
    assert r.status_code == 429 and r.json() == {
        "error": "TOO_MANY", "message": core.translate("signup.error.TOO_MANY", "kk")}  # fmt: skip
    assert signups.counts(store)["pending"] == page.PER_CLIENT
    # another address is not held back, and the first is let through an hour later
    assert not page._too_many("10.0.0.2")
    later = time.monotonic() + page.WINDOW + 1
    assert not page._too_many("testclient", now=later)


def test_sign_ups_sent_at_once_from_one_address_cannot_pass_the_limit_together(served) -> None:
    """Forty requests at the same moment from one address: ten are taken, the rest are held
    back (a place is taken in one step, before the sign-up is made)."""
    import asyncio

    import httpx

    from web.workspace import signups as page

    client, store, _ = served
    url = "/s/" + signups.link(store).token

    async def burst(address: str, n: int, first: int) -> list[int]:
        transport = httpx.ASGITransport(app=client.app, client=(address, 5555))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            sent = [
                c.post(url, json=_body(contact=f"+7 702 000 {first + i:04d}")) for i in range(n)
            ]
            return [r.status_code for r in await asyncio.gather(*sent)]

    codes = asyncio.run(burst("10.9.9.9", 40, 0))
    assert codes.count(201) == page.PER_CLIENT and codes.count(429) == 40 - page.PER_CLIENT
    assert signups.counts(store)["pending"] == page.PER_CLIENT
    # this machine itself (a proxy that forwards no address) is not held back
    assert asyncio.run(burst("127.0.0.1", 12, 100)) == [201] * 12

"""The coalition's workspace in a real browser (Debian's Chromium, headless) against a real
server: two reviewers confirm a protocol by keyboard only, their disagreement reaches the
coordinator, a lawyer builds and downloads a dossier from a discrepancy, a reviewer cannot
reach a lawyer's page; the README's screenshots are taken on the way."""

from __future__ import annotations

import hashlib
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service as ChromeService
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from app import users
from app.setup import open_store
from testing.workspace import dalel, protocol_store
from tests.conftest import ROOT
from tests.web.test_server import Server
from web.workspace.core import translate

pytestmark = pytest.mark.slow
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
REGISTRY = (
    "number,region,district,address,latitude,longitude\n"
    '31,Алматы қаласы,Бостандық ауданы,"Әл-Фараби даңғылы, 71",43.22,76.92\n'
    "32,Алматы қаласы,Әуезов ауданы,Абай көшесі 1,,\n"
    "33,Батыс Қазақстан облысы,Орал қаласы,Құрманғазы көшесі 12,51.2,51.4\n"
    "34,Маңғыстау облысы,Ақтау қаласы,,,\n"
)


class World:
    def __init__(self, server: Server, truths: dict[str, dict], passwords: dict[str, str]):
        self.server = server
        self.truths = {t["sha256"]: t for t in truths.values()}
        self.passwords = passwords
        self.chosen: dict[str, str] = {}
        """The passwords users chose for themselves at their first sign-in."""


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[World]:
    base = tmp_path_factory.mktemp("wsbrowser")
    root = base / "store"
    truths = protocol_store(root)
    (base / "reg.csv").write_text(REGISTRY, encoding="utf-8")
    dalel("--store", root, "precinct", "import", base / "reg.csv")
    (base / "official.csv").write_text(
        "precinct,field,value\n31,ballots_invalid,99\n31,voters_on_list,686\n"
        "31,ballots_issued,373\n33,voters_on_list,2871\n33,ballots_issued,1955\n"
        "33,amanat,1044\n34,voters_on_list,1500\n34,ballots_issued,1200\n",
        encoding="utf-8",
    )
    dalel("--store", root, "official", "import", base / "official.csv")
    store = open_store(root)
    passwords = {
        name: users.add(store, name, role).password
        for name, role in (
            ("Әлия Сейітқызы", "reviewer"),
            ("Марат Жұмабаев", "reviewer"),
            ("Гүлнар Ахметова", "coordinator"),
            ("Ержан Оспанов", "lawyer"),
        )
    }
    server = Server(root).start()
    yield World(server, truths, passwords)
    server.stop()


def _browser(tmp_path: Path, phone: bool = False) -> webdriver.Chrome:
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    size = "390,844" if phone else "1366,900"
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        f"--window-size={size}",
        f"--user-data-dir={tmp_path / ('phone' if phone else 'desk')}",
    ):
        opts.add_argument(arg)
    if phone:
        opts.add_experimental_option(
            "mobileEmulation", {"deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 2}}
        )
    opts.add_experimental_option(
        "prefs",
        {
            "download.default_directory": str(tmp_path / "downloads"),
            "download.prompt_for_download": False,
        },
    )
    driver = webdriver.Chrome(service=ChromeService(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    return driver


@pytest.fixture
def browser(tmp_path) -> Iterator[webdriver.Chrome]:
    driver = _browser(tmp_path)
    try:
        yield driver
    finally:
        driver.quit()


def _sign_in(b: webdriver.Chrome, world: World, name: str, lang: str = "ru") -> None:
    b.delete_all_cookies()
    b.get(f"{world.server.url}/w/sign-in?lang={lang}")
    field = WebDriverWait(b, 20).until(lambda d: d.find_element(By.ID, "name"))
    field.send_keys(name, Keys.TAB, world.passwords[name], Keys.ENTER)
    WebDriverWait(b, 20).until(lambda d: "/w/sign-in" not in d.current_url)
    if b.current_url.endswith("/w/password"):
        _choose_password(b, world, name, lang)


def _choose_password(b: webdriver.Chrome, world: World, name: str, lang: str) -> None:
    """The first sign-in with the given password lands on the page to choose one's own: done
    by keyboard (the first time with the two new passwords differing, which the page says)."""
    given, chosen = world.passwords[name], f"өз құпиясөзім {len(world.chosen)} әңғқөұүһі"
    current = WebDriverWait(b, 20).until(lambda d: d.find_element(By.ID, "current"))
    assert not b.find_elements(By.ID, "given-password")  # the banner points here: not shown here
    if not world.chosen:
        current.send_keys(given, Keys.TAB, chosen, Keys.TAB, chosen + "x", Keys.ENTER)
        error = b.find_element(By.ID, "password-error")
        WebDriverWait(b, 10).until(lambda d: error.is_displayed())
        assert error.text == translate("password.mismatch", lang)
        b.find_element(By.ID, "again").clear()
        b.find_element(By.ID, "again").send_keys(chosen)
        _shot(b, "ws-password.png")
        b.find_element(By.ID, "again").send_keys(Keys.ENTER)
    else:
        current.send_keys(given, Keys.TAB, chosen, Keys.TAB, chosen, Keys.ENTER)
    WebDriverWait(b, 20).until(lambda d: not d.current_url.endswith("/w/password"))
    world.passwords[name] = world.chosen[name] = chosen


def _shot(b: webdriver.Chrome, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    WebDriverWait(b, 20).until(
        lambda d: d.execute_script("return Array.from(document.images).every(i => i.complete)")
    )
    b.save_screenshot(str(SCREENSHOTS / name))


def _review_protocol(b: webdriver.Chrome, world: World, change: str | None = None) -> dict:
    """Type every figure of the protocol on screen from its truth, by keyboard only (the
    ``change`` figure one more); returns what each row said after Enter."""
    WebDriverWait(b, 30).until(lambda d: d.find_element(By.ID, "protocol").is_displayed())
    item = b.find_element(By.ID, "photo").get_attribute("src").split("/")[-2]
    truth = world.truths[item]["figures"]
    keys = [i.get_attribute("name") for i in b.find_elements(By.CSS_SELECTOR, "#figures input")]
    assert keys and b.switch_to.active_element.get_attribute("name") == keys[0]
    states = {}
    for n, key in enumerate(keys):
        value = truth[key] + (1 if key == change else 0)
        b.switch_to.active_element.send_keys(str(value), Keys.ENTER)
        if n == len(keys) - 1:  # the next protocol (or none) replaces this one
            WebDriverWait(b, 20).until(
                lambda d: (
                    d.find_element(By.ID, "empty").is_displayed()
                    or item not in (d.find_element(By.ID, "photo").get_attribute("src") or "")
                    or d.find_element(By.ID, "error").is_displayed()
                )
            )
        else:
            WebDriverWait(b, 20).until(
                lambda d, k=key: (
                    d.find_element(By.ID, f"state-{k}").text.strip()
                    or d.find_element(By.ID, "error").is_displayed()
                )
            )
            states[key] = b.find_element(By.ID, f"state-{key}").text
        error = b.find_element(By.ID, "error")
        assert not error.is_displayed(), error.text
    return {"item": item, "keys": keys, "states": states}


def test_two_reviewers_confirm_by_keyboard_and_a_disagreement_reaches_the_coordinator(
    world: World, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    b = browser
    _sign_in(b, world, "Әлия Сейітқызы", "kk")
    assert b.current_url.endswith("/w/review")
    WebDriverWait(b, 30).until(lambda d: d.find_element(By.ID, "protocol").is_displayed())
    assert b.find_element(By.ID, "substitution").is_displayed()  # precinct 31: two sheets
    b.switch_to.active_element.send_keys("1")  # a relation turns while typing
    _shot(b, "ws-review.png")
    # a protocol of 14 figures is one screen of a 1366x768 laptop: the rows' height says so
    fits = b.execute_script(
        "const rows = document.querySelectorAll('#figures .figure');"
        "const first = rows[0].getBoundingClientRect();"
        "return first.top + window.scrollY + 14 * (first.height + 1);"
    )
    assert fits <= 768, fits
    b.switch_to.active_element.send_keys(Keys.BACKSPACE)
    first = _review_protocol(b, world, change=None)
    assert all("күтуде" in x for x in first["states"].values())  # waiting for a second
    _sign_in(b, world, "Марат Жұмабаев")
    second = _review_protocol(b, world, change=first["keys"][0])
    assert second["item"] == first["item"]
    states = [second["states"][k] for k in second["keys"][:-1]]
    assert "расхождение" in states[0] and all("подтверждено" in s for s in states[1:])
    store = open_store(world.server.store)
    from app import figures as fg

    photo = next(p for p in fg.readings(store.index) if p.item == first["item"])
    truth = world.truths[first["item"]]["figures"]
    for k in second["keys"][1:]:
        assert photo.figures[k].value == truth[k] and photo.figures[k].source == "confirmed"
    assert photo.figures[second["keys"][0]].source != "confirmed"
    # the coordinator sees both values and decides, by keyboard
    _sign_in(b, world, "Гүлнар Ахметова")
    b.get(f"{world.server.url}/w/disagreements")
    WebDriverWait(b, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#list input"))
    text = b.find_element(By.ID, "list").text
    k0 = second["keys"][0]
    assert str(truth[k0]) in text and str(truth[k0] + 1) in text
    assert "Әлия Сейітқызы" in text and "Марат Жұмабаев" in text
    _shot(b, "ws-disagreement.png")
    b.switch_to.active_element.send_keys(str(truth[k0]), Keys.ENTER)
    WebDriverWait(b, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#list .ok"))
    store.index.catch_up()
    photo = next(p for p in fg.readings(store.index) if p.item == first["item"])
    assert photo.figures[k0].value == truth[k0] and photo.figures[k0].source == "confirmed"


def test_a_lawyer_builds_and_downloads_a_dossier_from_a_discrepancy(
    world: World, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    b = browser
    _sign_in(b, world, "Ержан Оспанов", "kk")
    assert b.current_url.endswith("/w/deadlines")
    card = WebDriverWait(b, 20).until(lambda d: d.find_element(By.ID, "discrepancy-31"))
    _shot(b, "ws-deadlines.png")
    card.find_element(By.CSS_SELECTOR, "button.open-case").click()
    WebDriverWait(b, 30).until(lambda d: "/w/cases/case-" in d.current_url)
    values = {
        "respondent": "№ 31 учаскелік сайлау комиссиясы",
        "addressee_name": "Бостандық аудандық сайлау комиссиясы",
        "event_date": "2026-12-01",
        "facts": "Байқаушыға берілген хаттаманың көшірмесіндегі сандар ресми нәтижелерден өзгеше.",
        "relief": "Дауыстарды қайта санауды сұраймын.",
        "complainant_name": "Сейітқызы Әлия",
        "complainant_iin": "870412300416",
        "complainant_address": "Алматы қ., Әл-Фараби даңғылы, 71",
    }
    for name, value in values.items():
        field = b.find_element(By.ID, f"f-{name}")
        field.clear()
        field.send_keys(value)
    b.find_element(By.CSS_SELECTOR, "#fields button[type=submit]").click()

    def outcome(d: webdriver.Chrome) -> str | None:
        # read in one look: once "saved" shows, the page reloads, and its error line with it
        if d.find_element(By.ID, "saved").is_displayed():
            return "saved"
        error = d.find_element(By.ID, "error")
        return f"error: {error.text}" if error.is_displayed() else None

    shown = WebDriverWait(b, 20).until(outcome)
    assert shown == "saved", shown
    WebDriverWait(b, 20).until(lambda d: d.find_element(By.ID, "build-button"))
    time.sleep(1)  # the page reloads after saving
    WebDriverWait(b, 20).until(lambda d: d.find_element(By.ID, "build-button").is_enabled())
    b.find_element(By.ID, "build-button").click()
    WebDriverWait(b, 20).until(lambda d: d.find_element(By.ID, "job").is_displayed())
    WebDriverWait(b, 240).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#dossiers a.download"))
    link = b.find_element(By.CSS_SELECTOR, "#dossiers a.download")
    sha = link.get_attribute("href").rsplit("/", 1)[-1]
    b.find_element(By.CSS_SELECTOR, "#dossiers button.verify").click()
    WebDriverWait(b, 60).until(lambda d: "✓" in d.find_element(By.CSS_SELECTOR, ".verdict").text)
    _shot(b, "ws-case.png")
    link.click()
    downloads = tmp_path / "downloads"
    deadline = time.monotonic() + 60
    got: list[Path] = []
    while time.monotonic() < deadline:
        got = [p for p in downloads.glob("*.pdf")] if downloads.exists() else []
        if got:
            break
        time.sleep(0.3)
    assert got, "no dossier downloaded"
    data = got[0].read_bytes()
    assert hashlib.sha256(data).hexdigest() == sha
    verified = dalel("dossier", "verify", got[0], "--store", world.server.store, ok=(0,))
    assert verified.returncode == 0


def test_a_reviewer_cannot_reach_a_lawyers_page(world: World, browser: webdriver.Chrome) -> None:
    b = browser
    _sign_in(b, world, "Марат Жұмабаев")
    b.get(f"{world.server.url}/w/deadlines")
    assert "Нет доступа" in b.find_element(By.TAG_NAME, "h1").text
    nav = b.find_element(By.CSS_SELECTOR, "nav.sections").text
    assert "Проверка цифр" in nav and "Сроки" not in nav
    b.get(f"{world.server.url}/w/cases/case-0001")
    assert "Нет доступа" in b.find_element(By.TAG_NAME, "h1").text
    b.find_element(By.ID, "sign-out").click()
    WebDriverWait(b, 20).until(lambda d: "/w/sign-in" in d.current_url)
    b.get(f"{world.server.url}/w/review")
    assert "/w/sign-in" in b.current_url


def test_results_and_the_phone_views(world: World, tmp_path: Path) -> None:
    b = _browser(tmp_path)
    try:
        _sign_in(b, world, "Гүлнар Ахметова", "kk")
        b.get(f"{world.server.url}/w/results")
        assert "Батыс Қазақстан облысы" in b.page_source
        assert b.find_elements(By.CSS_SELECTOR, ".charts svg")
        _shot(b, "ws-results.png")
        b.find_element(By.ID, "public-toggle").click()
        WebDriverWait(b, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, "a[href='/results']"))
        b.delete_all_cookies()
        b.get(f"{world.server.url}/results?lang=en")
        assert "Alternative results" in b.page_source and "usr-" not in b.page_source
    finally:
        b.quit()
    phone = _browser(tmp_path, phone=True)
    try:
        _sign_in(phone, world, "Гүлнар Ахметова", "kk")
        phone.get(f"{world.server.url}/w/results")
        width = phone.execute_script("return document.documentElement.scrollWidth")
        assert width <= 400, width  # nothing wider than the phone
        _shot(phone, "ws-results-phone.png")
        phone.get(f"{world.server.url}/w/review")
        WebDriverWait(phone, 30).until(
            lambda d: (
                d.find_element(By.ID, "protocol").is_displayed()
                or d.find_element(By.ID, "empty").is_displayed()
            )
        )
        assert phone.execute_script("return document.documentElement.scrollWidth") <= 400
        _shot(phone, "ws-review-phone.png")
        phone.get(f"{world.server.url}/w/deadlines")
        assert phone.execute_script("return document.documentElement.scrollWidth") <= 400
        _shot(phone, "ws-deadlines-phone.png")
    finally:
        phone.quit()

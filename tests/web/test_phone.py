"""The observer's phone page in a real browser (Debian's Chromium, headless, 390x844):
files chosen are kept and hashed on the phone, sent with tus, resumed after a network cut
from where they stopped (the server's log of offsets shows no restart from zero), kept across
a reload, and receipted."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service as ChromeService
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from app import observers
from evidence.storage.store import Store
from testing.dossier_sample import sample_video
from tests.conftest import ROOT, dalel_subprocess, make_photo
from tests.web.test_server import Server

pytestmark = pytest.mark.slow
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[Server]:
    store = tmp_path_factory.mktemp("phone") / "store"
    assert dalel_subprocess("--store", store, "init", "--org", "Coalition").returncode == 0
    server = Server(store).start()
    yield server
    server.stop()


@pytest.fixture
def browser(tmp_path) -> Iterator[webdriver.Chrome]:
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=390,844",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        opts.add_argument(arg)
    opts.add_experimental_option(
        "mobileEmulation", {"deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 2}}
    )
    driver = webdriver.Chrome(service=ChromeService(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def _open(browser: webdriver.Chrome, served: Server, language: str = "ru") -> str:
    issued = observers.invite(Store.open(served.store), "31")
    browser.get(f"{served.url}/o/#{issued.token}")
    WebDriverWait(browser, 20).until(lambda d: d.find_element(By.ID, "app").is_displayed())
    browser.find_element(By.CSS_SELECTOR, f"[data-lang='{language}']").click()
    assert "#" not in browser.current_url  # the token left the address bar
    return issued.token


def _add(browser: webdriver.Chrome, *paths: Path) -> None:
    field = browser.find_element(By.ID, "gallery")
    browser.execute_script("arguments[0].hidden = false;", field)
    field.send_keys("\n".join(str(p) for p in paths))
    browser.execute_script("document.getElementById('gallery').hidden = true;")


def _queue(browser: webdriver.Chrome) -> list[dict]:
    """The queue as shown, read in one go (the list is redrawn as uploads progress)."""
    return browser.execute_script(
        "return Array.from(document.querySelectorAll('#queue li')).map(li => ({"
        "status: li.dataset.status, sha256: li.dataset.sha256,"
        "progress: li.querySelector('progress') ? li.querySelector('progress').value : null,"
        "receipt: li.querySelector('a.receipt') ? li.querySelector('a.receipt').download : null"
        "}))"
    )


def _states(browser: webdriver.Chrome) -> list[str]:
    return [q["status"] for q in _queue(browser)]


def _wait_states(browser: webdriver.Chrome, n: int, state: str, timeout: float = 90) -> None:
    WebDriverWait(browser, timeout, poll_frequency=0.25).until(
        lambda d: _states(d).count(state) == n, message=f"states: {_states(browser)}"
    )


def _offline(browser: webdriver.Chrome, offline: bool, upload_bps: int = -1) -> None:
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd(
        "Network.emulateNetworkConditions",
        {
            "offline": offline,
            "latency": 0,
            "downloadThroughput": -1,
            "uploadThroughput": upload_bps,
        },
    )


def _web_entries(store: Path) -> list[dict]:
    s = Store.open(store)
    s.index.catch_up()
    return [
        e for e in s.index.entries_by_event("ingest") if e.get("channel", "").startswith("web:")
    ]


def test_three_photos_and_a_video_are_kept_hashed_sent_and_receipted(served, browser, tmp_path):
    _open(browser, served, "kk")
    files = [
        make_photo(tmp_path / f"хаттама-{i}.jpg", colour, (640, 480))
        for i, colour in enumerate([(200, 30, 30), (30, 200, 30), (30, 30, 200)])
    ]
    video = tmp_path / "санау.mp4"
    video.write_bytes(sample_video(2.0))
    files.append(video)
    before = len(_web_entries(served.store))
    _add(browser, *files)
    _wait_states(browser, 4, "receipted")
    shown = {
        li.get_attribute("data-sha256")
        for li in browser.find_elements(By.CSS_SELECTOR, "#queue li")
    }
    assert shown == {hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    entries = _web_entries(served.store)[before:]
    assert {e["item"]["sha256"] for e in entries} == shown
    assert {e["precinct"] for e in entries} == {"31"}
    assert any(e["item"]["media_type"].startswith("video/") for e in entries)
    # The receipt each one keeps is the store's own.
    assert all((q["receipt"] or "").endswith(".json") for q in _queue(browser))
    text = browser.find_element(By.TAG_NAME, "body").text
    assert "Қабылданды" in text  # Kazakh words, in Kazakh letters
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / "phone-receipted.png"))


def test_a_cut_upload_resumes_from_its_offset_and_the_queue_survives_a_reload(
    served, browser, tmp_path
):
    _open(browser, served, "ru")
    big = tmp_path / "видео-нарушения.mp4"
    big.write_bytes(os.urandom(5 * 1024 * 1024))
    log_start = served.log.stat().st_size
    _offline(browser, False, upload_bps=600 * 1024)  # a slow uplink: about 9 s for 5 MB
    _add(browser, big)
    WebDriverWait(browser, 30, poll_frequency=0.1).until(
        lambda d: any((q["progress"] or 0) >= 30 for q in _queue(d))
    )
    _offline(browser, True)  # the network is cut mid-upload
    photo = make_photo(tmp_path / "протокол.jpg", (90, 90, 10), (320, 240))
    _add(browser, photo)  # chosen while offline: it waits on the phone
    WebDriverWait(browser, 20).until(lambda d: len(_states(d)) == 2)
    browser.save_screenshot(str(SCREENSHOTS / "phone-offline.png"))
    browser.refresh()  # the page is reloaded mid-queue: the queue is in IndexedDB
    WebDriverWait(browser, 20).until(lambda d: len(_states(d)) == 2)
    assert "receipted" not in _states(browser)
    _offline(browser, False)
    _wait_states(browser, 2, "receipted", timeout=120)
    requests = [
        json.loads(line)
        for line in served.log.read_bytes()[log_start:].decode().splitlines()
        if line.startswith("{")
    ]
    offsets = [r["offset"] for r in requests if r["method"] == "PATCH" and r["status"] == 204]
    # Two files, each started once at 0 (the photo takes one PATCH); every MiB of the big one
    # was sent once: after the cut it went on from its offset, never from 0 again.
    mib = 1024 * 1024
    assert sorted(offsets) == [0, 0, mib, 2 * mib, 3 * mib, 4 * mib], offsets
    # After the cut the phone asked the server where the upload stood (tus HEAD) and resumed.
    methods = [r["method"] for r in requests]
    assert "HEAD" in methods[methods.index("PATCH") :], methods
    sha = hashlib.sha256(big.read_bytes()).hexdigest()
    assert sha in {e["item"]["sha256"] for e in _web_entries(served.store)}
    assert dalel_subprocess("--store", served.store, "audit").returncode == 0


def test_a_withdrawn_link_says_so_plainly(served, browser):
    token = _open(browser, served, "en")
    s = Store.open(served.store)
    inv = observers.authenticate(s, token)
    assert inv is not None
    observers.revoke(s, inv.id)
    browser.refresh()
    WebDriverWait(browser, 20).until(
        lambda d: "no longer works" in d.find_element(By.ID, "nolink").text
    )


def test_the_iin_is_given_once_and_a_receipt_comes_with_its_qr_code(served, browser, tmp_path):
    import base64

    import cv2
    import numpy as np

    from evidence.content import privacy
    from tests.conftest import VALID_IIN

    _open(browser, served, "kk")
    WebDriverWait(browser, 20).until(lambda d: d.find_element(By.ID, "iin-box").is_displayed())
    browser.find_element(By.CSS_SELECTOR, "#iin-box summary").click()
    field = browser.find_element(By.ID, "iin")
    typo = VALID_IIN[:-1] + str((int(VALID_IIN[-1]) + 1) % 10)
    field.send_keys(typo)
    browser.find_element(By.CSS_SELECTOR, "#iin-form button").click()
    message = browser.find_element(By.ID, "iin-msg")
    assert message.get_attribute("data-key") == "iin.bad" and "ЖСН" in message.text
    field.clear()
    field.send_keys(VALID_IIN)
    browser.find_element(By.CSS_SELECTOR, "#iin-form button").click()
    made = privacy.pseudonym(Store.open(served.store).secret, VALID_IIN)
    WebDriverWait(browser, 20).until(lambda d: made in d.find_element(By.ID, "iin-msg").text)
    assert not browser.find_element(By.ID, "iin-box").is_displayed()
    kept = browser.execute_script("return JSON.stringify(localStorage)")
    assert VALID_IIN not in kept and made in kept  # the phone keeps only the pseudonym

    photo = make_photo(tmp_path / "хаттама.jpg", (120, 40, 160), (480, 360))
    _add(browser, photo)
    _wait_states(browser, 1, "receipted")
    sha = hashlib.sha256(photo.read_bytes()).hexdigest()
    entry = next(e for e in _web_entries(served.store) if e["item"]["sha256"] == sha)
    assert entry["actor"]["id"] == made
    WebDriverWait(browser, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#queue img.qr"))
    browser.find_element(By.CSS_SELECTOR, "#queue details summary").click()
    browser.execute_script("document.querySelector('#queue img.qr').scrollIntoView({block: 'end'})")
    browser.save_screenshot(str(SCREENSHOTS / "phone-qr.png"))
    png = browser.execute_async_script(  # the QR image the phone keeps in IndexedDB
        "const done = arguments[0];"
        "const req = indexedDB.open('dalel', 1);"
        "req.onsuccess = () => {"
        " const all = req.result.transaction('queue').objectStore('queue').getAll();"
        " all.onsuccess = () => {"
        "  const reader = new FileReader();"
        "  reader.onload = () => done(reader.result.split(',')[1]);"
        "  reader.readAsDataURL(all.result.find(r => r.qr).qr);"
        " };"
        "};"
    )
    image = cv2.imdecode(np.frombuffer(base64.b64decode(png), np.uint8), cv2.IMREAD_COLOR)
    image = cv2.resize(image, None, fx=3, fy=3, interpolation=cv2.INTER_NEAREST)
    link, _, _ = cv2.QRCodeDetectorAruco().detectAndDecode(image)
    assert "/verify#r=" in link
    # The code opens the check page (here on the test server), which checks the receipt.
    browser.get(served.url + "/verify#r=" + link.split("#r=", 1)[1])
    WebDriverWait(browser, 30).until(
        lambda d: d.find_element(By.ID, "bottom").get_attribute("data-ok") == "true"
    )

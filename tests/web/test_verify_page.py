"""The receipt-check page in a real browser (Debian's Chromium, headless, phone viewport):
served at /verify and written whole by `dalel receipt page`. A good receipt with its photo
is all green (with the log's growth since, by a consistency proof); every tamper case names
the same failures as `dalel receipt verify`; a receipt's QR code opens the page and checks."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from evidence.core import receipts
from evidence.core.keys import PublicKey
from evidence.provision import init_store
from evidence.storage.store import Store
from testing.receipt_cases import cases
from tests.conftest import OTHER_IIN, VALID_IIN, dalel_subprocess, make_photo
from tests.web.test_phone import SCREENSHOTS, browser  # noqa: F401  (the fixture)
from tests.web.test_server import Server
from web import verifypage

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[Server]:
    """A store with three receipted photos in two batches (the first batch's receipts name a
    checkpoint the log has grown past), served."""
    tmp = tmp_path_factory.mktemp("verify")
    store, inbox = tmp / "store", tmp / "inbox"
    inbox.mkdir()
    assert dalel_subprocess("--store", store, "init", "--org", "Coalition").returncode == 0
    a = make_photo(inbox / "protocol-1.jpg", (200, 30, 30), (320, 240))
    b = make_photo(inbox / "protocol-2.jpg", (30, 200, 30), (320, 240))
    c = make_photo(inbox / "act.jpg", (30, 30, 200), (320, 240))
    for files, iin in (([a, b], VALID_IIN), ([c], OTHER_IIN)):
        p = dalel_subprocess(
            "--store", store, "ingest", *files, "--observer", iin, "--precinct", "101"
        )
        assert p.returncode == 0, p.stderr
    server = Server(store).start()
    yield server
    server.stop()


def _good(store: Path) -> tuple[dict, Path]:
    p = sorted((store / "receipts").glob("*.json"))[0]
    receipt = json.loads(p.read_text())
    return receipt, store.parent / "inbox" / receipt["entry"]["name"]


def _check(driver, receipt: dict | str | None, photo: Path | None = None) -> dict:
    """Give the page a receipt (pasted) and maybe a photo, press Check, read what it shows."""
    driver.execute_script(
        "document.getElementById('receipt-text').value = arguments[0];"
        "document.getElementById('result').hidden = true;"
        "document.getElementById('bottom').removeAttribute('data-ok');",
        receipt if isinstance(receipt, str) or receipt is None else json.dumps(receipt),
    )
    field = driver.find_element(By.ID, "photo")
    driver.execute_script("arguments[0].value = '';", field)
    if photo is not None:
        field.send_keys(str(photo))
    driver.find_element(By.ID, "check").click()
    return _result(driver)


def _result(driver) -> dict:
    WebDriverWait(driver, 30).until(
        lambda d: d.find_element(By.ID, "bottom").get_attribute("data-ok") is not None
    )
    return driver.execute_script(
        "return {ok: document.getElementById('bottom').dataset.ok === 'true',"
        " bottom: document.getElementById('bottom').textContent,"
        " qr: !document.getElementById('qr-note').hidden,"
        " checks: Array.from(document.querySelectorAll('#checks li')).map(li => ["
        "  li.dataset.check, li.dataset.status, li.dataset.reason || null, li.textContent])}"
    )


def _lang(driver, lang: str) -> None:
    driver.find_element(By.CSS_SELECTOR, f"[data-lang='{lang}']").click()


def test_a_good_receipt_and_its_photo_are_all_green(served, browser):  # noqa: F811
    receipt, photo = _good(served.store)
    browser.get(served.url + "/verify")
    _lang(browser, "en")
    key = Store.open(served.store).public_key()
    shown = browser.find_element(By.ID, "key-text").text
    assert shown == key.verifier()
    assert browser.find_element(By.ID, "key-fp").text == verifypage.fingerprint(key)
    got = _check(browser, receipt, photo)
    assert got["ok"], got
    status = {c[0]: c[1] for c in got["checks"]}
    assert status == {
        "key": "PASSED",
        "entry-signature": "PASSED",
        "entry-copy": "PASSED",
        "checkpoint-signature": "PASSED",
        "inclusion": "PASSED",
        "tsa-root": "WARNING",
        "timestamp": "PASSED",
        "photo": "PASSED",
        "consistency": "PASSED",
    }
    consistency = next(c for c in got["checks"] if c[0] == "consistency")
    grown = re.search(r"checkpoint of (\d+) entries extends the receipt's of (\d+)", consistency[3])
    assert grown and int(grown[1]) > int(grown[2]), consistency  # the log grew since
    browser.save_screenshot(str(SCREENSHOTS / "verify-good.png"))

    # Another photo than the receipted one is named.
    other = make_photo(served.store.parent / "other.jpg", (1, 2, 3), (64, 64))
    got = _check(browser, receipt, other)
    assert not got["ok"]
    assert ["photo", "FAILED", "HASH_MISMATCH"] == got["checks"][-2][:3]


def test_every_tampered_receipt_names_what_the_cli_names(served, browser, tmp_path):  # noqa: F811
    other = tmp_path / "other"
    init_store(other, org="Other")
    browser.get(served.url + "/verify")
    _lang(browser, "kk")
    for case in cases(served.store, Store.open(other).public_key().verifier()):
        browser.execute_script(
            "document.getElementById('pin').value = arguments[0];"
            "document.getElementById('pin').dispatchEvent(new Event('input'));",
            case.pinned or "",
        )
        got = _check(browser, case.receipt)
        pinned = PublicKey.from_verifier(case.pinned) if case.pinned else None
        py = receipts.verify(case.receipt, pinned)
        want = [[c.id, c.status.value, c.reason.value if c.reason else None] for c in py.checks]
        assert [c[:3] for c in got["checks"][: len(want)]] == want, case.name
        extra = got["checks"][len(want) :]
        assert [c[0] for c in extra] in ([], ["consistency"]), case.name
        if case.name == "item-in-line":
            browser.save_screenshot(str(SCREENSHOTS / "verify-tampered.png"))
            text = " ".join(c[3] for c in got["checks"])
            assert "ӨТПЕДІ" in got["bottom"] and "SIGNATURE_INVALID" in text
            assert "жазба қол қойылғаннан кейін өзгертілген" in text  # named in Kazakh
    # Not JSON, and nothing given: said plainly, nothing checked.
    assert not _check(browser, "{not json")["ok"]
    assert "not JSON" in browser.find_element(By.ID, "bottom").text


def test_the_one_file_page_works_offline_and_asks_the_log_when_online(served, browser, tmp_path):  # noqa: F811
    receipt, photo = _good(served.store)
    page = tmp_path / "check.html"
    p = dalel_subprocess(
        "--store", served.store, "receipt", "page", page, "--log-url", served.url, "--json"
    )
    assert p.returncode == 0, p.stderr
    info = json.loads(p.stdout)
    assert info["key"] == Store.open(served.store).public_key().verifier()
    html = page.read_text()
    assert "<script src" not in html and "<link" not in html  # one file: nothing to fetch
    assert "Content-Security-Policy" in html
    browser.get(page.as_uri())
    _lang(browser, "ru")
    got = _check(browser, receipt, photo)
    assert got["ok"], got
    assert ("consistency", "PASSED") in {(c[0], c[1]) for c in got["checks"]}
    assert "ПРОЙДЕНО" in got["checks"][0][3]
    # The page is not written over; without a log address it checks offline only.
    assert dalel_subprocess("--store", served.store, "receipt", "page", page).returncode == 2
    offline = tmp_path / "offline.html"
    key = served.store / "public" / "log.pub"
    p = dalel_subprocess("receipt", "page", offline, "--key", key, "--log-url", "")
    assert p.returncode == 0, p.stderr
    browser.get(offline.as_uri())
    got = _check(browser, receipt)
    assert got["ok"] and "consistency" not in {c[0] for c in got["checks"]}
    tampered = json.loads(json.dumps(receipt))
    tampered["inclusion_proof"][0] = "A" * 43 + "="
    got = _check(browser, tampered)
    assert not got["ok"] and ["inclusion", "FAILED", "PROOF_INVALID"] in [
        c[:3] for c in got["checks"]
    ]


def test_a_receipts_qr_code_opens_the_page_and_checks(served, browser):  # noqa: F811
    receipt, _ = _good(served.store)
    png = verifypage.qr_png(verifypage.qr_link(served.url, receipt))
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    image = cv2.resize(image, None, fx=3, fy=3, interpolation=cv2.INTER_NEAREST)
    link, _, _ = cv2.QRCodeDetectorAruco().detectAndDecode(image)
    assert link.startswith(served.url + "/verify#r=")
    browser.get(link)
    got = _result(browser)
    assert got["ok"] and got["qr"], got
    status = {c[0]: (c[1], c[2]) for c in got["checks"]}
    assert status["timestamp"] == ("WARNING", "NO_TIMESTAMP")  # the file carries it
    assert status["inclusion"] == ("PASSED", None)
    assert status["consistency"] == ("PASSED", None)


def test_the_page_and_the_public_log_as_served(served):
    page = httpx.get(served.url + "/verify")
    assert (
        page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    )
    assert '<script src="/verify/page.js">' in page.text and "<script>" not in page.text
    script = httpx.get(served.url + "/verify/page.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert "__dalelModules" in script.text  # one classic script: no module left to load
    assert not re.search(r"^\s*(import|export)\s.*[\"']\.{1,2}/", script.text, re.M)
    for path in ("/log/checkpoint", "/log/key", "/log/proof/consistency?from=2&to=3"):
        r = httpx.get(served.url + path)
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "*"


def test_the_page_checks_a_receipt_against_the_log_published_as_tiles(served, browser, tmp_path):  # noqa: F811
    """`receipt page --tiles-url`: the page reads the checkpoint and the tiles from a plain
    static server (as a CDN serves `dalel log tiles`), makes the consistency proof from them
    in the browser, and refuses a changed tile."""
    import functools
    import http.server
    import threading

    out = tmp_path / "www" / "log"
    p = dalel_subprocess("--store", served.store, "log", "tiles", "--out", out)
    assert p.returncode == 0, p.stderr

    class Cors(http.server.SimpleHTTPRequestHandler):
        def end_headers(self) -> None:
            self.send_header("Access-Control-Allow-Origin", "*")
            super().end_headers()

        def log_message(self, *args: object) -> None:
            pass

    cdn = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Cors, directory=str(tmp_path / "www"))
    )
    threading.Thread(target=cdn.serve_forever, daemon=True).start()
    try:
        page = tmp_path / "tiles.html"
        url = f"http://127.0.0.1:{cdn.server_address[1]}/log"
        key = served.store / "public" / "log.pub"
        p = dalel_subprocess("receipt", "page", page, "--key", key, "--log-url", "",
                             "--tiles-url", url)  # fmt: skip
        assert p.returncode == 0, p.stderr
        receipt, _ = _good(served.store)  # its checkpoint: one the log has grown past
        browser.get(page.as_uri())
        got = _check(browser, receipt)
        assert got["ok"], got
        assert ("consistency", "PASSED") in {(c[0], c[1]) for c in got["checks"]}
        # the newest entry's hash changed (the proof to the latest checkpoint holds it), in a
        # copy served at another address: a full tile never changes, so the browser may keep
        # the one it fetched (as any client of a CDN may)
        tampered = tmp_path / "www" / "tampered"
        shutil.copytree(out, tampered)
        (leaf_tile,) = [p for p in (tampered / "tile" / "0").rglob("*") if p.is_file()]
        raw = bytearray(leaf_tile.read_bytes())
        raw[-1] ^= 1
        leaf_tile.write_bytes(bytes(raw))
        bad_page = tmp_path / "tampered.html"
        p = dalel_subprocess("receipt", "page", bad_page, "--key", key, "--log-url", "",
                             "--tiles-url", url.removesuffix("/log") + "/tampered")  # fmt: skip
        assert p.returncode == 0, p.stderr
        browser.get(bad_page.as_uri())
        got = _check(browser, receipt)
        assert not got["ok"]
        assert ["consistency", "FAILED", "CONSISTENCY_INVALID"] in [c[:3] for c in got["checks"]]
    finally:
        cdn.shutdown()

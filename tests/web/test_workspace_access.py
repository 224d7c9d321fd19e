"""The workspace's access table, walked: every route with every role, and with no session.

Without a session an API route answers 401 and a page redirects to the sign-in page; a role
the table does not name gets 403; a role it names is let through (whatever the handler then
answers, it is never 401, 403 or a server error). Changes need the session's CSRF token.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from app import users
from evidence.storage.store import Store
from web.app import create_app
from web.workspace import core
from web.workspace.access import ACCESS, PUBLIC

ROLES: list[users.Role | None] = [None, *users.Role]


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[TestClient, Store, dict[str, str]]]:
    from tests.conftest import dalel_subprocess

    root = tmp_path_factory.mktemp("access") / "store"
    assert dalel_subprocess("--store", root, "init", "--org", "Coalition").returncode == 0
    store = Store.open(root)
    passwords = {r.value: users.add(store, f"user {r.value}", r.value).password for r in users.Role}
    with TestClient(create_app(store, batch_every=60), base_url="http://127.0.0.1") as client:
        yield client, store, passwords


def _routes(client: TestClient) -> dict[str, Route]:
    return {
        r.name: r for r in client.app.router.routes if isinstance(r, Route) and r.name in ACCESS
    }  # type: ignore[attr-defined]


def _fill(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "0" * 64, path)


def _client_as(
    served: tuple[TestClient, Store, dict[str, str]], role: users.Role | None
) -> tuple[TestClient, str]:
    client, _, passwords = served
    client.cookies.clear()
    if role is None:
        return client, ""
    r = client.post(
        "/api/session", json={"name": f"user {role.value}", "password": passwords[role.value]}
    )
    assert r.status_code == 200, r.text
    return client, r.json()["csrf"]


def test_every_route_of_the_table_is_served_and_every_served_route_is_in_it(served) -> None:
    client = served[0]
    names = set(_routes(client))
    assert names == set(ACCESS), f"in the table, not served: {sorted(set(ACCESS) - names)}"
    for route in client.app.router.routes:  # type: ignore[attr-defined]
        path = getattr(route, "path", "")
        if path.startswith(("/w/", "/api/session", "/api/review", "/api/cases", "/api/results")):
            assert route.name in ACCESS, path


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.value if r else "none")
def test_each_role_gets_what_the_table_says(served, role) -> None:
    client, csrf = _client_as(served, role)
    for name, route in sorted(_routes(client).items()):
        (method,) = route.methods - {"HEAD"} if route.methods else {"GET"}
        url = _fill(route.path)
        headers = {"X-CSRF-Token": csrf} if csrf else {}
        if name == "api.session.end":
            continue  # would end this session; walked in its own test
        r = client.request(
            method,
            url,
            headers=headers,
            json={} if method == "POST" else None,
            follow_redirects=False,
        )
        roles = ACCESS[name]
        where = f"{role.value if role else 'no session'} {method} {url} ({name})"
        assert r.status_code < 500, f"{where}: {r.status_code} {r.text[:300]}"
        if roles == PUBLIC:
            assert r.status_code not in (401, 403), where
        elif role is None:
            if name.startswith("page."):
                assert r.status_code == 303, where
                assert r.headers["location"].startswith("/w/sign-in?next="), where
            else:
                assert r.status_code == 401 and r.json()["error"] == "SIGN_IN_REQUIRED", where
        elif role in roles:
            assert r.status_code not in (401, 403), f"{where}: {r.status_code} {r.text[:200]}"
        else:
            assert r.status_code == 403, f"{where}: {r.status_code}"
            if not name.startswith("page."):
                assert r.json()["error"] == "FORBIDDEN", where
            else:
                assert core.translate("forbidden.title", "ru") in r.text


def test_changes_need_the_sessions_csrf_token(served) -> None:
    client, csrf = _client_as(served, users.Role.COORDINATOR)
    for name, route in sorted(_routes(client).items()):
        (method,) = route.methods - {"HEAD"} if route.methods else {"GET"}
        if method == "GET" or ACCESS[name] == PUBLIC:
            continue
        for sent in ({}, {"X-CSRF-Token": "forged"}, {"X-CSRF-Token": csrf + "x"}):
            r = client.request(method, _fill(route.path), headers=sent, json={})
            assert r.status_code == 403 and r.json()["error"] == "CSRF", (name, sent)
    assert client.get("/api/session").status_code == 200  # still signed in


def test_sign_out_ends_the_session_and_sign_in_takes_json_only(served) -> None:
    client, csrf = _client_as(served, users.Role.REVIEWER)
    assert client.get("/api/session").json()["role"] == "reviewer"
    r = client.delete("/api/session", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200 and "dalel_ws" in r.headers["set-cookie"]
    assert client.get("/api/session").status_code == 401
    # a form posted from another site cannot sign anyone in
    form = client.post("/api/session", data={"name": "user reviewer", "password": "x"})
    assert form.status_code == 415 and form.json()["error"] == "JSON_REQUIRED"
    assert client.post("/api/session", json=["x"]).status_code == 400
    wrong = client.post("/api/session", json={"name": "user reviewer", "password": "nope"})
    assert wrong.status_code == 401 and wrong.json()["error"] == "WRONG_PASSWORD"
    assert "Traceback" not in wrong.text


def test_the_session_cookie_is_httponly_samesite_and_secure_beyond_loopback(tmp_path: Path) -> None:
    from tests.conftest import dalel_subprocess

    root = tmp_path / "store"
    assert dalel_subprocess("--store", root, "init", "--org", "Coalition").returncode == 0
    store = Store.open(root)
    pw = users.add(store, "anna", "lawyer").password
    with TestClient(create_app(store, batch_every=60), base_url="http://127.0.0.1") as c:
        cookie = c.post("/api/session", json={"name": "anna", "password": pw}).headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
    with TestClient(create_app(store, batch_every=60), base_url="https://dalel.example") as c:
        cookie = c.post("/api/session", json={"name": "anna", "password": pw}).headers["set-cookie"]
        assert "Secure" in cookie and "HttpOnly" in cookie
        assert c.get("/api/session").status_code == 200
    with TestClient(create_app(store, batch_every=60), base_url="http://dalel.example") as c:
        r = c.post("/api/session", json={"name": "anna", "password": pw})
        assert r.status_code == 400 and r.json()["error"] == "HTTPS_REQUIRED"


def test_every_word_is_in_russian_kazakh_and_english() -> None:
    texts = core.messages()
    assert texts
    for key, by_lang in texts.items():
        assert set(by_lang) == set(core.LANGUAGES), key
        assert all(isinstance(v, str) and v.strip() for v in by_lang.values()), key
    used: set[str] = set()
    for path in [*core.TEMPLATES.glob("*.html"), *Path(core.HERE).glob("*.py")]:
        used |= set(re.findall(r"""\bt\(\s*["']([\w.]*\w)["']""", path.read_text("utf-8")))
    missing = {k for k in used if k not in texts}
    assert not missing, f"words without a translation: {sorted(missing)}"


def test_the_readme_shows_the_access_table_of_the_code() -> None:
    from tests.conftest import ROOT
    from web.workspace import access_table

    assert access_table() in (ROOT / "README.md").read_text(encoding="utf-8")


def test_a_user_is_led_to_choose_their_own_password_and_then_to_their_section(served) -> None:
    client, store, _ = served
    given = users.add(store, "Жаңа заңгер", "lawyer").password
    client.cookies.clear()
    r = client.post("/api/session", json={"name": "Жаңа заңгер", "password": given})
    assert r.status_code == 200 and r.json()["given_password"] is True
    assert r.json()["home"] == "/w/password"
    h = {"X-CSRF-Token": r.json()["csrf"]}
    assert client.get("/api/session").json()["given_password"] is True
    assert client.get("/w/", follow_redirects=False).headers["location"] == "/w/password"
    banner = core.translate("password.banner", "kk")
    assert banner in client.get("/w/deadlines?lang=kk").text  # every page says so
    page = client.get("/w/password?lang=kk")
    assert page.status_code == 200 and core.translate("password.title", "kk") in page.text
    assert banner not in page.text
    # the API still answers a script that has not changed it (the public interface)
    assert client.get("/api/deadlines").status_code == 200

    wrong = client.post("/api/password", json={"current": "nope", "new": "x" * 20}, headers=h)
    assert wrong.status_code == 403 and wrong.json()["error"] == "WRONG_PASSWORD"
    weak = client.post(
        "/api/password", json={"current": given, "new": "short"},
        headers={**h, "Accept-Language": "kk"},
    )  # fmt: skip
    assert weak.status_code == 400 and weak.json()["error"] == "WEAK_PASSWORD"
    assert weak.json()["message"] == core.translate("error.weak_password", "kk", n=12)
    bad = client.post("/api/password", json={"current": given}, headers=h)
    assert bad.status_code == 400 and bad.json()["error"] == "BAD_REQUEST"
    assert "Traceback" not in bad.text + weak.text + wrong.text

    ok = client.post("/api/password", json={"current": given, "new": "Орал 125 учаске"}, headers=h)
    assert ok.status_code == 200 and ok.json() == {"changed": True, "home": "/w/deadlines"}
    assert client.get("/api/session").json()["given_password"] is False
    assert banner not in client.get("/w/deadlines?lang=kk").text
    assert client.get("/w/", follow_redirects=False).headers["location"] == "/w/deadlines"
    client.cookies.clear()
    old = client.post("/api/session", json={"name": "Жаңа заңгер", "password": given})
    assert old.status_code == 401
    new = client.post("/api/session", json={"name": "Жаңа заңгер", "password": "Орал 125 учаске"})
    assert new.status_code == 200 and new.json()["home"] == "/w/deadlines"

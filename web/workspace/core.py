"""The workspace's frame: who is signed in, what they may do, their language, the pages.

Each part of the workspace (``review``, ``cases``, ``results``) declares its routes as
:class:`Endpoint` values named in :data:`web.workspace.access.ACCESS`; :func:`routes` wraps
every handler with the same checks, in this order:

1. the session (the ``dalel_ws`` cookie): none, and the route is not public: 401 with
   ``SIGN_IN_REQUIRED`` (API) or a redirect to the sign-in page (pages);
2. the role: 403 with ``FORBIDDEN`` (API) or a page saying so;
3. CSRF: every POST and DELETE of a signed-in route carries the session's token as
   ``X-CSRF-Token`` (403 ``CSRF`` otherwise); the public sign-in takes JSON only (a form
   from another site cannot send it).

Handlers get a :class:`Context` (the store, the user, the language, a translator) and run
blocking work with :meth:`Context.run` (one at a time per store: the index is shared).
"""

from __future__ import annotations

import hmac
import json
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import anyio
import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from app import users
from app.users import Role, Session, SignInRefused
from evidence.storage.store import Store
from web.workspace.access import ACCESS, allowed

HERE = Path(__file__).parent
STATIC = HERE.parent / "static" / "ws"
TEMPLATES = HERE.parent / "templates" / "ws"
I18N = HERE / "i18n"
COOKIE = "dalel_ws"
LANG_COOKIE = "dalel_lang"
LANGUAGES = ("ru", "kk", "en")
DEFAULT_LANGUAGE = "ru"
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
T = TypeVar("T")


class Refusal(Exception):
    """An answer other than success from a workspace handler: status, named reason, message
    key (translated for the user) or plain message."""

    def __init__(self, status: int, reason: str, message: str = "") -> None:
        super().__init__(message or reason)
        self.status = status
        self.reason = reason
        self.message = message


@lru_cache(maxsize=1)
def messages() -> dict[str, dict[str, str]]:
    """Every word the workspace shows, by key then language (``i18n/*.json``: one file per
    part of the workspace, each key with ``ru``, ``kk`` and ``en``)."""
    out: dict[str, dict[str, str]] = {}
    for path in sorted(I18N.glob("*.json")):
        for key, texts in json.loads(path.read_text(encoding="utf-8")).items():
            if key in out:
                raise ValueError(f"{path.name}: {key!r} is defined twice")
            out[key] = texts
    return out


def translate(key: str, lang: str, **values: Any) -> str:
    """The text of ``key`` in ``lang`` with ``{name}`` filled in (the key itself if unknown,
    so a missing text is visible, and a test finds it)."""
    text = messages().get(key, {}).get(lang) or key
    return text.format(**values) if values else text


def language(request: Request) -> str:
    """``?lang=`` when given, else the language cookie, else the browser's best of ru/kk/en."""
    asked = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE, "")
    if asked in LANGUAGES:
        return asked
    for part in request.headers.get("accept-language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return DEFAULT_LANGUAGE


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    return env


@dataclass
class Context:
    """What a handler works with."""

    request: Request
    store: Store
    lock: threading.Lock
    session: Session | None
    lang: str
    name: str
    """The route's name in the access table."""

    @property
    def user(self) -> users.User:
        """The signed-in user (handlers of signed-in routes only)."""
        assert self.session is not None
        return self.session.user

    def t(self, key: str, **values: Any) -> str:
        """``key`` in the user's language."""
        return translate(key, self.lang, **values)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking work (the store, the index) in a worker thread, one at a time."""

        def locked() -> T:
            with self.lock:
                return fn(*args)

        return await anyio.to_thread.run_sync(locked)

    def page(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        """A page: ``template`` (extending ``base.html``) with the user, language, CSRF token,
        the navigation their role sees, and ``t``."""
        html = (
            _env()
            .get_template(template)
            .render(
                t=self.t,
                lang=self.lang,
                languages=LANGUAGES,
                user=self.session.user if self.session else None,
                csrf=self.session.csrf if self.session else "",
                nav=navigation(self.session.user.role if self.session else None),
                here=self.request.url.path,
                **values,
            )
        )
        response = HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})
        if self.request.query_params.get("lang") in LANGUAGES:
            response.set_cookie(
                LANG_COOKIE, self.lang, max_age=365 * 86400, samesite="strict", httponly=True
            )
        return response


NAV = (
    ("/w/review", "page.review", "nav.review"),
    ("/w/disagreements", "page.disagreements", "nav.disagreements"),
    ("/w/deadlines", "page.deadlines", "nav.deadlines"),
    ("/w/results", "page.results", "nav.results"),
    ("/w/signups", "page.signups", "nav.signups"),
    ("/w/coverage", "page.coverage", "nav.coverage"),
)
"""The workspace's sections, in the order the header shows them (each shown to the roles
that may open it)."""


def navigation(role: Role | None) -> list[tuple[str, str]]:
    """(path, text key) of each section ``role`` may open."""
    return [(path, key) for path, name, key in NAV if role is not None and allowed(name, role)]


Handler = Callable[[Context], Awaitable[Response]]


@dataclass(frozen=True)
class Endpoint:
    """One route of the workspace: its name in the access table, method, path, handler."""

    name: str
    method: str
    path: str
    handler: Handler

    @property
    def is_page(self) -> bool:
        """Pages answer a missing session with a redirect to sign in, not 401."""
        return self.name.startswith("page.")


def error(status: int, reason: str, message: str = "") -> JSONResponse:
    """An API error: ``{"error": REASON, "message": ...}``, never cached."""
    body: dict[str, Any] = {"error": reason}
    if message:
        body["message"] = message
    return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def _wrap(endpoint: Endpoint, store: Store, lock: threading.Lock) -> Callable[..., Any]:
    roles = ACCESS[endpoint.name]

    async def handle(request: Request) -> Response:
        lang = language(request)
        token = request.cookies.get(COOKIE, "")
        session = None
        if token:
            session = await anyio.to_thread.run_sync(users.session, store, token)
        ctx = Context(request, store, lock, session, lang, endpoint.name)
        if roles:
            if session is None:
                if endpoint.is_page:
                    nxt = quote(request.url.path, safe="/")
                    return RedirectResponse(f"/w/sign-in?next={nxt}", status_code=303)
                return error(401, "SIGN_IN_REQUIRED", translate("error.sign_in", lang))
            if not allowed(endpoint.name, session.user.role):
                if endpoint.is_page:
                    return ctx.page("forbidden.html", status=403)
                return error(403, "FORBIDDEN", translate("error.forbidden", lang))
            if request.method in ("POST", "DELETE", "PUT", "PATCH"):
                sent = request.headers.get("x-csrf-token", "")
                if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
                    return error(403, "CSRF", translate("error.csrf", lang))
        try:
            return await endpoint.handler(ctx)
        except Refusal as r:
            message = r.message
            if message and message in messages():
                message = translate(message, lang)
            return error(r.status, r.reason, message)

    return handle


def routes(store: Store, endpoints: list[Endpoint], lock: threading.Lock) -> list[Route | Mount]:
    """The Starlette routes of ``endpoints``, each behind the checks above, and the
    workspace's static files. Every endpoint must be in the access table, once (and every
    row of the table served: ``tests/web/test_workspace_access.py``)."""
    names = [e.name for e in endpoints]
    unknown = set(names) - set(ACCESS)
    if unknown or len(set(names)) != len(names):
        raise ValueError(f"routes not in the access table, or twice: {sorted(unknown)}")
    out: list[Route | Mount] = [
        Route(e.path, _wrap(e, store, lock), methods=[e.method], name=e.name) for e in endpoints
    ]
    out.append(Mount("/static/ws", StaticFiles(directory=STATIC)))
    return out


async def json_body(ctx: Context, limit: int = 64 * 1024) -> dict[str, Any]:
    """The request's JSON object; 400 ``BAD_REQUEST`` for anything else."""
    if "application/json" not in ctx.request.headers.get("content-type", ""):
        raise Refusal(415, "JSON_REQUIRED", "error.json_required")
    raw = await ctx.request.body()
    if len(raw) > limit:
        raise Refusal(413, "TOO_LARGE", "error.too_large")
    try:
        body = json.loads(raw)
    except ValueError:
        raise Refusal(400, "BAD_REQUEST", "error.bad_json") from None
    if not isinstance(body, dict):
        raise Refusal(400, "BAD_REQUEST", "error.bad_json")
    return body


# --- signing in and out ----------------------------------------------------------------
HOME = (
    (Role.REVIEWER, "/w/review"),
    (Role.LAWYER, "/w/deadlines"),
    (Role.COORDINATOR, "/w/deadlines"),
    (Role.AUDITOR, "/w/results"),
)


def _secure(request: Request) -> bool:
    """Secure cookies, unless the service is reached over plain HTTP on this machine (a
    browser will not send a Secure cookie over plain HTTP: behind the proxy, HTTPS)."""
    host = (request.url.hostname or "").lower()
    return request.url.scheme == "https" or host not in _LOOPBACK


async def sign_in_page(ctx: Context) -> Response:
    nxt = ctx.request.query_params.get("next", "")
    if not nxt.startswith("/w/") or "//" in nxt:
        nxt = ""
    return ctx.page("sign_in.html", next=nxt)


def _home(user: users.User) -> str:
    """Where a user lands: their section, or first the page to choose their own password."""
    return PASSWORD_PAGE if user.given_password else dict(HOME).get(user.role, "/w/results")


PASSWORD_PAGE = "/w/password"


async def home(ctx: Context) -> Response:
    return RedirectResponse(_home(ctx.user), status_code=303)


async def session_create(ctx: Context) -> Response:
    body = await json_body(ctx)
    name, password = body.get("name"), body.get("password")
    if not isinstance(name, str) or not isinstance(password, str):
        raise Refusal(400, "BAD_REQUEST", "error.name_password")
    if ctx.request.url.scheme != "https" and _secure(ctx.request):
        raise Refusal(400, "HTTPS_REQUIRED", "error.https_required")
    try:
        done = await ctx.run(users.sign_in, ctx.store, name, password)
    except SignInRefused as r:
        if r.reason == "LOCKED":
            return error(429, "LOCKED", ctx.t("error.locked", until=r.until or ""))
        return error(401, "WRONG_PASSWORD", ctx.t("error.wrong_password"))
    user = done.session.user
    response = JSONResponse(
        {
            "csrf": done.session.csrf,
            "name": user.name,
            "role": user.role.value,
            "home": _home(user),
            "given_password": user.given_password,
        },
        headers={"Cache-Control": "no-store"},
    )
    response.set_cookie(
        COOKIE,
        done.token,
        max_age=int(users.SESSION_MAX.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=_secure(ctx.request),
        path="/",
    )
    return response


async def session_show(ctx: Context) -> Response:
    s = ctx.session
    assert s is not None
    return JSONResponse(
        {
            "name": s.user.name,
            "role": s.user.role.value,
            "csrf": s.csrf,
            "expires": s.expires,
            "given_password": s.user.given_password,
        },
        headers={"Cache-Control": "no-store"},
    )


async def session_end(ctx: Context) -> Response:
    token = ctx.request.cookies.get(COOKIE, "")
    await ctx.run(users.sign_out, ctx.store, token)
    response = JSONResponse({"signed_out": True}, headers={"Cache-Control": "no-store"})
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


async def password_page(ctx: Context) -> Response:
    return ctx.page("password.html", min_length=users.MIN_PASSWORD)


async def password_change(ctx: Context) -> Response:
    body = await json_body(ctx)
    current, new = body.get("current"), body.get("new")
    if not isinstance(current, str) or not isinstance(new, str):
        raise Refusal(400, "BAD_REQUEST", "error.current_new")
    token = ctx.request.cookies.get(COOKIE, "")
    try:
        user = await ctx.run(users.change_password, ctx.store, token, current, new)
    except users.PasswordRefused as r:
        if r.reason == "WEAK_PASSWORD":
            return error(400, r.reason, ctx.t("error.weak_password", n=users.MIN_PASSWORD))
        if r.reason == "LOCKED":
            return error(429, r.reason, ctx.t("error.locked_now"))
        if r.reason == "SIGN_IN_REQUIRED":
            return error(401, r.reason, ctx.t("error.sign_in"))
        return error(403, r.reason, ctx.t("error.wrong_current"))
    return JSONResponse(
        {"changed": True, "home": _home(user)}, headers={"Cache-Control": "no-store"}
    )


ENDPOINTS = [
    Endpoint("page.sign_in", "GET", "/w/sign-in", sign_in_page),
    Endpoint("page.password", "GET", PASSWORD_PAGE, password_page),
    Endpoint("api.password", "POST", "/api/password", password_change),
    Endpoint("page.home", "GET", "/w/", home),
    Endpoint("api.session.create", "POST", "/api/session", session_create),
    Endpoint("api.session.show", "GET", "/api/session", session_show),
    Endpoint("api.session.end", "DELETE", "/api/session", session_end),
]

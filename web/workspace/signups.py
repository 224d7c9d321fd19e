"""Sign-ups in the browser: the organisation's public page (``/s/TOKEN``, no sign-in) where a
volunteer picks a precinct and a shift, and the coordinator's page (``/w/signups``) where each
is approved (an observer invite, its link and QR code shown once) or declined.

The public routes take hostile input: JSON only (``Content-Type: application/json``, which a
form from another site cannot send; there is no session, so no CSRF token), an ``Origin``
other than this server's refused, 4 KiB at most, every field checked by
:func:`app.signups.submit`, whose refusals are named (``{"error": REASON, "message": ...}``
in the volunteer's language). A wrong or old token is a plain 404 page.
"""

from __future__ import annotations

import base64
import threading
import time
from collections import deque
from typing import Any
from urllib.parse import urlsplit

from starlette.responses import JSONResponse, Response

from app import observers, registry, users
from app import signups as su
from web.workspace.core import Context, Endpoint, Refusal, json_body

SHOWN = 1000
"""Sign-ups the coordinator's page lists at most (the rest: narrow by precinct, or the JSON)."""
FOUND = 30
"""Precincts the public search answers with at most."""
MAX_BODY = 4096
FIELDS = frozenset({"precinct", "shift", "name", "contact", "iin"})
_STATUS = {
    su.Reason.NOT_FOUND: 404,
    su.Reason.ALREADY_DECIDED: 409,
    su.Reason.DUPLICATE: 409,
    su.Reason.CONTACT_LIMIT: 429,
    su.Reason.FULL: 429,
}
NO_STORE = {"Cache-Control": "no-store"}
PER_CLIENT = 10
"""Sign-ups taken from one client address per :data:`WINDOW` seconds: one person signs up
for a shift or two; a script filling the waiting list from one address is slowed down."""
WINDOW = 3600.0
_TRIES: dict[str, deque[float]] = {}
_TRIES_LOCK = threading.Lock()


def _recent(client: str, now: float) -> deque[float]:
    """``client``'s sign-ups taken in the last :data:`WINDOW` seconds (call under the lock).
    Memory stays bounded: addresses with nothing recent are forgotten when the table grows."""
    if len(_TRIES) > 50_000:
        for k in [k for k, q in _TRIES.items() if not q or now - q[-1] > WINDOW]:
            del _TRIES[k]
    seen = _TRIES.setdefault(client, deque())
    while seen and now - seen[0] > WINDOW:
        seen.popleft()
    return seen


LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
"""Addresses not held back: this machine itself (a proxy that forwards no address would
otherwise put every volunteer in one bucket; see the README's nginx block)."""


def _reserve(client: str, now: float | None = None) -> float | None:
    """Take one of ``client``'s :data:`PER_CLIENT` places of the last hour, in one step (two
    requests at once cannot both take the last one): the place's time, or None when none is
    left. :func:`_give_back` returns it when the sign-up is refused."""
    at = time.monotonic() if now is None else now
    with _TRIES_LOCK:
        seen = _recent(client, at)
        if len(seen) >= PER_CLIENT:
            return None
        seen.append(at)
        return at


def _give_back(client: str, at: float) -> None:
    with _TRIES_LOCK:
        seen = _TRIES.get(client)
        if seen is not None and at in seen:
            seen.remove(at)


def _too_many(client: str, now: float | None = None) -> bool:
    """Whether :data:`PER_CLIENT` sign-ups were taken from ``client`` in the last hour."""
    with _TRIES_LOCK:
        return len(_recent(client, time.monotonic() if now is None else now)) >= PER_CLIENT


def _refusal(r: su.SignupRefused) -> Refusal:
    return Refusal(_STATUS.get(r.reason, 400), r.reason.value, f"signup.error.{r.reason.value}")


def _registry(ctx: Context) -> registry.Registry | None:
    """The precinct registry as the log now says (an import made since is read)."""
    ctx.store.index.catch_up()
    return registry.current(ctx.store)


async def _token_ok(ctx: Context) -> bool:
    return await ctx.run(su.check_token, ctx.store, ctx.request.path_params.get("token", ""))


# --- the public side ---------------------------------------------------------------------------
async def public_page(ctx: Context) -> Response:
    if not await _token_ok(ctx):
        return ctx.page("signup_missing.html", status=404)
    has_registry = await ctx.run(lambda: _registry(ctx) is not None)
    return ctx.page(
        "signup.html",
        org=ctx.store.config.org,
        shifts=su.SHIFTS,
        has_registry=has_registry,
        ask_iin=await ctx.run(su.asks_iin, ctx.store),
        max_name=su.MAX_NAME,
        max_contact=su.MAX_CONTACT,
    )


def _search(ctx: Context, q: str) -> dict[str, Any]:
    reg = _registry(ctx)
    if reg is None:
        return {"registry": False, "precincts": [], "more": False}
    taken = su.approved_shifts(ctx.store)
    needle = " ".join(q.casefold().split())
    found = []
    for p in reg.precincts.values():
        if needle and not (
            p.number.casefold().startswith(needle)
            or needle in f"{p.region} {p.district} {p.address}".casefold()
        ):
            continue
        found.append(p)
        if len(found) > FOUND:
            break
    return {
        "registry": True,
        "precincts": [
            {
                "number": p.number,
                "region": p.region,
                "district": p.district,
                "address": p.address,
                "taken": [s for s in su.SHIFTS if s in taken.get(p.number, ())],
            }
            for p in found[:FOUND]
        ],
        "more": len(found) > FOUND,
    }


async def public_precincts(ctx: Context) -> Response:
    if not await _token_ok(ctx):
        raise Refusal(404, "NOT_FOUND", "signup.error.link")
    q = ctx.request.query_params.get("q", "")[:60]
    return JSONResponse(await ctx.run(_search, ctx, q), headers=NO_STORE)


def _same_origin(ctx: Context) -> bool:
    """No ``Origin`` (not a browser's cross-site request), or this server's own."""
    origin = ctx.request.headers.get("origin")
    if origin is None:
        return True
    sent = urlsplit(origin)
    public = urlsplit(observers.public_url(ctx.store))
    host = ctx.request.headers.get("host", "")
    return bool(sent.netloc) and sent.netloc in {host, public.netloc}


async def public_submit(ctx: Context) -> Response:
    if not await _token_ok(ctx):
        raise Refusal(404, "NOT_FOUND", "signup.error.link")
    if not _same_origin(ctx):
        raise Refusal(403, "BAD_ORIGIN", "signup.error.BAD_ORIGIN")
    kind = ctx.request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise Refusal(415, "JSON_REQUIRED", "error.json_required")
    body = await json_body(ctx, limit=MAX_BODY)
    if set(body) - FIELDS:
        raise Refusal(400, "BAD_REQUEST", "signup.error.fields")
    # behind the proxy, the address it forwards (X-Forwarded-For: uvicorn trusts loopback's)
    client = ctx.request.client.host if ctx.request.client else ""
    slot = None
    if client not in LOOPBACK:
        slot = _reserve(client)
        if slot is None:
            raise Refusal(429, "TOO_MANY", "signup.error.TOO_MANY")

    def take() -> su.Signup:
        reg = _registry(ctx)
        return su.submit(
            ctx.store,
            precinct=body.get("precinct"),
            shift=body.get("shift"),
            name=body.get("name"),
            contact=body.get("contact"),
            iin=body.get("iin"),
            known=set(reg.precincts) if reg is not None else None,
        )

    try:
        made = await ctx.run(take)
    except BaseException as e:  # refused input (or anything else) is not counted
        if slot is not None:
            _give_back(client, slot)
        if isinstance(e, su.SignupRefused):
            raise _refusal(e) from None
        raise
    return JSONResponse(
        {
            "signup": made.id,
            "precinct": made.precinct,
            "shift": made.shift,
            "status": made.status,
            "message": ctx.t("signup.done"),
        },
        status_code=201,
        headers=NO_STORE,
    )


# --- the coordinator's side --------------------------------------------------------------------
async def page(ctx: Context) -> Response:
    prefix = ctx.request.query_params.get("precinct", "").strip()[:16]

    def read() -> tuple[list[su.Signup], dict[str, int], su.Link, bool]:
        rows = su.signups(ctx.store, precinct=prefix)
        made = su.link(ctx.store, by=ctx.user.pseudonym)
        return rows, su.counts(ctx.store), made, su.asks_iin(ctx.store)

    rows, counted, made, ask = await ctx.run(read)
    return ctx.page(
        "signups.html",
        rows=rows[:SHOWN],
        more=max(0, len(rows) - SHOWN),
        counts=counted,
        link=made,
        ask_iin=ask,
        prefix=prefix,
    )


async def data(ctx: Context) -> Response:
    def read() -> dict[str, Any]:
        return {
            "counts": su.counts(ctx.store),
            "link": su.link(ctx.store, by=ctx.user.pseudonym).to_dict(),
            "ask_iin": su.asks_iin(ctx.store),
            "signups": [s.to_dict() for s in su.signups(ctx.store)],
        }

    return JSONResponse(await ctx.run(read), headers=NO_STORE)


def _qr(url: str) -> str:
    return "data:image/png;base64," + base64.b64encode(observers.qr_png(url)).decode()


async def approve(ctx: Context) -> Response:
    signup_id = ctx.request.path_params["signup_id"]
    try:
        done = await ctx.run(lambda: su.approve(ctx.store, signup_id, by=ctx.user.pseudonym))
    except su.SignupRefused as r:
        raise _refusal(r) from None
    body = done.to_dict()
    body["qr"] = await ctx.run(_qr, done.issued.url)
    return JSONResponse(body, headers=NO_STORE)


async def decline(ctx: Context) -> Response:
    signup_id = ctx.request.path_params["signup_id"]
    try:
        done = await ctx.run(lambda: su.decline(ctx.store, signup_id, by=ctx.user.pseudonym))
    except su.SignupRefused as r:
        raise _refusal(r) from None
    return JSONResponse({"signup": done.to_dict()}, headers=NO_STORE)


async def new_link(ctx: Context) -> Response:
    await json_body(ctx)
    made = await ctx.run(lambda: su.link(ctx.store, new=True, by=ctx.user.pseudonym))
    return JSONResponse(made.to_dict(), headers=NO_STORE)


async def settings(ctx: Context) -> Response:
    body = await json_body(ctx)
    ask = body.get("ask_iin")
    if not isinstance(ask, bool):
        raise Refusal(400, "BAD_REQUEST", "signup.error.setting")
    await ctx.run(
        lambda: users.set_setting(ctx.store, su.ASK_IIN, "on" if ask else "off", by=ctx.user)
    )
    return JSONResponse({"ask_iin": ask}, headers=NO_STORE)


ENDPOINTS = [
    Endpoint("page.signups", "GET", "/w/signups", page),
    Endpoint("api.signups", "GET", "/api/signups", data),
    Endpoint("api.signups.link", "POST", "/api/signups/link", new_link),
    Endpoint("api.signups.settings", "POST", "/api/signups/settings", settings),
    Endpoint("api.signups.approve", "POST", "/api/signups/{signup_id}/approve", approve),
    Endpoint("api.signups.decline", "POST", "/api/signups/{signup_id}/decline", decline),
    Endpoint("page.signup.public", "GET", "/s/{token}", public_page),
    Endpoint("api.signup.precincts", "GET", "/s/{token}/precincts", public_precincts),
    Endpoint("api.signup.submit", "POST", "/s/{token}", public_submit),
]

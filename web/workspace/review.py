"""Review by double entry in the browser (reviewers; coordinators settle disagreements).

``GET /api/review/next`` gives the next protocol for this reviewer (204 when none),
``POST /api/review/ITEM/FIELD`` ``{"value": N}`` records an entry and answers
``{"status": "waiting_second" | "confirmed" | "disagreement"}``; a coordinator lists
disagreements and settles them. Photos and crops are served to the roles that review or
build cases (:mod:`web.workspace.access`).
"""

from __future__ import annotations

import re
from typing import Any

from starlette.responses import JSONResponse, Response

from app import review, users
from web.workspace.core import Context, Endpoint, Refusal, json_body

_SHA = re.compile(r"[0-9a-f]{64}")
_KEY = re.compile(r"[a-z][a-z0-9_]{0,63}")


def _sha(value: str) -> str:
    if not _SHA.fullmatch(value):
        raise Refusal(404, "NOT_FOUND", "error.not_found")
    return value


def _key(value: str) -> str:
    if not _KEY.fullmatch(value):
        raise Refusal(404, "NOT_FOUND", "error.not_found")
    return value


def _nocache(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


async def page(ctx: Context) -> Response:
    return ctx.page("review.html")


async def next_protocol(ctx: Context) -> Response:
    found = await ctx.run(review.next_for, ctx.store, ctx.user.pseudonym, ctx.lang)
    if found is None:
        return Response(status_code=204, headers={"Cache-Control": "no-store"})
    found["waiting"] = await ctx.run(review.waiting, ctx.store, ctx.user.pseudonym)
    return _nocache(found)


async def _value(ctx: Context) -> Any:
    body = await json_body(ctx)
    if "value" not in body:
        raise Refusal(400, "BAD_VALUE", "review.error.value")
    return body["value"]


def _refused(r: review.ReviewRefused) -> Refusal:
    return Refusal(r.status, r.reason, f"review.error.{r.reason.lower()}")


async def enter(ctx: Context) -> Response:
    item = _sha(ctx.request.path_params["item"])
    key = _key(ctx.request.path_params["field"])
    value = await _value(ctx)
    try:
        status = await ctx.run(review.enter, ctx.store, item, key, value, ctx.user.pseudonym)
    except review.ReviewRefused as r:
        raise _refused(r) from None
    return _nocache({"status": status})


async def disagreements_page(ctx: Context) -> Response:
    return ctx.page("disagreements.html")


async def disagreements(ctx: Context) -> Response:
    found = await ctx.run(review.disagreements, ctx.store, ctx.lang)
    names = {u.pseudonym: u.name for u in await ctx.run(users.all_users, ctx.store)}
    for d in found:
        for e in d["entries"]:
            e["name"] = names.get(e["by"], e["by"])
    return _nocache({"disagreements": found})


async def resolve(ctx: Context) -> Response:
    item = _sha(ctx.request.path_params["item"])
    key = _key(ctx.request.path_params["field"])
    value = await _value(ctx)
    try:
        status = await ctx.run(review.resolve, ctx.store, item, key, value, ctx.user.pseudonym)
    except review.ReviewRefused as r:
        raise _refused(r) from None
    return _nocache({"status": status})


def _media_type(ctx: Context, sha: str) -> str:
    for e in ctx.store.index.history(sha):
        item = e.get("item")
        if isinstance(item, dict) and item.get("sha256") == sha:
            return str(item.get("media_type") or "application/octet-stream")
    return "application/octet-stream"


def _read(ctx: Context, sha: str) -> bytes:
    with ctx.store.objects.open(sha) as f:
        return bytes(f.read())


async def photo(ctx: Context) -> Response:
    sha = _sha(ctx.request.path_params["sha"])
    if sha not in await ctx.run(review.protocol_items, ctx.store):
        raise Refusal(404, "NOT_FOUND", "error.not_found")
    media = await ctx.run(_media_type, ctx, sha)
    if not media.startswith("image/"):
        raise Refusal(404, "NOT_FOUND", "error.not_found")
    data = await ctx.run(_read, ctx, sha)
    return Response(data, media_type=media, headers={"Cache-Control": "private, max-age=86400"})


async def crop(ctx: Context) -> Response:
    sha = _sha(ctx.request.path_params["sha"])
    if sha not in await ctx.run(review.crop_shas, ctx.store):
        raise Refusal(404, "NOT_FOUND", "error.not_found")
    data = await ctx.run(_read, ctx, sha)
    return Response(
        data, media_type="image/png", headers={"Cache-Control": "private, max-age=86400"}
    )


ENDPOINTS = [
    Endpoint("page.review", "GET", "/w/review", page),
    Endpoint("api.review.next", "GET", "/api/review/next", next_protocol),
    Endpoint("api.review.enter", "POST", "/api/review/{item}/{field}", enter),
    Endpoint("page.disagreements", "GET", "/w/disagreements", disagreements_page),
    Endpoint("api.review.disagreements", "GET", "/api/review/disagreements", disagreements),
    Endpoint("api.review.resolve", "POST", "/api/review/{item}/{field}/resolve", resolve),
    Endpoint("api.items.photo", "GET", "/api/items/{sha}/photo", photo),
    Endpoint("api.crops", "GET", "/api/crops/{sha}", crop),
]

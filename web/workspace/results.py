"""The alternative results in the browser: for everyone signed in, and as a public page when a
coordinator switches it on (``/results``, no sign-in, no personal data).

``GET /api/results?format=json|csv`` (and ``/results/data`` when public) exports the whole
table (:mod:`app.results`); the page shows the summary, server-drawn charts, the regions and
the precincts (those that differ first; the first :data:`SHOWN` of them, the rest in the
export).
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup
from starlette.responses import JSONResponse, Response

from app import results as alt
from app import users
from web.workspace import charts
from web.workspace.core import Context, Endpoint, Refusal, json_body

SHOWN = 500
PUBLIC_SETTING = "results_public"


def _label(form: Any, key: str, lang: str) -> str:
    try:
        lab = form.label(key)
    except (KeyError, ValueError):
        return key
    return getattr(lab, lang, "") or lab.ru or key


def _view(ctx: Context, r: alt.Results) -> dict[str, Any]:
    lang = ctx.lang
    with_photo, total = r.coverage
    unknown = ctx.t("results.region_unknown")
    contestants = [(k, _label(r.form, k, lang), *r.totals(k)) for k in r.contestants]
    by_region = charts.bars(
        ctx.t("results.chart.regions"),
        [(g.region or unknown, g.differing) for g in r.regions],
        empty=ctx.t("results.none"),
    )
    turnout = charts.histogram(
        ctx.t("results.chart.turnout"),
        [
            (
                ctx.t("results.protocol"),
                [t for x in r.rows if (t := x.turnout(x.protocol)) is not None],
            ),
            (
                ctx.t("results.official"),
                [t for x in r.rows if (t := x.turnout(x.official)) is not None],
            ),
        ],
        empty=ctx.t("results.none"),
    )
    per_party = charts.bars(
        ctx.t("results.chart.parties"),
        [(label, off - prot) for _, label, prot, off in contestants],
        empty=ctx.t("results.none"),
    )
    rows = []
    for x in r.rows[:SHOWN]:
        diffs = [
            (_label(r.form, k, lang), x.protocol.get(k), x.official.get(k), x.difference(k))
            for k in r.form.keys
            if x.difference(k) not in (None, 0)
        ]
        rows.append(
            {
                "precinct": x.precinct,
                "region": x.region or unknown,
                "district": x.district or "",
                "photos": x.photos,
                "diffs": diffs,
                "turnout_protocol": x.turnout(x.protocol),
                "turnout_official": x.turnout(x.official),
                "disagree": [_label(r.form, k, lang) for k in x.photos_disagree],
            }
        )
    return {
        "with_photo": with_photo,
        "total": total,
        "coverage": (with_photo / total) if total else None,
        "differing": sum(1 for x in r.rows if x.differs),
        "regions": r.regions,
        "unknown": unknown,
        "contestants": contestants,
        "charts": [Markup(by_region), Markup(turnout), Markup(per_party)],
        "rows": rows,
        "more": max(0, len(r.rows) - SHOWN),
        "has_registry": r.has_registry,
        "has_official": r.has_official,
    }


async def page(ctx: Context) -> Response:
    r = await ctx.run(alt.results, ctx.store)
    public = await ctx.run(users.setting, ctx.store, PUBLIC_SETTING, "off")
    return ctx.page(
        "results.html",
        v=_view(ctx, r),
        public=public == "on",
        data_url="/api/results",
        coordinator=ctx.user.role is users.Role.COORDINATOR,
    )


def _export(ctx: Context, r: alt.Results) -> Response:
    fmt = ctx.request.query_params.get("format", "json")
    headers = {"Cache-Control": "no-store"}
    if fmt == "csv":
        headers["Content-Disposition"] = 'attachment; filename="alternative-results.csv"'
        return Response(r.to_csv(), media_type="text/csv; charset=utf-8", headers=headers)
    if fmt != "json":
        raise Refusal(400, "BAD_FORMAT", "results.error.format")
    return JSONResponse(r.to_dict(), headers=headers)


async def data(ctx: Context) -> Response:
    return _export(ctx, await ctx.run(alt.results, ctx.store))


async def _public_on(ctx: Context) -> None:
    if await ctx.run(users.setting, ctx.store, PUBLIC_SETTING, "off") != "on":
        raise Refusal(404, "NOT_PUBLIC", "results.error.not_public")


async def public_page(ctx: Context) -> Response:
    try:
        await _public_on(ctx)
    except Refusal:
        return ctx.page("results_public.html", status=404, v=None, data_url="")
    r = await ctx.run(alt.results, ctx.store)
    return ctx.page("results_public.html", v=_view(ctx, r), data_url="/results/data")


async def public_data(ctx: Context) -> Response:
    await _public_on(ctx)
    return _export(ctx, await ctx.run(alt.results, ctx.store))


async def set_public(ctx: Context) -> Response:
    body = await json_body(ctx)
    on = body.get("public")
    if not isinstance(on, bool):
        raise Refusal(400, "BAD_REQUEST", "results.error.public")
    await ctx.run(
        lambda: users.set_setting(ctx.store, PUBLIC_SETTING, "on" if on else "off", by=ctx.user)
    )
    return JSONResponse({"public": on}, headers={"Cache-Control": "no-store"})


ENDPOINTS = [
    Endpoint("page.results", "GET", "/w/results", page),
    Endpoint("api.results", "GET", "/api/results", data),
    Endpoint("api.results.public.set", "POST", "/api/results/public", set_public),
    Endpoint("page.results.public", "GET", "/results", public_page),
    Endpoint("api.results.public", "GET", "/results/data", public_data),
]

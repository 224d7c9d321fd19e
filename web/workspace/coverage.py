"""The coverage board in the browser (issue 22): per region and district, precincts with an
approved observer for every shift, partly covered, not covered, where two organisations'
observers overlap, and which watched precincts have sent a protocol photo yet; a map drawn from
the registry's places; printable; ``GET /api/coverage?format=json|csv``.

It shows precinct numbers, places, states and organisations' names, never who the observers
are (:mod:`app.coverage`).
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup
from starlette.responses import JSONResponse, Response

from app import coverage as cov
from app import users
from web.workspace import charts
from web.workspace.core import Context, Endpoint, Refusal

GAPS_SHOWN = 300
"""Watched precincts with no protocol photo listed on the page (the rest in the export)."""
COLOURS = {cov.COVERED: charts.GREEN, cov.PARTLY: charts.AMBER, cov.UNCOVERED: charts.RED}


def _view(ctx: Context, b: cov.Board) -> dict[str, Any]:
    unknown = ctx.t("coverage.region_unknown")
    by_number = {p.number: p for p in b.precincts}
    points = [
        (
            ctx.t("coverage.dot", n=n, state=ctx.t(f"coverage.state.{by_number[n].state}")),
            lat,
            lon,
            by_number[n].state,
            by_number[n].overlap,
        )
        for n, (lat, lon) in b.places.items()
        if n in by_number
    ]
    gaps = [p for p in b.precincts if p.state != cov.UNCOVERED and not p.photo]
    return {
        "total": b.total,
        "regions": [(r or unknown, c) for r, c in b.regions],
        "districts": [(r or unknown, d or "", c) for r, d, c in b.districts],
        "map": Markup(
            charts.dot_map(ctx.t("coverage.map"), points, COLOURS, empty=ctx.t("coverage.no_map"))
        ),
        "mapped": len(points),
        "notes": b.notes,
        "gaps": gaps[:GAPS_SHOWN],
        "more_gaps": max(0, len(gaps) - GAPS_SHOWN),
        "has_registry": b.has_registry,
        "organisation": b.organisation,
        "unknown": unknown,
    }


async def page(ctx: Context) -> Response:
    b = await ctx.run(cov.board, ctx.store)
    return ctx.page(
        "coverage.html",
        v=_view(ctx, b),
        shifts=cov.SHIFTS,
        coordinator=ctx.user.role is users.Role.COORDINATOR,
    )


async def data(ctx: Context) -> Response:
    fmt = ctx.request.query_params.get("format", "json")
    b = await ctx.run(cov.board, ctx.store)
    headers = {"Cache-Control": "no-store"}
    if fmt == "csv":
        headers["Content-Disposition"] = 'attachment; filename="coverage.csv"'
        return Response(cov.to_csv(b), media_type="text/csv; charset=utf-8", headers=headers)
    if fmt != "json":
        raise Refusal(400, "BAD_FORMAT", "coverage.error.format")
    return JSONResponse(b.to_dict(), headers=headers)


async def note(ctx: Context) -> Response:
    """This organisation's coverage as a signed note, to give to another one (logged)."""
    data = await ctx.run(cov.export, ctx.store)
    return Response(
        data,
        media_type="text/plain; charset=utf-8",
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": 'attachment; filename="coverage.note"',
        },
    )


async def import_note(ctx: Context) -> Response:
    """Another organisation's note, sent as the request's body: checked and kept."""
    raw = await ctx.request.body()
    if len(raw) > cov.MAX_NOTE:
        raise Refusal(413, "TOO_LARGE", "error.too_large")
    new_key = ctx.request.query_params.get("new_key") == "1"
    try:
        kept = await ctx.run(lambda: cov.import_note(ctx.store, raw, new_key=new_key))
    except cov.CoverageRefused as r:
        raise Refusal(400, r.reason, f"coverage.error.{r.reason}") from None
    return JSONResponse(kept.to_dict(), headers={"Cache-Control": "no-store"})


ENDPOINTS = [
    Endpoint("page.coverage", "GET", "/w/coverage", page),
    Endpoint("api.coverage", "GET", "/api/coverage", data),
    Endpoint("api.coverage.note", "GET", "/api/coverage/note", note),
    Endpoint("api.coverage.import", "POST", "/api/coverage/import", import_note),
]

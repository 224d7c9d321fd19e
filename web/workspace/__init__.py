"""The coalition's workspace in the browser: sign-in and roles (``core``, ``access``), review
by double entry (``review``), cases and dossiers against the clock (``cases``), alternative
results (``results``). Served by the same server as the observers' side (:mod:`web.app`)."""

from __future__ import annotations

from starlette.routing import Mount, Route

from evidence.storage.store import Store


def routes(store: Store) -> list[Route | Mount]:
    """Every workspace route, each behind its access check."""
    from web.workspace import core

    endpoints = list(core.ENDPOINTS)
    for part in ("review", "cases", "results"):
        try:
            module = __import__(f"web.workspace.{part}", fromlist=["ENDPOINTS"])
        except ModuleNotFoundError as e:
            if e.name != f"web.workspace.{part}":
                raise
            continue
        endpoints += module.ENDPOINTS
    return core.routes(store, endpoints)

"""The coalition's workspace in the browser: sign-in and roles (``core``, ``access``), review
by double entry (``review``), cases and dossiers against the clock (``cases``), alternative
results (``results``). Served by the same server as the observers' side (:mod:`web.app`)."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from starlette.routing import Mount, Route

from evidence.storage.store import Store


def endpoints() -> list[Any]:
    """Every workspace endpoint (:class:`web.workspace.core.Endpoint`), part by part."""
    from web.workspace import cases, core, coverage, results, review, signups

    return [
        *core.ENDPOINTS,
        *review.ENDPOINTS,
        *cases.ENDPOINTS,
        *results.ENDPOINTS,
        *signups.ENDPOINTS,
        *coverage.ENDPOINTS,
    ]


def routes(store: Store, lock: threading.Lock | None = None) -> list[Route | Mount]:
    """Every workspace route, each behind its access check; their blocking work runs one at a
    time under ``lock`` (a new one when not given)."""
    from web.workspace import core

    return core.routes(store, endpoints(), lock or threading.Lock())


def warm_up(store: Store, lock: threading.Lock) -> dict[str, float]:
    """Read the log into what the review queue and the alternative results keep between
    requests, as the server starts, so that nobody's first page waits for it (at 10,000
    protocols it takes seconds). Run under the workspace's ``lock``; any failure is logged
    and left for the first request to meet. Returns the seconds each part took."""
    from app import results, review

    took: dict[str, float] = {}
    for name, make in (("review", review.warm), ("results", results.results)):
        t0 = time.perf_counter()
        try:
            with lock:
                make(store)
        except Exception:  # a store the first request will report on: nothing to do here
            logging.getLogger("dalel.web").warning("warm-up of %s failed", name, exc_info=True)
        took[name] = round(time.perf_counter() - t0, 3)
    return took


def access_table() -> str:
    """The access table as the README shows it (a test keeps the two the same)."""
    from app.users import Role
    from web.workspace.access import ACCESS

    rows = [
        "| route | coordinator | lawyer | reviewer | auditor | no session |",
        "|---|:-:|:-:|:-:|:-:|:-:|",
    ]
    for e in endpoints():
        roles = ACCESS[e.name]
        cells = ["✓" if not roles or r in roles else "" for r in Role]
        none = "✓" if not roles else ("→ sign-in" if e.is_page else "401")
        rows.append(f"| `{e.method} {e.path}` | " + " | ".join(cells) + f" | {none} |")
    return "\n".join(rows)

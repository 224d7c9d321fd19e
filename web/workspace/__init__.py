"""The coalition's workspace in the browser: sign-in and roles (``core``, ``access``), review
by double entry (``review``), cases and dossiers against the clock (``cases``), alternative
results (``results``). Served by the same server as the observers' side (:mod:`web.app`)."""

from __future__ import annotations

from typing import Any

from starlette.routing import Mount, Route

from evidence.storage.store import Store


def endpoints() -> list[Any]:
    """Every workspace endpoint (:class:`web.workspace.core.Endpoint`), part by part."""
    from web.workspace import cases, core, results, review

    return [*core.ENDPOINTS, *review.ENDPOINTS, *cases.ENDPOINTS, *results.ENDPOINTS]


def routes(store: Store) -> list[Route | Mount]:
    """Every workspace route, each behind its access check."""
    from web.workspace import core

    return core.routes(store, endpoints())


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

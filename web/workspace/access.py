"""What each role may see and do in the workspace: one table, every route named once.

The README's table is this one; ``tests/web/test_workspace_access.py`` walks every route with
every role, and with no session, and checks the answer (401 without a session for the API, a
redirect to the sign-in page for pages; 403 for a role that may not).
"""

from __future__ import annotations

from app.users import Role

C, L, R, A = Role.COORDINATOR, Role.LAWYER, Role.REVIEWER, Role.AUDITOR
EVERYONE = frozenset(Role)
PUBLIC: frozenset[Role] = frozenset()
"""Routes anyone may reach, signed in or not (the sign-in itself; the public results page,
which answers 404 unless a coordinator switched it on; the sign-up page, which answers 404
without the organisation's current link)."""

ACCESS: dict[str, frozenset[Role]] = {
    # signing in and out (core)
    "page.sign_in": PUBLIC,
    "api.session.create": PUBLIC,
    "page.home": EVERYONE,
    "api.session.show": EVERYONE,
    "api.session.end": EVERYONE,
    "page.password": EVERYONE,
    "api.password": EVERYONE,
    # review by double entry
    "page.review": frozenset({R, C}),
    "api.review.next": frozenset({R, C}),
    "api.review.enter": frozenset({R, C}),
    "page.disagreements": frozenset({C}),
    "api.review.disagreements": frozenset({C}),
    "api.review.resolve": frozenset({C}),
    "api.items.photo": frozenset({C, L, R, A}),
    "api.crops": frozenset({C, L, R, A}),
    # cases and dossiers against the clock
    "page.deadlines": frozenset({C, L, A}),
    "api.deadlines": frozenset({C, L, A}),
    "api.cases.open": frozenset({C, L}),
    "page.case": frozenset({C, L, A}),
    "api.case": frozenset({C, L, A}),
    "api.case.set": frozenset({C, L}),
    "api.case.evidence": frozenset({C, L}),
    "api.dossier.build": frozenset({C, L}),
    "api.job": frozenset({C, L}),
    "api.dossier.download": frozenset({C, L, A}),
    "api.dossier.verify": frozenset({C, L, A}),
    "api.gallery": frozenset({C, L, A}),
    "api.items.thumb": frozenset({C, L, R, A}),
    # alternative results
    "page.results": EVERYONE,
    "api.results": EVERYONE,
    "api.results.public.set": frozenset({C}),
    "page.results.public": PUBLIC,
    "api.results.public": PUBLIC,
    # sign-ups: the organisation's public page (a link it shares), the coordinator's decisions
    "page.signups": frozenset({C}),
    "api.signups": frozenset({C}),
    "api.signups.link": frozenset({C}),
    "api.signups.settings": frozenset({C}),
    "api.signups.approve": frozenset({C}),
    "api.signups.decline": frozenset({C}),
    "page.signup.public": PUBLIC,
    "api.signup.precincts": PUBLIC,
    "api.signup.submit": PUBLIC,
    # coverage: the board (counts, map, gaps; no observer named) and its export
    "page.coverage": EVERYONE,
    "api.coverage": EVERYONE,
    "api.coverage.note": frozenset({C}),
    "api.coverage.import": frozenset({C}),
}


def allowed(name: str, role: Role | None) -> bool:
    """Whether ``role`` (None: no session) may use the route ``name``."""
    roles = ACCESS[name]
    if not roles:
        return True
    return role is not None and role in roles

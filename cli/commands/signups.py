"""Volunteers' sign-ups: the organisation's sign-up link, the list, approve and decline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table
from rich.text import Text

from base.lazy import lazy
from cli.output import Lines, formats, render
from cli.root import cli, store_of

if TYPE_CHECKING:
    from app import observers
    from app import signups as su
else:
    su = lazy("app.signups")
    observers = lazy("app.observers")

STATUSES = ("pending", "approved", "declined")


@dataclass(frozen=True)
class SignupList:
    signups: tuple[su.Signup, ...]
    counts: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {"counts": self.counts, "signups": [s.to_dict() for s in self.signups]}


@dataclass(frozen=True)
class Decided:
    signup: su.Signup

    def to_dict(self) -> dict[str, Any]:
        return self.signup.to_dict()


@formats("app.signups.Link")
def _link(r: su.Link) -> Lines:
    yield Text("The organisation's sign-up page (share it; volunteers sign up there):")
    yield Text(r.url, style="bold")
    yield Text(f"Made {r.created}; a new one (the old stops working): dalel signup link --new")


@formats(SignupList)
def _list(r: SignupList) -> Lines:
    yield Text(", ".join(f"{n} {k}" for k, n in r.counts.items()))
    if not r.signups:
        yield Text("No sign-ups: share the link that dalel signup link prints")
        return
    t = Table("id", "precinct", "shift", "name", "contact", "status", "invite", box=None)
    for s in r.signups:
        t.add_row(
            Text(s.id),
            Text(s.precinct),
            Text(s.shift),
            Text(s.name),
            Text(s.contact),
            Text(s.status),
            Text(s.invite or ""),
        )
    yield t


@formats("app.signups.Approved")
def _approved(r: su.Approved) -> Lines:
    yield Text(observers.qr_text(r.issued.url))
    yield Text.assemble(
        ("Approved ", "bold"), r.signup.id, f": invite {r.issued.invite.id} for precinct ",
        r.signup.precinct, " for ", r.signup.name,
    )  # fmt: skip
    yield Text("Link (pass it to the volunteer only; it is shown this once):")
    yield Text(r.issued.url, style="bold")
    yield Text(f"Works until {r.issued.invite.expires}")


@formats(Decided)
def _decided(r: Decided) -> Lines:
    yield Text(f"Sign-up {r.signup.id} {r.signup.status}.")


@cli.group()
def signup() -> None:
    """Volunteers' sign-ups: the public link, the list, approve (an invite) or decline."""


@signup.command("link")
@click.option("--new", "new", is_flag=True, help="Make a new link; the old one stops working.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def link(ctx: click.Context, new: bool, as_json: bool) -> None:
    """Print the organisation's sign-up URL ({public_url}/s/TOKEN)."""
    render(su.link(store_of(ctx), new=new), as_json)


@signup.command("list")
@click.option("--status", type=click.Choice(STATUSES), default=None, help="Only these.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_(ctx: click.Context, status: str | None, as_json: bool) -> None:
    """Sign-ups, pending first, by precinct (names and contacts: keep the output private)."""
    store = store_of(ctx)
    render(SignupList(tuple(su.signups(store, status=status)), su.counts(store)), as_json)


@signup.command("approve")
@click.argument("signup_id")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def approve(ctx: click.Context, signup_id: str, as_json: bool) -> None:
    """Approve a sign-up: an observer invite for its precinct; its link is printed once."""
    render(su.approve(store_of(ctx), signup_id, by="cli"), as_json)


@signup.command("decline")
@click.argument("signup_id")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def decline(ctx: click.Context, signup_id: str, as_json: bool) -> None:
    """Decline a sign-up."""
    render(Decided(su.decline(store_of(ctx), signup_id, by="cli")), as_json)

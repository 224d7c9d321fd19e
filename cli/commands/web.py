"""The observers' side: invites (observer invite, list, revoke) and the web service (serve)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table
from rich.text import Text

from base.fsio import atomic_write
from base.lazy import lazy
from cli.output import Lines, err, formats, render
from cli.root import cli, store_of

if TYPE_CHECKING:
    from app import observers, uploads
else:
    observers = lazy("app.observers")
    uploads = lazy("app.uploads")


@dataclass(frozen=True)
class InviteMade:
    """An invite made, with where its QR code was written."""

    issued: observers.Issued
    qr_path: Path
    qr_text: str

    def to_dict(self) -> dict[str, Any]:
        return {**self.issued.to_dict(), "qr": str(self.qr_path)}


@dataclass(frozen=True)
class InviteList:
    invites: tuple[observers.Invite, ...]

    def to_dict(self) -> list[dict[str, Any]]:
        return [i.to_dict() for i in self.invites]


@dataclass(frozen=True)
class Revoked:
    invite: observers.Invite

    def to_dict(self) -> dict[str, Any]:
        return self.invite.to_dict()


@formats(InviteMade)
def _made(r: InviteMade) -> Lines:
    inv = r.issued.invite
    yield Text(r.qr_text)
    yield Text.assemble(("Invite ", "bold"), inv.id, f" for precinct {inv.precinct}")
    yield Text.assemble("Link (send it to the observer only; it is shown this once): ")
    yield Text(r.issued.url, style="bold")
    yield Text(f"QR code: {r.qr_path}")
    yield Text(f"Works until {inv.expires}; withdraw it with: dalel observer revoke {inv.id}")


@formats(InviteList)
def _list(r: InviteList) -> Lines:
    if not r.invites:
        yield Text("No invites yet: dalel observer invite --precinct N")
        return
    t = Table("id", "precinct", "name", "expires", "state", box=None)
    for i in r.invites:
        state = "revoked" if i.revoked else ("active" if i.active() else "expired")
        t.add_row(Text(i.id), Text(i.precinct), Text(i.name), Text(i.expires), Text(state))
    yield t


@formats(Revoked)
def _revoked(r: Revoked) -> Lines:
    yield Text(f"Invite {r.invite.id} withdrawn: its link no longer works.")


@cli.group()
def observer() -> None:
    """Observers who hand in files from their phones: invite, list, revoke."""


@observer.command("invite")
@click.option("--precinct", required=True, help="The observer's precinct.")
@click.option("--name", default="", help="A label for you (never logged).")
@click.option(
    "--expires", default="3d", show_default=True, help="How long the link works: 12h, 3d, 2w."
)
@click.option(
    "--qr",
    "qr_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Where to write the QR code PNG (default: ./dalel-invite-ID.png).",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def invite(
    ctx: click.Context, precinct: str, name: str, expires: str, qr_path: Path | None, as_json: bool
) -> None:
    """Make an invite link (and its QR code) for one observer."""
    span = observers.parse_expiry(expires)
    issued = observers.invite(store_of(ctx), precinct, name=name, expires=span)
    path = qr_path or Path(f"dalel-invite-{issued.invite.id}.png")
    atomic_write(path, observers.qr_png(issued.url), mode=0o600)
    render(InviteMade(issued, path, observers.qr_text(issued.url)), as_json)


@observer.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """Every invite and whether its link still works."""
    render(InviteList(tuple(observers.invites(store_of(ctx)))), as_json)


@observer.command("revoke")
@click.argument("invite_id")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def revoke(ctx: click.Context, invite_id: str, as_json: bool) -> None:
    """Withdraw an invite: its link stops working at once (what it handed in stays)."""
    render(Revoked(observers.revoke(store_of(ctx), invite_id)), as_json)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.pass_context
def serve(ctx: click.Context, host: str, port: int) -> None:
    """Serve the store to observers' phones (uploads, receipts, the public log) and the
    coalition's workspace (/w/: review, cases and dossiers, alternative results).

    Listens on localhost by default: put it behind Caddy or nginx for HTTPS (see the README);
    phones must never reach it over plain HTTP."""
    from web import server

    store = store_of(ctx)
    err.print(Text(f"Serving {store.root} on http://{host}:{port} (Ctrl+C to stop)"))
    if uploads.intake_only(store):
        err.print(
            Text(
                "Observers' uploads only: this folder holds no log. They are committed, and "
                "the workspace is served, by the server of the folder that holds it."
            )
        )
    else:
        err.print(
            Text(
                f"The coalition's workspace: http://{host}:{port}/w/ (dalel user add NAME --role R)"
            )
        )
    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print(Text("Listening beyond this machine: put HTTPS in front of it.", style="yellow"))
    server.run(store, host, port)

"""The coalition's workspace accounts: user add, list, reset, disable, enable."""

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
    from app import users
else:
    users = lazy("app.users")

ROLES = ("coordinator", "lawyer", "reviewer", "auditor")


@dataclass(frozen=True)
class UserList:
    users: tuple[users.User, ...]

    def to_dict(self) -> list[dict[str, Any]]:
        return [u.to_dict() for u in self.users]


@dataclass(frozen=True)
class Changed:
    user: users.User

    def to_dict(self) -> dict[str, Any]:
        return self.user.to_dict()


@formats("app.users.Added")
def _added(r: users.Added) -> Lines:
    yield Text.assemble(("User ", "bold"), r.user.name, f" ({r.user.role.value})")
    yield Text("Password (give it to them yourself; it is shown this once):")
    yield Text(r.password, style="bold")
    yield Text("They sign in at https://YOUR-SERVER/w/ (dalel serve), then choose their own.")


@formats(UserList)
def _list(r: UserList) -> Lines:
    if not r.users:
        yield Text("No users yet: dalel user add NAME --role coordinator")
        return
    t = Table("name", "role", "since", "state", box=None)
    for u in r.users:
        t.add_row(
            Text(u.name),
            Text(u.role.value),
            Text(u.created),
            Text("disabled" if u.disabled else ""),
        )
    yield t


@formats(Changed)
def _changed(r: Changed) -> Lines:
    state = "disabled: they cannot sign in" if r.user.disabled else "enabled"
    yield Text(f"User {r.user.name} {state}.")


@cli.group()
def user() -> None:
    """The coalition's workspace accounts (coordinator, lawyer, reviewer, auditor)."""


@user.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(ROLES), help="What they do.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def add(ctx: click.Context, name: str, role: str, as_json: bool) -> None:
    """Make an account; its password is printed once (only its Argon2 hash is kept)."""
    render(users.add(store_of(ctx), name, role), as_json)


@user.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """Every account, its role and whether it is disabled."""
    render(UserList(tuple(users.all_users(store_of(ctx)))), as_json)


@user.command("reset")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def reset(ctx: click.Context, name: str, as_json: bool) -> None:
    """A new password (printed once); their sessions end and a lock-out lifts."""
    render(users.reset(store_of(ctx), name), as_json)


@user.command("disable")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def disable(ctx: click.Context, name: str, as_json: bool) -> None:
    """Stop an account from signing in (its sessions end at once)."""
    render(Changed(users.set_disabled(store_of(ctx), name, True)), as_json)


@user.command("enable")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def enable(ctx: click.Context, name: str, as_json: bool) -> None:
    """Let a disabled account sign in again."""
    render(Changed(users.set_disabled(store_of(ctx), name, False)), as_json)

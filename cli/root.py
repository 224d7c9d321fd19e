"""The ``dalel`` group, its global options, and the groups several command modules share.

The global ``--store`` (else ``$DALEL_STORE``, else ``./dalel-store``) means the same to every
command; a command's own ``--store`` wins over it (see ``app.setup``).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.text import Text

from app import setup
from cli.output import err

if TYPE_CHECKING:
    from evidence.storage.store import Store


def store_choice(ctx: click.Context, local: Path | None = None) -> setup.StoreChoice:
    """The store a command means: its own ``--store`` (``local``) if given, else the global
    one's choice (``--store``, ``$DALEL_STORE``, ``./dalel-store``)."""
    if local is not None:
        return setup.choose_store(local)
    choice: setup.StoreChoice = ctx.find_root().obj["store_choice"]
    return choice


def store_of(ctx: click.Context, local: Path | None = None, *, hooks: bool = True) -> Store:
    """The store the command works on (it must exist); ``hooks=False``: without the commit
    hooks, for a command whose batch attaches them (:func:`setup.open_store`)."""
    return setup.open_store(store_choice(ctx, local).path, hooks=hooks)


def optional_store_of(ctx: click.Context, local: Path | None = None) -> Store | None:
    """For commands that work without a store (verifying a receipt or a dossier): the store
    named by ``--store`` (which must exist), else the default store when there is one (said on
    stderr), else None."""
    choice = store_choice(ctx, local)
    store = setup.open_optional(choice)
    if store is not None and not choice.explicit:
        how = "$DALEL_STORE" if choice.origin is setup.StoreOrigin.ENVIRONMENT else "the default"
        err.print(Text(f"checking against the store at {choice.path} ({how})"))
    return store


#: The modules that define each command of ``dalel`` (``dossier``: defined here, its
#: subcommands in two modules). A command's module is loaded when the command is named, so
#: that a command loads only what it uses; ``--help`` and an unknown name load them all.
COMMANDS: Mapping[str, tuple[str, ...]] = {
    "audit": ("cli.commands.verify",),
    "case": ("cli.commands.cases",),
    "checkpoint": ("cli.commands.checkpoints",),
    "coverage": ("cli.commands.coverage",),
    "deadlines": ("cli.commands.cases",),
    "discrepancies": ("cli.commands.cases",),
    "dossier": ("cli.commands.cases", "cli.commands.verify"),
    "export-audit": ("cli.commands.verify",),
    "figures": ("cli.commands.items",),
    "ingest": ("cli.commands.intake",),
    "init": ("cli.commands.intake",),
    "jobs": ("cli.commands.jobs",),
    "log": ("cli.commands.log",),
    "observer": ("cli.commands.web",),
    "ocr": ("cli.commands.items",),
    "ocr-image": ("cli.commands.items",),
    "official": ("cli.commands.cases",),
    "precinct": ("cli.commands.admin",),
    "receipt": ("cli.commands.verify",),
    "reindex": ("cli.commands.admin",),
    "run": ("cli.commands.intake",),
    "serve": ("cli.commands.web",),
    "show": ("cli.commands.items",),
    "signup": ("cli.commands.signups",),
    "timestamp": ("cli.commands.admin",),
    "user": ("cli.commands.users",),
    "worker": ("cli.commands.jobs",),
    "worker-role": ("cli.commands.jobs",),
}


def load_commands(modules: tuple[str, ...] | None = None) -> None:
    """Load the command modules named (default: every one), which registers their commands."""
    every = dict.fromkeys(m for ms in COMMANDS.values() for m in ms)
    for module in every if modules is None else modules:
        importlib.import_module(module)


class LazyGroup(click.Group):
    """The ``dalel`` group: a command's module is loaded when the command is named
    (:data:`COMMANDS`); listing them (``--help``) loads every one."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        # an unknown name loads them all: "did you mean" then knows every command
        load_commands(COMMANDS.get(cmd_name))
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        load_commands()
        return super().list_commands(ctx)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--store",
    "store_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="The store directory (default: $DALEL_STORE or ./dalel-store).",
)
@click.version_option(package_name="dalel")
@click.pass_context
def cli(ctx: click.Context, store_dir: Path | None) -> None:
    """Dalel: evidence from polling stations that a court cannot wave away."""
    choice = setup.choose_store(store_dir)
    ctx.obj = {"store": choice.path, "store_choice": choice}


@cli.group()
def dossier() -> None:
    """Court-ready PDF dossiers: build one for a case, verify one."""

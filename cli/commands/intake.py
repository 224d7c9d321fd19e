"""Handing files in: init, ingest, run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from app import setup
from app.kinds import KINDS
from base.lazy import lazy
from cli.output import progress_bar, render, waiting
from cli.root import cli, store_choice, store_of

if TYPE_CHECKING:
    from app import items
else:
    items = lazy("app.items")


@cli.command()
@click.option("--org", default="Dalel", show_default=True, help="Organisation name.")
@click.option(
    "--db",
    metavar="URL",
    help="Keep the index in PostgreSQL: postgresql://USER@HOST:PORT/DB "
    "(the password from PGPASSWORD or ~/.pgpass). Default: SQLite in the store.",
)
@click.option(
    "--objects",
    metavar="URL",
    help="Keep the objects in S3 with Object Lock: s3://BUCKET/PREFIX (endpoint and keys "
    "from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY). Default: the store.",
)
@click.option(
    "--retain-days",
    type=int,
    metavar="N",
    help="With --objects: days during which no one can delete or change an object.",
)
@click.pass_context
def init(
    ctx: click.Context,
    org: str,
    db: str | None,
    objects: str | None,
    retain_days: int | None,
) -> None:
    """Create a new store: folders, the log key, the pseudonym secret, public keys."""
    render(setup.init(store_choice(ctx).path, org, db=db, objects=objects, retain_days=retain_days))


_submission_options = [
    click.option("--observer", required=True, help="Observer ID (an IIN is pseudonymised)."),
    click.option("--precinct", required=True, help="Precinct number."),
    click.option("--kind", type=click.Choice(KINDS), default="other", show_default=True),
    click.option("--channel", default="", help="How the file reached us (e.g. telegram)."),
    click.option("--note", default="", help="A note to keep with every file."),
    click.option("--json", "as_json", is_flag=True, help="Machine-readable output on stdout."),
]


def submission_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The options every command that hands files in takes."""
    for opt in reversed(_submission_options):
        f = opt(f)
    return f


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@submission_options
@click.pass_context
def ingest(
    ctx: click.Context,
    paths: tuple[Path, ...],
    observer: str,
    precinct: str,
    kind: str,
    channel: str,
    note: str,
    as_json: bool,
) -> None:
    """Store files (folders are walked), log them and print a receipt for each."""
    store = store_of(ctx, hooks=False)  # (attached by the batch, once reading)
    declared = items.Declared(observer, precinct, kind, channel, note)
    with progress_bar("ingesting", show_subject=True) as advance:
        summary = items.ingest(store, paths, declared, progress=advance, on_wait=waiting)
    render(summary, as_json)


@cli.command()
@click.argument("inbox", type=click.Path(path_type=Path, exists=True, file_okay=False))
@submission_options
@click.pass_context
def run(
    ctx: click.Context,
    inbox: Path,
    observer: str,
    precinct: str,
    kind: str,
    channel: str,
    note: str,
    as_json: bool,
) -> None:
    """Run every stage over a folder; running it again over the same folder adds nothing.

    A manifest.csv in the folder (file, observer, precinct, kind, channel, note) overrides
    the options per file.
    """
    store = store_of(ctx, hooks=False)  # (attached by the batch, once reading)
    declared = items.Declared(observer, precinct, kind, channel, note)
    with progress_bar("ingesting", show_subject=True) as advance:
        summary = items.run_inbox(store, inbox, declared, progress=advance, on_wait=waiting)
    render(summary, as_json)

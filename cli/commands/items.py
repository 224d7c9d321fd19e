"""Items and their figures: show, ocr-image, ocr, figures."""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.text import Text

from base.lazy import lazy
from cli.output import Lines, formats, progress_bar, render
from cli.root import cli, store_of

if TYPE_CHECKING:
    from app import figures, items, jobs
else:
    figures, items = lazy("app.figures"), lazy("app.items")


@cli.command()
@click.argument("sha256")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def show(ctx: click.Context, sha256: str, as_json: bool) -> None:
    """An item's metadata and custody history (a unique prefix of the hash will do)."""
    render(items.show(store_of(ctx), sha256), as_json)


# --- reading protocol figures ---------------------------------------------------------
@cli.command("ocr-image")
@click.argument("image", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--form", "form_id", required=True, help="Form id, e.g. kz-mazhilis-party-list-2023.")
@click.option("--json", "as_json", is_flag=True)
def ocr_image(image: Path, form_id: str, as_json: bool) -> None:
    """Read the tally figures from one protocol photo (no store needed)."""
    render(figures.read_photo(image.read_bytes(), form_id), as_json)


@cli.command("ocr")
@click.option("--precinct", default=None, help="Only this precinct's protocols.")
@click.option(
    "--item",
    "only",
    multiple=True,
    metavar="SHA256",
    help="Read this photo as a protocol, whatever kind it was handed in as (a prefix will do; "
    "repeatable).",
)
@click.option("--form", "form_id", default=None, help="Form id (default: the store's).")
@click.option(
    "--queue",
    is_flag=True,
    help="Put the reading on the store's job queue for dalel worker, on any machine, instead "
    "of reading here (a store whose index is in PostgreSQL).",
)
@click.option(
    "--follow/--no-follow",
    default=None,
    help="With --queue: from now on, every protocol photo the store logs (uploads committed "
    "by the server, each ingest) goes on the queue too (--no-follow: no more).",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def ocr_cmd(
    ctx: click.Context,
    precinct: str | None,
    only: tuple[str, ...],
    form_id: str | None,
    queue: bool,
    follow: bool | None,
    as_json: bool,
) -> None:
    """Read the figures of every photo handed in as a protocol (each once per form/engine),
    or of the photos given with --item."""
    store = store_of(ctx)
    if follow is not None and not queue:
        raise click.UsageError("--follow and --no-follow go with --queue")
    if queue:
        queued = figures.queue_protocols(
            store, precinct=precinct, form_id=form_id, only=only, follow=follow
        )
        render(queued, as_json)
        return
    with progress_bar("reading protocols") as advance:
        run = figures.read_protocols(
            store, precinct=precinct, form_id=form_id, only=only, progress=advance
        )
    render(run, as_json)


@formats("pipeline.jobs.Queued")
def _queued(r: jobs.Queued) -> Lines:
    yield Text(
        f"{len(r.queued)} protocol photo(s) put on the queue for reading, "
        f"{len(r.waiting)} waiting already, {len(r.done)} read before."
    )
    if r.refused_before:
        yield Text(
            f"{len(r.refused_before)} of them had a reading the log refused (the workers' "
            "output says why): it was dropped, they are read again."
        )
    if r.following is not None:
        yield Text(
            "From now on each protocol photo the store logs goes on the queue as well."
            if r.following
            else "Protocol photos the store logs no longer go on the queue by themselves."
        )
    if r.queued or r.waiting:
        yield Text(
            "Run dalel worker (on this machine or any other that reaches the store's database "
            "and objects) to read them; dalel jobs shows how far it is."
        )


@cli.group("figures")
def figures_group() -> None:
    """Figures read from protocols: show them, confirm them."""


@figures_group.command("show")
@click.option("--precinct", required=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def figures_show(ctx: click.Context, precinct: str, as_json: bool) -> None:
    """Each protocol photo's figures, people's confirmations, and photo-to-photo checks."""
    render(figures.show(store_of(ctx), precinct), as_json)


@figures_group.command("confirm")
@click.option(
    "--item", "item", required=True, help="SHA-256 of the protocol photo (a prefix will do)."
)
@click.option(
    "--field",
    "field_key",
    required=True,
    help="The figure's key in the form, or precinct_on_sheet: the precinct number printed on "
    "the sheet.",
)
@click.option("--value", type=click.IntRange(min=0), required=True)
@click.option(
    "--by",
    default=lambda: os.environ.get("DALEL_USER") or getpass.getuser(),
    help="Who read the figure (default: $DALEL_USER or the login name).",
)
@click.pass_context
def figures_confirm(ctx: click.Context, item: str, field_key: str, value: int, by: str) -> None:
    """Record a person's reading of a figure, beside the machine's (never over it)."""
    render(figures.confirm(store_of(ctx), item, field_key, value, by))

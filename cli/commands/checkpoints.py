"""Checkpoints published outside the store (``dalel checkpoint publish``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.text import Text

from base.lazy import lazy
from cli.output import Lines, formats, render
from cli.root import cli, store_of

if TYPE_CHECKING:
    from app import checkpoints as checkpoints_app
else:
    checkpoints_app = lazy("app.checkpoints")


@cli.group()
def checkpoint() -> None:
    """Signed checkpoints: publish them where the store's owner cannot change them alone."""


@checkpoint.command("publish")
@click.option(
    "--to",
    "folders",
    multiple=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="A folder (another disk, a synced share) to write each new checkpoint to.",
)
@click.option(
    "--url", "urls", multiple=True, help="An HTTP endpoint each new checkpoint is POSTed to."
)
@click.option(
    "--witness",
    "witnesses",
    multiple=True,
    help="A C2SP tlog-witness (its submission URL) to cosign the latest checkpoint.",
)
@click.option(
    "--witness-key",
    "witness_keys",
    multiple=True,
    help="The witness's verifier key (name+keyid+base64, or a file holding it); one per "
    "--witness, in order.",
)
@click.option("--timeout", default=10.0, show_default=True, help="Seconds to wait for an answer.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def publish(
    ctx: click.Context,
    folders: tuple[Path, ...],
    urls: tuple[str, ...],
    witnesses: tuple[str, ...],
    witness_keys: tuple[str, ...],
    timeout: float,
    as_json: bool,
) -> None:
    """Send each new signed checkpoint to folders, HTTP endpoints and witnesses; a
    destination holding a checkpoint the log does not extend refuses (exit 1)."""
    targets = checkpoints_app.destinations(folders, urls, witnesses, witness_keys)
    render(checkpoints_app.publish(store_of(ctx), targets, timeout=timeout), as_json)


@formats("app.checkpoints.PublishResult")
def _published(r: checkpoints_app.PublishResult) -> Lines:
    styles = {"PUBLISHED": "green", "UP_TO_DATE": "green", "REFUSED": "red", "UNREACHABLE": "red"}
    for p in r.results:
        line = Text.assemble((p.outcome.value, styles[p.outcome.value]), f" {p.destination}")
        size = f"checkpoint {p.size}" if p.size is not None else "no checkpoint"
        line.append(f": {size}, {p.sent} sent; {p.detail}")
        yield line
        if p.cosignature is not None:
            yield Text(f"  cosignature kept in {p.cosignature}")

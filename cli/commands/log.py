"""The custody log published as static files: ``dalel log tiles --out DIR``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.text import Text

from base.lazy import lazy
from cli.output import Lines, formats, render
from cli.root import cli, store_of

if TYPE_CHECKING:
    from app import logtiles
else:
    logtiles = lazy("app.logtiles")


@formats("app.logtiles.TilesWritten")
def _written(r: logtiles.TilesWritten) -> Lines:
    yield Text(f"The log up to its checkpoint of {r.size} entries is in {r.out}")
    yield Text(f"({r.written} tile(s) written, {r.kept} full tile(s) already there).")
    if r.follow:
        yield Text("Every commit keeps it up to date from now on ([log] tiles_dir in config.toml);")
        yield Text("a server already running takes it up when it is started again.")
    yield Text("Serve the folder as it is; check a receipt with: "
               "dalel receipt verify RECEIPT --log URL_OR_DIR")  # fmt: skip


@cli.group("log")
def log_group() -> None:
    """The custody log as static files anyone can serve and check (C2SP tlog-tiles)."""


@log_group.command("tiles")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The folder to write (or bring up to date).")  # fmt: skip
@click.option(
    "--follow",
    is_flag=True,
    help="Keep OUT up to date after every commit from now on (config [log] tiles_dir).",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def tiles(ctx: click.Context, out: Path, follow: bool, as_json: bool) -> None:
    """Write the tiles and the signed checkpoint of the log's latest checkpoint into OUT
    (hash tiles only: the entries stay private; receipts carry their own)."""
    render(logtiles.write(store_of(ctx), out, follow=follow), as_json)

"""The ``dalel`` group, its global options, and the groups several command modules share."""

from __future__ import annotations

from pathlib import Path

import click

from evidence.storage.store import Store, default_store_path
from pipeline.hooks import open_store


def store_of(ctx: click.Context, local: Path | None = None) -> Store:
    """The store the command works on: ``local`` if given, else the global ``--store``."""
    return open_store(local or ctx.obj["store"])



@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--store", "store_dir", type=click.Path(path_type=Path), default=None,
              help="The store directory (default: $DALEL_STORE or ./dalel-store).")
@click.version_option(package_name="dalel")
@click.pass_context
def cli(ctx: click.Context, store_dir: Path | None) -> None:
    """Dalel: evidence from polling stations that a court cannot wave away."""
    ctx.obj = {"store": store_dir or default_store_path()}



@cli.group()
def dossier() -> None:
    """Court-ready PDF dossiers: build one for a case, verify one."""


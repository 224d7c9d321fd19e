"""Timestamps, precinct locations, the index."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.text import Text

from app import setup
from base.lazy import lazy
from cli.output import Lines, formats, render
from cli.root import cli, store_of

if TYPE_CHECKING:
    from app import timestamps
else:
    timestamps = lazy("app.timestamps")


# --- timestamps ------------------------------------------------------------------------
@cli.group(invoke_without_command=True)
@click.option(
    "--upgrade",
    is_flag=True,
    help="Add external tokens to every item and checkpoint that has only a local one.",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def timestamp(ctx: click.Context, upgrade: bool, as_json: bool) -> None:
    """RFC 3161 tokens: status, --upgrade once online, export, external TSAs."""
    if ctx.invoked_subcommand:
        return
    store = store_of(ctx)
    render(timestamps.upgrade(store) if upgrade else timestamps.status(store), as_json)


@timestamp.command("export")
@click.argument("sha256")
@click.argument("out_file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--external", is_flag=True, help="The external token (fails if there is none).")
@click.pass_context
def timestamp_export(ctx: click.Context, sha256: str, out_file: Path, external: bool) -> None:
    """Write an item's token as a TimeStampResp for `openssl ts -verify`."""
    render(timestamps.export(store_of(ctx), sha256, out_file, external=external))


@timestamp.command("add-tsa")
@click.argument("name")
@click.argument("url")
@click.option(
    "--roots",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    required=True,
    help="PEM file of the TSA's trusted root certificate(s).",
)
@click.option("--timeout", type=float, default=10.0, show_default=True)
@click.pass_context
def timestamp_add_tsa(ctx: click.Context, name: str, url: str, roots: Path, timeout: float) -> None:
    """Use an external RFC 3161 TSA first (the local one stays the fallback)."""
    render(timestamps.add_tsa(store_of(ctx), name, url, roots.read_bytes(), timeout))


@cli.group()
def precinct() -> None:
    """Precincts: the registry (regions, addresses) and where each is, so that photos taken
    far away are flagged."""


@precinct.command("set")
@click.argument("number")
@click.option("--lat", type=float, required=True, help="Latitude, decimal degrees.")
@click.option("--lon", type=float, required=True, help="Longitude, decimal degrees.")
@click.option(
    "--radius-km",
    type=float,
    default=1.0,
    show_default=True,
    help="Photos with GPS farther than this are flagged.",
)
@click.pass_context
def precinct_set(ctx: click.Context, number: str, lat: float, lon: float, radius_km: float) -> None:
    """Record a precinct's location."""
    render(setup.set_precinct(store_of(ctx), number, lat, lon, radius_km))


@precinct.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def precinct_import(ctx: click.Context, csv_file: Path, as_json: bool) -> None:
    """Import the precinct registry (number,region,district,address,latitude,longitude);
    bad rows are reported by line and skipped; it replaces the previous import."""
    from app import registry

    render(registry.import_csv(store_of(ctx), csv_file.read_bytes()), as_json)


@formats("pipeline.registry.Registry")
def _registry(r: Any) -> Lines:
    regions = len({p.region for p in r.precincts.values()})
    yield Text(f"Imported {len(r.precincts)} precinct(s) in {regions} region(s).")
    for b in r.bad_rows:
        yield Text.assemble("  ", (f"line {b.line}", "yellow"), f": {b.reason} (skipped)")


@cli.command()
@click.pass_context
def reindex(ctx: click.Context) -> None:
    """Rebuild the SQLite index from the custody log."""
    render(setup.reindex(store_of(ctx)))

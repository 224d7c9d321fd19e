"""Timestamps, precinct locations, the index."""

from __future__ import annotations

from pathlib import Path

import click

from base.errors import UsageError
from base.fsio import atomic_write
from cli.commands.items import _resolve_item
from cli.output import emit_json, out
from cli.root import cli, store_of
from evidence.core.tokens import response_from_token
from evidence.storage.index import Index
from evidence.timestamping import stamping


# --- timestamps ------------------------------------------------------------------------
@cli.group(invoke_without_command=True)
@click.option("--upgrade", is_flag=True,
              help="Add external tokens to every item and checkpoint that has only a local one.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def timestamp(ctx, upgrade, as_json) -> None:
    """RFC 3161 tokens: status, --upgrade once online, export, external TSAs."""
    if ctx.invoked_subcommand:
        return
    store = store_of(ctx)
    if upgrade:
        if not stamping.external_config(store):
            raise UsageError("no external TSA is configured",
                             fix="add one: dalel timestamp add-tsa NAME URL --roots ROOTS.pem")
        with store.writer() as w:
            todo = stamping.needs_external(w.index)
            entry = stamping.stamp(w, todo, external_only=True) if todo else None
        n = len(entry["tokens"]) if entry else 0
        if as_json:
            emit_json({"upgraded": n})
        else:
            out.print(f"Added external tokens to {n} item(s) and checkpoint(s)." if n else
                      "Every item and checkpoint already has an external token.")
        return
    index = Index(store)
    index.catch_up()
    status = stamping.status(index)
    if as_json:
        emit_json(status)
        return
    out.print(f"{status['items']} items: {status['items_external']} with an external token, "
              f"{status['items_local_only']} with a local one only, "
              f"{status['items_without']} without")
    out.print(f"{status['checkpoints']} checkpoint tokens "
              f"({status['checkpoints_external']} external)")
    if status["items_local_only"] or status["checkpoints_local_only"]:
        out.print("Once online, run: dalel timestamp --upgrade")


@timestamp.command("export")
@click.argument("sha256")
@click.argument("out_file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--external", is_flag=True, help="The external token (fails if there is none).")
@click.pass_context
def timestamp_export(ctx, sha256, out_file, external) -> None:
    """Write an item's token as a TimeStampResp for `openssl ts -verify`."""
    store = store_of(ctx)
    sha = _resolve_item(store, sha256)
    index = Index(store)
    found = index.tokens_for(sha)
    if external:
        found = [t for t in found if t["kind"] == "external"]
    if not found:
        raise UsageError(f"no {'external ' if external else ''}token for {sha[:16]}…",
                         fix="run: dalel timestamp --upgrade" if external else None)
    t = sorted(found, key=lambda t: t["kind"] != "external")[0]
    token = store.objects.path(t["token_sha256"]).read_bytes()
    atomic_write(out_file, response_from_token(token))
    root = store.public_dir / ("tsa-root.pem" if t["source"] == stamping.LOCAL
                               else f"{stamping.ROOTS_DIR}/{t['source']}.pem")
    out.print(f"Wrote {out_file} ({t['kind']} token from {t['source']}, {t['gen_time']}).")
    out.print(f"Verify: openssl ts -verify -digest {sha} -sha256 -in {out_file} "
              f"-CAfile {root}" + (f" -untrusted {store.public_dir / 'tsa.pem'}"
                                   if t["source"] == stamping.LOCAL else ""))


@timestamp.command("add-tsa")
@click.argument("name")
@click.argument("url")
@click.option("--roots", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              required=True, help="PEM file of the TSA's trusted root certificate(s).")
@click.option("--timeout", type=float, default=10.0, show_default=True)
@click.pass_context
def timestamp_add_tsa(ctx, name, url, roots, timeout) -> None:
    """Use an external RFC 3161 TSA first (the local one stays the fallback)."""
    stamping.add_external(store_of(ctx), name, url, roots.read_bytes(), timeout)
    out.print(f"External TSA {name} ({url}) added; it is tried before the local TSA.")


@cli.group()
def precinct() -> None:
    """Precincts: where they are, so that photos taken far away are flagged."""


@precinct.command("set")
@click.argument("number")
@click.option("--lat", type=float, required=True, help="Latitude, decimal degrees.")
@click.option("--lon", type=float, required=True, help="Longitude, decimal degrees.")
@click.option("--radius-km", type=float, default=1.0, show_default=True,
              help="Photos with GPS farther than this are flagged.")
@click.pass_context
def precinct_set(ctx, number, lat, lon, radius_km) -> None:
    """Record a precinct's location."""
    store_of(ctx).set_precinct_location(number, lat, lon, radius_km)
    out.print(f"Precinct {number}: {lat:.5f}, {lon:.5f} (within {radius_km:g} km)")


@cli.command()
@click.pass_context
def reindex(ctx) -> None:
    """Rebuild the SQLite index from the custody log."""
    n = Index(store_of(ctx)).rebuild()
    out.print(f"Indexed {n} entries.")


"""Items and their figures: show, ocr-image, ocr, figures."""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import ocr
from app import figures as figures_mod
from base.errors import UsageError
from cli.output import emit_json, err, out
from cli.root import cli, store_of
from evidence.content.flag_text import message_for
from evidence.storage.index import Index
from evidence.storage.store import Store
from pipeline.figures import OcrStage
from pipeline.run import run_stage_over_store
from pipeline.stages import Status


@cli.command()
@click.argument("sha256")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def show(ctx, sha256, as_json) -> None:
    """An item's metadata and custody history (a unique prefix of the hash will do)."""
    store = store_of(ctx)
    sha = _resolve_item(store, sha256)
    index = Index(store)
    item = index.item(sha)
    history = index.history(sha)
    if as_json:
        emit_json({"item": item, "history": history})
        return
    first = next((e for e in history if e.get("event") == "ingest"), {})
    out.print(f"[bold]{sha}[/]  {item['media_type'] if item else ''}  "
              f"{item['size'] if item else ''} bytes")
    out.print(f"precinct {first.get('precinct')}, kind {first.get('kind')}, "
              f"name {first.get('name')!r}")
    md = first.get("metadata", {})
    for name, f in sorted(md.get("fields", {}).items()):
        out.print(f"  {name}: {f.get('value')}  [dim]({f.get('source')})[/]")
    for flag in md.get("flags", []):
        out.print(f"  [yellow]flag {flag.get('reason')}[/]: {message_for(flag)}")
    t = Table("seq", "time", "event", "actor", "detail", box=None)
    for e in history:
        extra = "received again" if e.get("received_again") else e.get("channel", "")
        t.add_row(str(e["seq"]), e.get("time", ""), e.get("event", ""),
                  (e.get("actor") or {}).get("id") or "", extra or "")
    out.print(t)


# --- reading protocol figures ---------------------------------------------------------
@cli.command("ocr-image")
@click.argument("image", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--form", "form_id", required=True, help="Form id, e.g. kz-mazhilis-party-list-2023.")
@click.option("--json", "as_json", is_flag=True)
def ocr_image(image, form_id, as_json) -> None:
    """Read the tally figures from one protocol photo (no store needed)."""
    ocr.check_environment()
    form = ocr.load_form(form_id)
    reading = ocr.read_protocol(image.read_bytes(), form)
    if as_json:
        emit_json(reading.to_dict())
    else:
        click.echo(ocr.format_table(reading))


@cli.command("ocr")
@click.option("--precinct", default=None, help="Only this precinct's protocols.")
@click.option("--form", "form_id", default=None, help="Form id (default: the store's).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def ocr_cmd(ctx, precinct, form_id, as_json) -> None:
    """Read the figures of every protocol photo in the store (each once per form/engine)."""
    ocr.check_environment()
    store = store_of(ctx)
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}"),
                  TimeElapsedColumn(), console=err, transient=True,
                  disable=not err.is_terminal) as bar:
        task = bar.add_task("reading protocols", total=None)
        results = run_stage_over_store(store, OcrStage(form_id), kind="protocol",
                                       precinct=precinct,
                                       progress=lambda r: bar.update(task, advance=1))
    if as_json:
        emit_json([r.to_dict() for r in results])
        return
    for r in results:
        out.print(f"{r.status.value:8} {r.subject[:16]}…  {r.detail}")
    done = sum(1 for r in results if r.status is Status.DONE)
    out.print(f"{done} read, {len(results) - done} skipped")


@cli.group()
def figures() -> None:
    """Figures read from protocols: show them, confirm them."""


@figures.command("show")
@click.option("--precinct", required=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def figures_show(ctx, precinct, as_json) -> None:
    """Each protocol photo's figures, people's confirmations, and photo-to-photo checks."""
    index = Index(store_of(ctx))
    index.catch_up()
    groups = figures_mod.group(figures_mod.readings(index, precinct))
    if as_json:
        emit_json([_group_dict(g) for g in groups])
        return
    if not groups:
        out.print(f"No protocol readings for precinct {precinct}. Run: dalel ocr "
                  f"--precinct {precinct}")
    for g in groups:
        out.print(f"[bold]Precinct {g.precinct}[/], form {g.form}: {len(g.photos)} photo(s)")
        t = Table("figure", *[p.item[:10] for p in g.photos], box=None)
        for key in g.photos[0].figures:
            cells = []
            for p in g.photos:
                f = p.figures.get(key)
                if f is None:
                    cells.append("")
                    continue
                mark = {"confirmed": "[cyan]✔[/]", "accepted": ""}.get(f.source or "", "")
                shown = f.value if f.value is not None else f"[yellow]{f.machine_value}?[/]" \
                    if f.machine_value is not None else "[red]—[/]"
                cells.append(f"{shown} {mark}{f.machine_status if not f.source else ''}")
            t.add_row(key, *cells)
        out.print(t)
        for p in g.photos:
            for rel, holds in p.relations:
                if holds is False:
                    out.print(f"  [red]relation fails[/] on {p.item[:10]}: {rel}")
        for d in g.disagreements:
            vals = ", ".join(f"{k[:10]}={v}" for k, v in d.values.items())
            out.print(f"  [red]POSSIBLE SUBSTITUTION[/]: {d.field} differs between photos "
                      f"({vals})")
        if g.corroborated:
            out.print(f"  corroborated by several photos: {', '.join(sorted(g.corroborated))}")


def _group_dict(g: figures_mod.ProtocolGroup) -> dict[str, Any]:
    return {
        "precinct": g.precinct, "form": g.form,
        "substitution_suspected": g.substitution_suspected,
        "disagreements": [{"field": d.field, "values": d.values} for d in g.disagreements],
        "corroborated": g.corroborated,
        "same_sheet_pairs": [list(p) for p in g.same_sheet_pairs],
        "photos": [{
            "item": p.item, "reading_seq": p.reading_seq, "problem": p.problem,
            "relations": [{"relation": r, "holds": h} for r, h in p.relations],
            "figures": {k: {"value": f.value, "source": f.source,
                            "machine_value": f.machine_value,
                            "machine_status": f.machine_status, "confidence": f.confidence,
                            "confirmations": [{"value": c.value, "by": c.by, "time": c.time}
                                              for c in f.confirmations]}
                        for k, f in p.figures.items()},
        } for p in g.photos],
    }


@figures.command("confirm")
@click.option("--item", "item", required=True,
              help="SHA-256 of the protocol photo (a prefix will do).")
@click.option("--field", "field_key", required=True)
@click.option("--value", type=click.IntRange(min=0), required=True)
@click.option("--by", default=lambda: os.environ.get("DALEL_USER") or getpass.getuser(),
              help="Who read the figure (default: $DALEL_USER or the login name).")
@click.pass_context
def figures_confirm(ctx, item, field_key, value, by) -> None:
    """Record a person's reading of a figure, beside the machine's (never over it)."""
    store = store_of(ctx)
    sha = _resolve_item(store, item)
    seq = figures_mod.confirm(store, sha, field_key, value, by)
    out.print(f"Recorded: {field_key} = {value} on {sha[:16]}… (custody entry {seq})")


def _resolve_item(store: Store, prefix: str) -> str:
    index = Index(store)
    index.catch_up()
    matches = index.find_by_prefix(prefix.lower())
    if len(matches) != 1:
        raise UsageError(f"{'no item' if not matches else 'several items'} match {prefix!r}",
                         fix="give more characters of the SHA-256")
    return matches[0]



"""Handing files in: init, ingest, run."""

from __future__ import annotations

from pathlib import Path

import click
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from base.errors import EXIT_REFUSED
from cli.output import Exit, emit_json, err, out
from cli.root import cli, store_of
from evidence.content.privacy import observer_pseudonym
from evidence.provision import init_store
from pipeline import order
from pipeline.intake import KINDS, validate_kind
from pipeline.run import BatchResult, run_batch
from pipeline.stages import Status, Submission


@cli.command()
@click.option("--org", default="Dalel", show_default=True, help="Organisation name.")
@click.pass_context
def init(ctx: click.Context, org: str) -> None:
    """Create a new store: folders, the log key, the pseudonym secret, public keys."""
    store = init_store(ctx.obj["store"], org=org)
    out.print(f"Created store [bold]{store.root}[/] for {org}")
    out.print(f"  log origin: {store.config.origin}")
    out.print(f"  public key for auditors: {store.public_dir / 'log.pub'}")


_submission_options = [
    click.option("--observer", required=True, help="Observer ID (an IIN is pseudonymised)."),
    click.option("--precinct", required=True, help="Precinct number."),
    click.option("--kind", type=click.Choice(KINDS), default="other", show_default=True),
    click.option("--channel", default="", help="How the file reached us (e.g. telegram)."),
    click.option("--note", default="", help="A note to keep with every file."),
    click.option("--json", "as_json", is_flag=True, help="Machine-readable output on stdout."),
]


def submission_options(f):
    for opt in reversed(_submission_options):
        f = opt(f)
    return f


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@submission_options
@click.pass_context
def ingest(ctx, paths, observer, precinct, kind, channel, note, as_json) -> None:
    """Store files (folders are walked), log them and print a receipt for each."""
    _batch(ctx, list(paths), observer, precinct, kind, channel, note, as_json, dedupe=False,
           stages=order.INGEST_STAGES)


@cli.command()
@click.argument("inbox", type=click.Path(path_type=Path, exists=True, file_okay=False))
@submission_options
@click.pass_context
def run(ctx, inbox, observer, precinct, kind, channel, note, as_json) -> None:
    """Run every stage over a folder; running it again over the same folder adds nothing.

    A manifest.csv in the folder (file, observer, precinct, kind, channel, note) overrides
    the options per file.
    """
    _batch(ctx, [inbox], observer, precinct, kind, channel, note, as_json, dedupe=True,
           stages=order.ITEM_STAGES)


def _batch(ctx, paths, observer, precinct, kind, channel, note, as_json, *, dedupe,
           stages) -> None:
    store = store_of(ctx)
    validate_kind(kind)
    observer_pseudonym(store.secret, observer)  # a mistyped IIN stops here, before any file
    defaults = Submission(Path("."), "", observer, str(precinct), kind, channel, note)
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}"),
                  TimeElapsedColumn(), console=err, transient=True,
                  disable=not err.is_terminal) as bar:
        task = bar.add_task("ingesting", total=None)
        result = run_batch(
            store, paths, defaults, dedupe=dedupe, stages=stages,
            progress=lambda r: bar.update(task, advance=1, description=r.subject[-40:]),
            on_wait=lambda: err.print("waiting for another dalel process to finish writing…"),
        )
    _report_batch(result, as_json)
    if result.refused:
        raise Exit(EXIT_REFUSED)


def _report_batch(result: BatchResult, as_json: bool) -> None:
    rows = []
    for r in result.results:
        d = r.to_dict()
        rp = result.receipt_for(r)
        d["receipt"] = str(rp) if rp else None
        rows.append(d)
    summary = {
        "stored": len(result.of(Status.DONE)),
        "skipped": len(result.of(Status.SKIPPED)),
        "refused": len(result.refused),
        "checkpoint": str(result.checkpoint) if result.checkpoint else None,
    }
    if as_json:
        emit_json({"summary": summary, "results": rows})
        return
    for d in rows:
        if d["stage"] != "intake":
            continue
        if d["status"] == "done":
            flags = f"  [yellow]flags: {', '.join(d['flags'])}[/]" if d.get("flags") else ""
            out.print(f"[green]stored[/]   {d['subject']}  sha256 {d['sha256']}{flags}")
            out.print(f"         receipt: {d['receipt']}")
        elif d["status"] == "skipped":
            out.print(f"[dim]skipped[/]  {d['subject']}  ({d['detail']})")
        else:
            out.print(f"[red]refused[/]  {d['subject']}  {d['detail']}")
            out.print(f"         quarantined in {d.get('quarantine')}")
    out.print(f"{summary['stored']} stored, {summary['skipped']} skipped, "
              f"{summary['refused']} refused")


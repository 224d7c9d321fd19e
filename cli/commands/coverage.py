"""Coverage: the board's counts, and coverage exchanged between organisations as signed notes
(``dalel coverage show | export | import``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table
from rich.text import Text

from base.fsio import atomic_write
from base.lazy import lazy
from cli.output import Lines, formats, render
from cli.root import cli, store_of

if TYPE_CHECKING:
    from app import coverage
else:
    coverage = lazy("app.coverage")


@dataclass(frozen=True)
class Exported:
    """A coverage note written."""

    path: Path | None
    precincts: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path) if self.path else None, "precincts": self.precincts,
                "sha256": self.sha256}  # fmt: skip


@dataclass(frozen=True)
class Imported:
    """A coverage note checked and kept."""

    note: coverage.Note

    def to_dict(self) -> dict[str, Any]:
        return self.note.to_dict()


@dataclass(frozen=True)
class Shown:
    """The board's counts."""

    board: coverage.Board

    def to_dict(self) -> dict[str, Any]:
        return self.board.to_dict(precincts=False)


@formats(Exported)
def _exported(r: Exported) -> Lines:
    yield Text(f"Coverage of {r.precincts} precinct(s) exported, signed with this store's key.")
    if r.path:
        yield Text(f"Written to {r.path} (SHA-256 {r.sha256}); give it to the other organisation.")


@formats(Imported)
def _imported(r: Imported) -> Lines:
    n = r.note
    yield Text(
        f"Imported the coverage of {n.organisation} ({len(n.precincts)} precincts, made {n.made})."
    )
    yield Text(f"Signed by {n.verifier}")


@formats(Shown)
def _shown(r: Shown) -> Lines:
    b = r.board
    t = Table("region", "precincts", "covered", "partly", "uncovered", "overlap", "photo", box=None)
    for region, c in b.regions:
        t.add_row(
            Text(region or "(not in the registry)"),
            *(
                Text(str(v))
                for v in (c.precincts, c.covered, c.partly, c.uncovered, c.overlap, c.photo)
            ),
        )
    c = b.total
    t.add_row(
        Text("all", style="bold"),
        *(
            Text(str(v), style="bold")
            for v in (c.precincts, c.covered, c.partly, c.uncovered, c.overlap, c.photo)
        ),
    )
    yield t
    if not b.has_registry:
        yield Text("No precinct registry yet: dalel precinct import FILE.csv", style="yellow")
    for n in b.notes:
        yield Text(
            f"Counting {n.organisation}'s coverage ({len(n.precincts)} precincts, made {n.made})."
        )


@cli.group("coverage")
def coverage_group() -> None:
    """Which precincts are watched: the board's counts, and coverage exchanged with other
    organisations as signed notes (never who the observers are)."""


@coverage_group.command("show")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def show(ctx: click.Context, as_json: bool) -> None:
    """Per region: precincts covered (every shift held), partly, uncovered, where two
    organisations overlap, and with a protocol photo; imported coverage counted."""
    render(Shown(coverage.board(store_of(ctx))), as_json)


@coverage_group.command("export")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the note here (default: standard output).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def export(ctx: click.Context, output: Path | None, as_json: bool) -> None:
    """This store's coverage (its approved sign-ups: precincts and shifts) as a note signed
    with the store's log key."""
    import hashlib

    data = coverage.export(store_of(ctx))
    if output is None and not as_json:
        click.echo(data.decode(), nl=False)
        return
    if output is not None:
        atomic_write(output, data)
    precincts = data.count(b"\nprecinct ")
    render(Exported(output, precincts, hashlib.sha256(data).hexdigest()), as_json)


@coverage_group.command("import")
@click.argument("note", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--new-key", is_flag=True, help="Take a note signed by a key other than before.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def import_(ctx: click.Context, note: Path, new_key: bool, as_json: bool) -> None:
    """Another organisation's coverage note: its signature checked (a changed byte is
    refused); the latest note of each organisation counts on the board."""
    size = note.stat().st_size
    if size > coverage.MAX_NOTE:
        raise coverage.CoverageRefused("TOO_LARGE", f"{note} is {size} bytes: not a coverage note")
    render(
        Imported(coverage.import_note(store_of(ctx), note.read_bytes(), new_key=new_key)), as_json
    )

"""Cases, deadlines, official results, discrepancies, dossier build."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from app import deadlines
from base import oneshot
from base.lazy import lazy
from cli.output import busy, render
from cli.root import cli, dossier, store_of

if TYPE_CHECKING:
    from app import cases, dossiers, official
else:
    cases, dossiers, official = lazy("app.cases"), lazy("app.dossiers"), lazy("app.official")


# --- cases, deadlines, official results ------------------------------------------------
@cli.group()
def case() -> None:
    """Complaint cases: open one, give it evidence and details, see its deadline."""


@case.command("new")
@click.option("--precinct", default=None, help="Precinct number.")
@click.option("--kind", type=click.Choice(deadlines.CASE_KINDS), default=None)
@click.option(
    "--to",
    "addressee",
    type=click.Choice(deadlines.ADDRESSEES),
    default="commission",
    show_default=True,
)
@click.option(
    "--event-date",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="Day of the decision or action complained of (default: today, Almaty).",
)
@click.option("--title", default="")
@click.option(
    "--from-discrepancy",
    "from_discrepancy",
    default=None,
    metavar="PRECINCT",
    help="A protocol-figures case for PRECINCT, with its protocol photos attached.",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def case_new(
    ctx: click.Context,
    precinct: str | None,
    kind: str | None,
    addressee: str,
    event_date: datetime | None,
    title: str,
    from_discrepancy: str | None,
    as_json: bool,
) -> None:
    """Open a case and print its id."""
    opened = cases.open_case(
        store_of(ctx),
        precinct=precinct,
        kind=kind,
        addressee=addressee,
        event_date=event_date.date() if event_date else None,
        title=title,
        from_discrepancy=from_discrepancy,
    )
    render(opened, as_json)


@case.command("add-evidence")
@click.argument("case_id")
@click.argument("items", nargs=-1, required=True)
@click.pass_context
def case_add_evidence(ctx: click.Context, case_id: str, items: tuple[str, ...]) -> None:
    """Attach stored items (SHA-256, or a unique prefix) to a case."""
    render(cases.attach_evidence(store_of(ctx), case_id, items))


@case.command("set")
@click.argument("case_id")
@click.option("--title")
@click.option("--respondent", help="The commission complained of.")
@click.option("--respondent-address")
@click.option("--addressee-name", help="The higher commission or court addressed.")
@click.option("--to", "addressee", type=click.Choice(deadlines.ADDRESSEES))
@click.option(
    "--event-date",
    metavar="YYYY-MM-DD",
    help="Day of the decision or action complained of (2000-01-01 to 2100-12-31).",
)
@click.option("--facts", help="Statement of facts (paragraphs separated by a blank line).")
@click.option("--legal-grounds")
@click.option("--relief")
@click.option("--complainant-name")
@click.option("--complainant-iin")
@click.option("--complainant-address")
@click.option("--complainant-phone")
@click.pass_context
def case_set(ctx: click.Context, case_id: str, **details: str | None) -> None:
    """Set a case's details. The complainant's are kept encrypted, never in the log."""
    render(cases.set_details(store_of(ctx), case_id, cases.CaseDetails(**details)))


@case.command("show")
@click.argument("case_id")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def case_show(ctx: click.Context, case_id: str, as_json: bool) -> None:
    """A case: its details, evidence and deadline."""
    render(cases.show_case(store_of(ctx), case_id), as_json)


@case.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def case_list(ctx: click.Context, as_json: bool) -> None:
    """Every case."""
    render(cases.list_cases(store_of(ctx)), as_json)


@cli.command("deadlines")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def deadlines_cmd(ctx: click.Context, as_json: bool) -> None:
    """Open cases by urgency; warns at 3 days or less; says plainly when one has passed."""
    render(cases.by_urgency(store_of(ctx)), as_json)


@cli.group("official")
def official_group() -> None:
    """Official results, to compare with the protocols' figures."""


@official_group.command("import")
@click.argument("csv_file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def official_import(ctx: click.Context, csv_file: Path, as_json: bool) -> None:
    """Import a CSV of official results (replaces the previous import).

    Its first line is the header precinct,field,value; then one row per precinct and figure,
    field being the figure's key in the store's form (voters_voted, amanat…: `dalel
    ocr-image PHOTO --form FORM --json` lists them).
    """
    render(official.import_csv(store_of(ctx), csv_file.read_bytes()), as_json)


@cli.command("discrepancies")
@click.option("--precinct", default=None)
@click.option("--all", "show_all", is_flag=True, help="Also figures that match.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def discrepancies_cmd(
    ctx: click.Context, precinct: str | None, show_all: bool, as_json: bool
) -> None:
    """Protocol figures (confirmed, else accepted) against the official ones."""
    render(official.compare(store_of(ctx), precinct=precinct, show_all=show_all), as_json)


@dossier.command("build")
@click.argument("case_id")
@click.option(
    "--out",
    "out_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Where to write the PDF (the store keeps its own copy).",
)
@click.option(
    "--lang",
    "language",
    type=click.Choice(["ru", "kk", "en"]),
    default="ru",
    show_default=True,
)
@click.option(
    "--edition",
    type=click.Choice(["court", "public"]),
    default="court",
    show_default=True,
    help="court: originals embedded; public: faces blurred, no personal data.",
)
@click.option(
    "--sign",
    "p12",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="Sign with this PKCS#12 file instead of the organization's certificate.",
)
@click.option("--password-env", help="Environment variable holding the PKCS#12 password.")
@click.option(
    "--draft",
    is_flag=True,
    help="Build even what cannot be filed yet (details missing), with DRAFT on every page.",
)
@click.option(
    "--queue",
    "queued",
    is_flag=True,
    help="Put the build on the store's job queue (PostgreSQL): `dalel worker --queues dossier` "
    "on the machine holding the log builds it, `dalel dossier copy` writes it out after.",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def dossier_build(
    ctx: click.Context,
    case_id: str,
    out_file: Path,
    language: str,
    edition: str,
    p12: Path | None,
    password_env: str | None,
    draft: bool,
    queued: bool,
    as_json: bool,
) -> None:
    """Build, sign (PAdES B-T) and write a case's dossier.

    The court edition (the one filed) is refused while the case lacks an addressee, the
    respondent, the complainant, the event date, the facts or the relief; --draft builds it
    anyway, marked DRAFT."""
    store = store_of(ctx)
    if queued:
        if p12 is not None or password_env:
            raise click.UsageError(
                "a queued dossier is signed with the organization's certificate: "
                "leave out --sign and --password-env, or build it here without --queue"
            )
        from app import jobs

        render(
            jobs.queue_dossier(store, case_id, language=language, edition=edition, draft=draft),
            as_json,
        )
        return
    if out_file is None:
        raise click.UsageError("say where to write the dossier: --out FILE (or --queue)")
    oneshot.declare()  # the process ends with this build (base.oneshot)
    with busy("building the dossier…"):
        built = dossiers.build(
            store,
            case_id,
            out_file,
            language=language,
            edition=edition,
            p12=p12,
            password_env=password_env,
            draft=draft,
        )
    render(built, as_json)


@dossier.command("queue")
@click.argument("state", type=click.Choice(["on", "off"]))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def dossier_queue(ctx: click.Context, state: str, as_json: bool) -> None:
    """Whether the workspace's "build" button puts dossiers on the store's job queue
    (PostgreSQL; built by `dalel worker --queues dossier` where the log is) or builds them
    in the web server itself (the default). Counts from the server's next start."""
    from app import jobs

    store = store_of(ctx)
    jobs.set_workspace_queues_dossiers(store, state == "on")
    render(jobs.DossierQueueSetting(state == "on"), as_json)


@dossier.command("copy")
@click.argument("sha256")
@click.option("--out", "out_file", type=click.Path(path_type=Path, dir_okay=False), required=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def dossier_copy(ctx: click.Context, sha256: str, out_file: Path, as_json: bool) -> None:
    """Write out again a dossier this store built (the court edition is kept sealed),
    checked against the hash in the custody log."""
    render(dossiers.copy(store_of(ctx), sha256, out_file), as_json)

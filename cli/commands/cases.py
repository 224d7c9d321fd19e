"""Cases, deadlines, official results, discrepancies, dossier build."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from app import cases as cases_mod
from app import deadlines
from app import dossiers as dossiers_mod
from app import official as official_mod
from base.errors import EXIT_REFUSED, UsageError
from cli.commands.items import _resolve_item
from cli.output import Exit, emit_json, err, out
from cli.root import cli, dossier, store_of
from evidence.storage.index import Index


# --- cases, deadlines, official results ------------------------------------------------
@cli.group()
def case() -> None:
    """Complaint cases: open one, give it evidence and details, see its deadline."""


@case.command("new")
@click.option("--precinct", default=None, help="Precinct number.")
@click.option("--kind", type=click.Choice(deadlines.CASE_KINDS), default=None)
@click.option("--to", "addressee", type=click.Choice(deadlines.ADDRESSEES),
              default="commission", show_default=True)
@click.option("--event-date", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Day of the decision or action complained of (default: today, Almaty).")
@click.option("--title", default="")
@click.option("--from-discrepancy", "from_discrepancy", default=None, metavar="PRECINCT",
              help="A protocol-figures case for PRECINCT, with its protocol photos attached.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def case_new(ctx, precinct, kind, addressee, event_date, title, from_discrepancy,
             as_json) -> None:
    """Open a case and print its id."""
    store = store_of(ctx)
    evidence: tuple[str, ...] = ()
    if from_discrepancy:
        rows = official_mod.discrepancies(store, precinct=from_discrepancy)
        if not rows:
            raise UsageError(f"no protocol readings for precinct {from_discrepancy}",
                             fix=f"run: dalel ocr --precinct {from_discrepancy}")
        precinct, kind = from_discrepancy, kind or "protocol-figures"
        evidence = rows[0].items
    if not precinct or not kind:
        raise UsageError("give --precinct and --kind (or --from-discrepancy PRECINCT)")
    cid = cases_mod.new_case(store, precinct=precinct, kind=kind, addressee=addressee,
                             event_date=event_date.date() if event_date else None,
                             title=title, evidence=evidence,
                             from_discrepancy=bool(from_discrepancy))
    if as_json:
        emit_json({"id": cid})
    else:
        out.print(cid)


@case.command("add-evidence")
@click.argument("case_id")
@click.argument("items", nargs=-1, required=True)
@click.pass_context
def case_add_evidence(ctx, case_id, items) -> None:
    """Attach stored items (SHA-256, or a unique prefix) to a case."""
    store = store_of(ctx)
    n = cases_mod.add_evidence(store, case_id, [_resolve_item(store, i) for i in items])
    out.print(f"{n} item(s) attached to {case_id}")


@case.command("set")
@click.argument("case_id")
@click.option("--title")
@click.option("--respondent", help="The commission complained of.")
@click.option("--respondent-address")
@click.option("--addressee-name", help="The higher commission or court addressed.")
@click.option("--to", "addressee", type=click.Choice(deadlines.ADDRESSEES))
@click.option("--event-date")
@click.option("--facts", help="Statement of facts (paragraphs separated by a blank line).")
@click.option("--legal-grounds")
@click.option("--relief")
@click.option("--complainant-name")
@click.option("--complainant-iin")
@click.option("--complainant-address")
@click.option("--complainant-phone")
@click.pass_context
def case_set(ctx, case_id, **opts) -> None:
    """Set a case's details. The complainant's are kept encrypted, never in the log."""
    public = {k: v for k, v in opts.items() if v is not None and not k.startswith("complainant")}
    personal = {k.removeprefix("complainant_"): v for k, v in opts.items()
                if v is not None and k.startswith("complainant")}
    if not public and not personal:
        raise UsageError("nothing to set", fix="see: dalel case set --help")
    cases_mod.set_fields(store_of(ctx), case_id, public, personal)
    out.print(f"{case_id}: set {', '.join(sorted([*public, *personal]))}")


@case.command("show")
@click.argument("case_id")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def case_show(ctx, case_id, as_json) -> None:
    """A case: its details, evidence and deadline."""
    store = store_of(ctx)
    c = cases_mod.get_case(store, case_id)
    dl = c.deadline(deadlines.load_jurisdiction(), language="en")
    if as_json:
        emit_json({**c.to_dict(), "deadline": _deadline_dict(dl)})
        return
    out.print(f"[bold]{c.id}[/] {c.kind}, precinct {c.precinct}, to the {c.addressee}")
    if c.title:
        out.print(f"  {c.title}")
    out.print(f"  respondent: {c.respondent or '—'}; complainant details: "
              f"{'given (encrypted)' if c.has_complainant else 'not given'}")
    out.print("  deadline: " + _deadline_text(dl))
    for sha in c.evidence:
        out.print(f"  evidence {sha}")


def _deadline_dict(dl: deadlines.Deadline) -> dict[str, Any]:
    return {"due": dl.due.isoformat(), "days_left": dl.days_left, "passed": dl.passed,
            "warning": dl.warning, "rule": dl.rule_id, "citation": dl.citation,
            "counsel_must_confirm": dl.counsel_must_confirm}


def _deadline_text(dl: deadlines.Deadline) -> str:
    if dl.passed:
        return f"[red]PASSED[/] on {dl.due} ({-dl.days_left} day(s) ago)"
    colour = "yellow" if dl.warning else "green"
    return f"[{colour}]{dl.days_left} day(s) left[/], file by {dl.due} (end of day, Almaty)"


@case.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def case_list(ctx, as_json) -> None:
    """Every case."""
    index = Index(store_of(ctx))
    index.catch_up()
    cs = list(cases_mod.all_cases(index).values())
    if as_json:
        emit_json([c.to_dict() for c in cs])
        return
    for c in cs:
        out.print(f"{c.id}  {c.kind:22} precinct {c.precinct:6} {len(c.evidence)} item(s)  "
                  f"{c.title}")
    if not cs:
        out.print("No cases yet. Open one with: dalel case new --precinct N --kind KIND")


@cli.command("deadlines")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def deadlines_cmd(ctx, as_json) -> None:
    """Open cases by urgency; warns at 3 days or less; says plainly when one has passed."""
    index = Index(store_of(ctx))
    index.catch_up()
    jur = deadlines.load_jurisdiction()
    cs = cases_mod.all_cases(index)
    ranked = deadlines.sort_by_urgency(
        [(cid, c.deadline(jur, language="en")) for cid, c in cs.items()])
    if as_json:
        emit_json([{"case": cid, "kind": cs[cid].kind, "precinct": cs[cid].precinct,
                    **_deadline_dict(dl)} for cid, dl in ranked])
        return
    for cid, dl in ranked:
        c = cs[cid]
        out.print(f"{cid}  precinct {c.precinct:6} {c.kind:22} " + _deadline_text(dl))
        if dl.counsel_must_confirm:
            out.print("        [dim]rule to be confirmed by counsel: "
                      f"{dl.citation[:90]}[/]")
    if not ranked:
        out.print("No open cases.")


@cli.group()
def official() -> None:
    """Official results, to compare with the protocols' figures."""


@official.command("import")
@click.argument("csv_file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def official_import(ctx, csv_file, as_json) -> None:
    """Import a CSV with columns precinct,field,value (replaces the previous import)."""
    res = official_mod.import_csv(store_of(ctx), csv_file.read_bytes())
    if as_json:
        emit_json({"rows": len(res.values), "bad_rows": [b.__dict__ for b in res.bad_rows]})
    else:
        out.print(f"Imported {len(res.values)} figures for "
                  f"{len({p for p, _ in res.values})} precinct(s).")
        for b in res.bad_rows:
            out.print(f"  [yellow]line {b.line}[/]: {b.reason} (skipped)")
    if res.bad_rows:
        raise Exit(EXIT_REFUSED)


@cli.command("discrepancies")
@click.option("--precinct", default=None)
@click.option("--all", "show_all", is_flag=True, help="Also figures that match.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def discrepancies_cmd(ctx, precinct, show_all, as_json) -> None:
    """Protocol figures (confirmed, else accepted) against the official ones."""
    rows = official_mod.discrepancies(store_of(ctx), precinct=precinct,
                                      only_differences=not show_all)
    if as_json:
        emit_json([r.to_dict() for r in rows])
        return
    t = Table("precinct", "figure", "protocol", "official", "difference", "source", box=None)
    for r in rows:
        diff = r.difference
        t.add_row(r.precinct, r.field, _num(r.protocol), _num(r.official),
                  f"[red]{diff:+d}[/]" if diff else _num(diff),
                  r.source or ("photos disagree" if r.photos_disagree else "needs review"))
    out.print(t)
    if not rows:
        out.print("No discrepancies found" + ("" if show_all else " (use --all to see all)"))


def _num(v: int | None) -> str:
    return "—" if v is None else str(v)




@dossier.command("build")
@click.argument("case_id")
@click.option("--out", "out_file", type=click.Path(path_type=Path, dir_okay=False),
              required=True)
@click.option("--lang", "language", type=click.Choice(["ru", "kk", "en"]), default="ru",
              show_default=True)
@click.option("--edition", type=click.Choice(["court", "public"]), default="court",
              show_default=True, help="court: originals embedded; public: faces blurred, "
                                      "no personal data.")
@click.option("--sign", "p12", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="Sign with this PKCS#12 file instead of the organization's certificate.")
@click.option("--password-env", help="Environment variable holding the PKCS#12 password.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def dossier_build(ctx, case_id, out_file, language, edition, p12, password_env,
                  as_json) -> None:
    """Build, sign (PAdES B-T) and write a case's dossier."""
    store = store_of(ctx)
    with err.status("building the dossier…") if err.is_terminal else contextlib.nullcontext():
        built = dossiers_mod.build(store, case_id, out_file, language=language, edition=edition,
                               p12=p12, password_env=password_env)
    r = built.result
    if as_json:
        emit_json({"path": str(r.path), "sha256": r.sha256, "size": r.size,
                   "deadline_passed": r.deadline_passed, "derivatives": built.derivatives,
                   "custody_entry": built.dossier_seq})
        return
    out.print(f"Dossier written: [bold]{r.path}[/] ({r.size // 1024} KiB, sha256 {r.sha256})")
    if r.deadline_passed:
        out.print("[red]The filing deadline has passed; the cover says so.[/]")
    if built.derivatives:
        out.print(f"{built.derivatives} derived image(s) recorded in the custody log.")


"""The ``dalel`` command: parses arguments, calls the library, formats output.

Exit codes: 0 success / intact; 1 verification found problems; 2 usage error; 3 some inputs
were refused and quarantined (the rest went in); 4 missing dependency or broken environment.
``--json`` writes machine-readable output to stdout; progress and logs go to stderr.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import ocr
from evidence import audit as audit_mod
from evidence import bundle, receipts, stamping
from evidence.errors import EXIT_PROBLEMS, EXIT_REFUSED, EXIT_USAGE, UsageError
from evidence.flag_text import message_for
from evidence.index import Index
from evidence.keys import PublicKey
from evidence.privacy import observer_pseudonym
from evidence.store import Store, atomic_write, default_store_path
from evidence.tokens import load_certificates, response_from_token
from pipeline import cases as cases_mod
from pipeline import deadlines, order
from pipeline import dossiers as dossiers_mod
from pipeline import figures as figures_mod
from pipeline import official as official_mod
from pipeline.intake import KINDS, validate_kind
from pipeline.run import BatchResult, run_batch, run_stage_over_store
from pipeline.stages import Status, Submission

out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


class Exit(Exception):
    """Leave with an exit code after output was written."""

    def __init__(self, code: int) -> None:
        self.code = code


def _store(ctx: click.Context, local: Path | None = None) -> Store:
    return Store.open(local or ctx.obj["store"])


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--store", "store_dir", type=click.Path(path_type=Path), default=None,
              help="The store directory (default: $DALEL_STORE or ./dalel-store).")
@click.version_option(package_name="dalel")
@click.pass_context
def cli(ctx: click.Context, store_dir: Path | None) -> None:
    """Dalel: evidence from polling stations that a court cannot wave away."""
    ctx.obj = {"store": store_dir or default_store_path()}


@cli.command()
@click.option("--org", default="Dalel", show_default=True, help="Organisation name.")
@click.pass_context
def init(ctx: click.Context, org: str) -> None:
    """Create a new store: folders, the log key, the pseudonym secret, public keys."""
    store = Store.init(ctx.obj["store"], org=org)
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
    store = _store(ctx)
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


@cli.group()
def receipt() -> None:
    """Receipts observers hold for the files they handed in."""


@receipt.command("verify")
@click.argument("receipt_file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--key", "key_file", type=click.Path(path_type=Path, exists=True),
              help="The log's public key (public/log.pub) to pin.")
@click.option("--tsa-root", "tsa_root_file", type=click.Path(path_type=Path, exists=True),
              help="The TSA root certificate(s) to trust for the item's token (PEM).")
@click.option("--store", "store_dir", type=click.Path(path_type=Path), default=None,
              help="Also check against this store: the log only grew, the object is intact. "
                   "Pins the store's log key and TSA roots.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def receipt_verify(ctx, receipt_file, key_file, tsa_root_file, store_dir, as_json) -> None:
    """Check a receipt offline with nothing but the receipt and the log's public key."""
    try:
        data = json.loads(receipt_file.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UsageError(f"{receipt_file} is not a receipt (not JSON: {e})") from None
    pinned = None
    if key_file:
        try:
            pinned = PublicKey.from_verifier(key_file.read_text())
        except ValueError as e:
            raise UsageError(f"{key_file} is not a log public key: {e}") from None
    store = Store.open(store_dir) if store_dir is not None else None
    if pinned is None and store is not None:
        pinned = store.public_key()
    tsa_roots = None
    if tsa_root_file:
        try:
            tsa_roots = load_certificates(tsa_root_file.read_bytes())
        except ValueError:
            raise UsageError(f"{tsa_root_file} holds no PEM certificate",
                             fix="give public/tsa-root.pem of the store") from None
    elif store is not None and isinstance(data, dict):
        source = (data.get("timestamp") or {}).get("source", stamping.LOCAL)
        tsa_roots = stamping.roots_for(store.public_dir, str(source))
    report = receipts.verify(data, pinned, tsa_roots=tsa_roots)
    if store is not None:
        report = receipts.verify_against_store(data, report, store)
    if as_json:
        emit_json(report.to_dict())
    else:
        for c in report.checks:
            colour = {"PASSED": "green", "WARNING": "yellow"}.get(c.status.value, "red")
            reason = f" {c.reason.value}" if c.reason else ""
            detail = f": {c.detail}" if c.detail else ""
            out.print(f"[{colour}]{c.status.value:8}[/] {c.id}{reason}{detail}")
        out.print(f"item {report.item_sha256}, leaf {report.leaf_index}: "
                  + ("[green]receipt holds[/]" if report.ok else "[red]receipt does NOT hold[/]"))
    if not report.ok:
        raise Exit(EXIT_PROBLEMS)


@cli.command()
@click.option("--bundle", "bundle_dir", type=click.Path(path_type=Path, exists=True,
                                                        file_okay=False),
              help="Audit an exported bundle instead of a store (no private key needed).")
@click.option("--no-rehash", is_flag=True, help="Do not re-hash objects (faster).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def audit(ctx, bundle_dir, no_rehash, as_json) -> None:
    """Check every object, entry, checkpoint and receipt; report every problem."""
    if bundle_dir:
        source: Any = audit_mod.BundleSource(bundle_dir)
    else:
        source = audit_mod.StoreSource(_store(ctx), rehash=not no_rehash)
    with err.status("auditing…") if err.is_terminal else contextlib.nullcontext():
        report = audit_mod.run(source)
    if as_json:
        emit_json(report.to_dict())
    else:
        out.print(f"{report.entries} entries, {report.objects_checked} objects"
                  f"{'' if report.objects_rehashed else ' (not re-hashed)'}, "
                  f"{report.checkpoints} checkpoints, {report.receipts} receipts")
        if report.findings:
            t = Table("severity", "check", "item", "reason", "detail", box=None)
            for f in report.findings:
                t.add_row(f.severity.value, f.check, f.item[:20], f.reason.value, f.detail)
            out.print(t)
        out.print("[green]INTACT[/]: every check passed" if report.ok else
                  f"[red]PROBLEMS[/]: {len(report.failures)} failed checks")
    if not report.ok:
        raise Exit(EXIT_PROBLEMS)


@cli.command("export-audit")
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option("--with-objects", is_flag=True, help="Copy the objects too.")
@click.pass_context
def export_audit(ctx, out_dir, with_objects) -> None:
    """Write what an auditor needs, and nothing private, to OUT_DIR."""
    counts = bundle.export(_store(ctx), out_dir, with_objects=with_objects)
    out.print(f"Exported {counts['entries']} entries and {counts['objects']} object hashes "
              f"to {out_dir}. Verify with: dalel audit --bundle {out_dir}")


@cli.command()
@click.argument("sha256")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def show(ctx, sha256, as_json) -> None:
    """An item's metadata and custody history (a unique prefix of the hash will do)."""
    store = _store(ctx)
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
    store = _store(ctx)
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}"),
                  TimeElapsedColumn(), console=err, transient=True,
                  disable=not err.is_terminal) as bar:
        task = bar.add_task("reading protocols", total=None)
        results = run_stage_over_store(store, figures_mod.OcrStage(form_id), kind="protocol",
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
    index = Index(_store(ctx))
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
    store = _store(ctx)
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
    store = _store(ctx)
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
    store = _store(ctx)
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
    cases_mod.set_fields(_store(ctx), case_id, public, personal)
    out.print(f"{case_id}: set {', '.join(sorted([*public, *personal]))}")


@case.command("show")
@click.argument("case_id")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def case_show(ctx, case_id, as_json) -> None:
    """A case: its details, evidence and deadline."""
    store = _store(ctx)
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
    index = Index(_store(ctx))
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
    index = Index(_store(ctx))
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
    res = official_mod.import_csv(_store(ctx), csv_file.read_bytes())
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
    rows = official_mod.discrepancies(_store(ctx), precinct=precinct,
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


# --- dossiers ---------------------------------------------------------------------------
@cli.group()
def dossier() -> None:
    """Court-ready PDF dossiers: build one for a case, verify one."""


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
    store = _store(ctx)
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


@dossier.command("verify")
@click.argument("pdf_file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--store", "store_dir", type=click.Path(path_type=Path), default=None,
              help="The store that made it: trust its certificates, check every exhibit "
                   "is in its custody log.")
@click.option("--trust", "trust_files", multiple=True,
              type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="A CA certificate (PEM) to trust for the signature and its timestamp.")
@click.option("--json", "as_json", is_flag=True)
def dossier_verify(pdf_file, store_dir, trust_files, as_json) -> None:
    """Check a dossier: signature over the whole file, timestamp, every attachment's hash."""
    store = Store.open(store_dir) if store_dir else None
    trust = [p.read_bytes() for p in trust_files]
    report = dossiers_mod.verify(pdf_file.read_bytes(), store=store, trust=trust,
                             tsa_trust=list(trust))
    if as_json:
        emit_json({"ok": report.ok, "signer": report.signer,
                   "signed_at": report.signed_at.isoformat() if report.signed_at else None,
                   "checks": [{"check": c.check, "status": c.status.value,
                               "reason": c.reason.value, "detail": c.detail}
                              for c in report.checks]})
    else:
        for c in report.checks:
            ok = c.status.value == "PASSED"
            colour = "green" if ok else "red"
            reason = "" if ok else f" {c.reason.value}"
            out.print(f"[{colour}]{c.status.value:8}[/] {c.check}{reason}"
                      + (f": {c.detail}" if c.detail else ""))
        out.print(f"signed by {report.signer or '—'}: "
                  + ("[green]dossier intact[/]" if report.ok else "[red]dossier NOT intact[/]"))
    if not report.ok:
        raise Exit(EXIT_PROBLEMS)


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
    store = _store(ctx)
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
    store = _store(ctx)
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
    stamping.add_external(_store(ctx), name, url, roots.read_bytes(), timeout)
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
    _store(ctx).set_precinct_location(number, lat, lon, radius_km)
    out.print(f"Precinct {number}: {lat:.5f}, {lon:.5f} (within {radius_km:g} km)")


@cli.command()
@click.pass_context
def reindex(ctx) -> None:
    """Rebuild the SQLite index from the custody log."""
    n = Index(_store(ctx)).rebuild()
    out.print(f"Indexed {n} entries.")


def main(argv: list[str] | None = None) -> int:
    """Entry point: the one place that turns errors into messages and exit codes."""
    try:
        cli.main(args=argv, prog_name="dalel", standalone_mode=False)
    except Exit as e:
        return e.code
    except click.exceptions.Abort:
        err.print("aborted")
        return EXIT_USAGE
    except click.ClickException as e:
        e.show()
        return EXIT_USAGE
    except Exception as e:
        code = getattr(e, "exit_code", None)
        if not isinstance(code, int):
            raise  # a bug, not a user's problem: let the traceback show
        err.print(f"[red]error:[/] {getattr(e, 'message', None) or e}", markup=True)
        fix = getattr(e, "fix", None)
        if fix:
            err.print(f"  fix: {fix}")
        return code
    return 0


if __name__ == "__main__":
    sys.exit(main())

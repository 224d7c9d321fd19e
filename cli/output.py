"""Where output goes: results on stdout (text or ``--json``), progress and messages on stderr."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

import click
from rich.console import Console, RenderableType
from rich.markup import escape
from rich.text import Text

import ocr  # lazy: its names load their own modules (ocr.Reason does not start OpenCV)
from evidence.core.checks import Check, Report, Status, reason_value

if TYPE_CHECKING:  # the results' types, named by their module below: every command imports
    # this module, and a command must load only what it uses (dalel --help loads none)
    from rich.table import Table

    from app import cases, deadlines, dossiers, figures, items, official, setup, timestamps, verify
    from app.precinct import PrecinctCheck

out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


class Exit(Exception):
    """Leave with an exit code after output was written."""

    def __init__(self, code: int) -> None:
        self.code = code


# --- reports ---------------------------------------------------------------------------------
#: The colour of each check status in text output.
STATUS_STYLE: dict[Status, str] = {
    Status.PASSED: "green",
    Status.WARNING: "yellow",
    Status.SKIPPED: "dim",
    Status.FAILED: "red",
    Status.INDETERMINATE: "red",
}
_STATUS_WIDTH = max(len(s.value) for s in Status)


def check_text(check: Check) -> Text:
    """One check as one line: its status (coloured), id, subject, reason and detail.

    Built as rich ``Text``, so that file names and details are printed as they are and never
    read as markup."""
    line = Text()
    line.append(check.status.value.ljust(_STATUS_WIDTH), style=STATUS_STYLE[check.status])
    line.append(f" {check.id}")
    if check.subject:
        line.append(f" {check.subject}")
    if check.reason is not None:
        line.append(f" {reason_value(check.reason)}")
    if check.detail:
        line.append(f": {check.detail}")
    return line


def render_report(
    report: Report,
    as_json: bool,
    *,
    headline: str = "",
    subject: str = "",
    holds: str = "",
    fails: str = "",
) -> None:
    """Print any verification report on stdout.

    JSON: ``report.to_dict()``. Text: ``headline`` (if any), one line per check, then the
    bottom line: ``subject: holds`` in green when the report is ok, ``subject: fails`` in red
    otherwise (both default to the report's bottom line, PASSED / FAILED / INDETERMINATE).
    Every piece of text is printed as it is, never as markup. The caller decides the exit
    code (``report.exit_code``)."""
    if as_json:
        emit_json(report.to_dict())
        return
    if headline:
        out.print(Text(headline))
    for check in report.checks:
        out.print(check_text(check))
    verdict = (holds if report.ok else fails) or report.bottom_line.value
    bottom = Text(f"{subject}: " if subject else "")
    bottom.append(verdict, style="green" if report.ok else "red")
    out.print(bottom)


# --- results of app operations: one renderer, a text formatter per result type ---------------
class Result(Protocol):
    """What every app operation returns: a frozen dataclass whose ``to_dict()`` is its JSON."""

    def to_dict(self) -> Any:
        """The JSON form (the contract every front end shares)."""
        ...


@runtime_checkable
class HasExitCode(Protocol):
    """A result that says how the command ends (3 when some inputs were refused…)."""

    @property
    def exit_code(self) -> int:
        """The exit code the command leaves with."""
        ...


Lines = Iterator[RenderableType]
"""What a text formatter yields: rich renderables (``Text``, ``Table``), never markup strings."""
_FORMATTERS: dict[str, Callable[[Any], Lines]] = {}
_R = TypeVar("_R")


def type_name(cls: type) -> str:
    """``module.Class``: how a formatter names the type of results it prints."""
    return f"{cls.__module__}.{cls.__qualname__}"


def formats(cls: type[_R] | str) -> Callable[[Callable[[_R], Lines]], Callable[[_R], Lines]]:
    """Register the decorated function as the text form of results of type ``cls`` (a type,
    or its :func:`type_name`, so that this module need not import the type's module)."""

    def register(fn: Callable[[_R], Lines]) -> Callable[[_R], Lines]:
        _FORMATTERS[cls if isinstance(cls, str) else type_name(cls)] = fn
        return fn

    return register


def render(result: Result, as_json: bool = False) -> None:
    """Print ``result`` on stdout: as JSON (``to_dict()``) or as text (its type's formatter),
    then leave with the result's exit code when it has a nonzero one.

    Text never goes through rich markup: file names, notes, titles and paths are printed as
    they are."""
    if as_json:
        emit_json(result.to_dict())
    else:
        names = (type_name(c) for c in type(result).__mro__)
        formatter = next((_FORMATTERS[n] for n in names if n in _FORMATTERS), None)
        if formatter is None:
            raise TypeError(f"no text form for {type(result).__name__}")
        lines = list(formatter(result))
        if lines:  # (one print: rich's set-up per print cost 40 µs a line of a batch's 380)
            out.print(*lines, sep="\n")
    if isinstance(result, HasExitCode) and result.exit_code:
        raise Exit(result.exit_code)


def _text(*parts: str | tuple[str, str]) -> Text:
    """Plain text pieces, some with a style; nothing is read as markup."""
    return Text.assemble(*parts)


def _table(*headers: str) -> Table:
    from rich.table import Table  # (here: checking a receipt prints no table)

    return Table(*headers, box=None)


WRAP_WIDTH = 100
"""Columns a long text (a legal citation) is wrapped to, at word boundaries."""


def wrapped(text: str, *, indent: int = 0, width: int = WRAP_WIDTH) -> list[str]:
    """``text`` in lines of at most ``width`` columns, each indented by ``indent`` spaces,
    broken only between words (a word longer than a line is kept whole): never cut."""
    import textwrap

    return textwrap.wrap(
        text,
        width=width,
        initial_indent=" " * indent,
        subsequent_indent=" " * indent,
        break_long_words=False,
        break_on_hyphens=False,
    ) or [" " * indent]


# --- progress on stderr ------------------------------------------------------------------------
@contextlib.contextmanager
def progress_bar(
    description: str, *, show_subject: bool = False
) -> Iterator[Callable[[Any], None]]:
    """A progress bar on stderr (when it is a terminal) for a batch; yields the callback that
    advances it by one (with ``show_subject``, showing the end of the result's subject)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as bar:
        task = bar.add_task(description, total=None)

        def advance(result: Any) -> None:
            if show_subject:
                bar.update(task, advance=1, description=escape(str(result.subject)[-40:]))
            else:
                bar.update(task, advance=1)

        yield advance


def waiting() -> None:
    """Say on stderr that another process holds the store's writer."""
    err.print("waiting for another dalel process to finish writing…")


@contextlib.contextmanager
def busy(message: str) -> Iterator[None]:
    """``message`` on stderr while something long runs (on a terminal), gone when it ends.

    Drawn once, not animated: a spinner is redrawn by a thread of its own, and a process
    running another thread lays a long dossier out whole, on one core, instead of on both
    (:func:`app.dossier.render.split_allowed`: only a process of one thread forks)."""
    if not err.is_terminal:
        yield
        return
    from rich.live import Live

    with Live(
        Text(message),
        console=err,
        auto_refresh=False,
        transient=True,
        redirect_stdout=False,
        redirect_stderr=False,
    ):
        yield


# --- setup and items ---------------------------------------------------------------------------
@formats("app.setup.Initialized")
def _initialized(r: setup.Initialized) -> Lines:
    yield _text("Created store ", (str(r.root), "bold"), f" for {r.org}")
    yield _text(f"  log origin: {r.origin}")
    yield _text(f"  public key for auditors: {r.public_key}")


@formats("app.setup.PrecinctLocation")
def _precinct(r: setup.PrecinctLocation) -> Lines:
    yield _text(f"Precinct {r.precinct}: {r.lat:.5f}, {r.lon:.5f} (within {r.radius_km:g} km)")


@formats("app.setup.Reindexed")
def _reindexed(r: setup.Reindexed) -> Lines:
    yield _text(f"Indexed {r.entries} entries.")


@formats("app.items.BatchSummary")
def _batch(r: items.BatchSummary) -> Lines:
    for o in r.intake:
        d = o.to_dict()
        if d["status"] == "done":
            flags = ("  flags: " + ", ".join(d["flags"]), "yellow") if d.get("flags") else ""
            yield _text(("stored", "green"), f"   {d['subject']}  sha256 {d['sha256']}", flags)
            yield _text(f"         receipt: {d['receipt']}")
        elif d["status"] == "skipped":
            yield _text(("skipped", "dim"), f"  {d['subject']}  ({d['detail']})")
        else:
            yield _text(("refused", "red"), f"  {d['subject']}  {d['detail']}")
            yield _text(f"         quarantined in {d.get('quarantine')}")
    yield _text(f"{r.stored} stored, {r.skipped} skipped, {r.refused} refused")
    if r.protocols is not None:
        yield from _protocols_read(r.protocols, r.intake)
    if r.stopped is not None:
        s = r.stopped
        yield _text(
            ("stopped: ", "red"),
            f"{s.error.message}; {s.not_taken} file(s) not taken, from {s.first!r} on "
            "(those above were taken and receipted)",
        )
        yield _text(f"  fix: {s.error.fix}")


def _protocols_read(p: items.ProtocolsRead, intake: tuple[items.Outcome, ...]) -> Lines:
    """What ``run`` read as protocols, and which photos handed in without a kind it did not."""
    if p.read:
        found = (
            f" ({p.found} of them handed in without --kind and found by their content)"
            if p.found
            else ""
        )
        yield _text(f"{p.read} protocol photo(s) read{found}")
    if p.not_read:
        names = {o.result.item.sha256: o.result.subject for o in intake if o.result.item}
        yield _text(
            ("not read as protocols", "yellow"),
            f": {len(p.not_read)} photo(s) handed in as kind 'other' (no --kind protocol) "
            "do not read as a protocol:",
        )
        for sha, why in p.not_read:
            yield _text(f"         {names.get(sha, '')}  sha256 {sha}")
            yield _text(f"           {reason_text(why)}")
        yield _text(f"  fix: {p.fix}")


@formats("app.items.ItemView")
def _item(r: items.ItemView) -> Lines:
    row = r.item or {}
    first = r.first_ingest
    yield _text((r.sha256, "bold"), f"  {row.get('media_type', '')}  {row.get('size', '')} bytes")
    yield _text(
        f"precinct {first.get('precinct')}, kind {first.get('kind')}, name {first.get('name')!r}"
    )
    for name, f in sorted(r.metadata.get("fields", {}).items()):
        yield _text(f"  {name}: {f.get('value')}  ", (f"({f.get('source')})", "dim"))
    from evidence.content.flag_text import message_for

    for flag in r.metadata.get("flags", []):
        yield _text("  ", (f"flag {flag.get('reason')}", "yellow"), f": {message_for(flag)}")
    t = _table("seq", "time", "event", "actor", "detail")
    for e in r.history:
        extra = "received again" if e.get("received_again") else e.get("channel", "")
        t.add_row(
            *(
                Text(str(v))
                for v in (
                    e["seq"],
                    e.get("time", ""),
                    e.get("event", ""),
                    (e.get("actor") or {}).get("id") or "",
                    extra or "",
                )
            )
        )
    yield t


# --- figures -----------------------------------------------------------------------------------
@formats("ocr.result.ProtocolReading")
def _reading(r: ocr.ProtocolReading) -> Lines:
    yield Text(ocr.format_table(r))


@formats("app.figures.OcrRun")
def _ocr_run(r: figures.OcrRun) -> Lines:
    for s in r.results:
        yield _text(f"{s.status.value:8} {s.subject[:16]}…  {s.detail}")
    yield _text(f"{r.read} read, {r.skipped} skipped")


#: Why the machine gave a figure no value, or a page none at all, in words (by the reading's
#: named reason; a reason not listed is shown as its name alone).
REASON_TEXT: dict[ocr.Reason, str] = {
    ocr.Reason.NOT_AN_IMAGE: "the file cannot be decoded as an image: damaged or cut short",
    ocr.Reason.TOO_SMALL: "the image is too small to read",
    ocr.Reason.TOO_LARGE: "the image is too large to read",
    ocr.Reason.BLANK: "the page is blank",
    ocr.Reason.NOT_A_PROTOCOL: "too few of the form's labels were found: not a protocol of "
    "this form, or too blurred, dark or cut off to read",
    ocr.Reason.FORM_MISMATCH: "the page is a protocol of another form",
    ocr.Reason.OCR_FAILED: "the OCR engine failed or gave no answer in time",
    ocr.Reason.LABEL_NOT_FOUND: "its label was not found on the page",
    ocr.Reason.FIGURE_NOT_FOUND: "no figure was found next to its label",
    ocr.Reason.LABEL_PLACED_BY_ORDER: "its label was placed by the form's order, not read",
    ocr.Reason.LABEL_CROWDED: "its label is too close to the one before",
    ocr.Reason.FIGURE_SHARED: "two labels claim the same figure",
    ocr.Reason.FIGURE_NOT_ISOLATED: "the figure may be cut short or run into other ink",
    ocr.Reason.ONE_TWO_STROKES_THICK: "a 1 in it is as thick as two strokes: it may be two 1s "
    "written together, and the figure a digit longer",
    ocr.Reason.FIGURE_NOT_LEVEL: "the figure stands below its label's lines, not beside them: "
    "it may be the next row's figure",
    ocr.Reason.DIGITS_WORDS_DISAGREE: "the figure in digits and in words disagree",
    ocr.Reason.READINGS_DISAGREE: "the readers disagree",
    ocr.Reason.UNSUPPORTED: "its readers agree, but not strongly enough to stand without the "
    "arithmetic, and no control equality it is in can be checked",
    ocr.Reason.RELATION_FAILS: "a control relation it is in does not hold",
    ocr.Reason.SINGLE_READING: "only one reader read it",
    ocr.Reason.LOW_CONFIDENCE: "the readers are not sure enough",
    ocr.Reason.RANKED_BY_RELATION: "chosen among its candidates by a control relation",
    ocr.Reason.DIGIT_MISREAD_ON_PAGE: "a digit of it was misread elsewhere on this page",
    ocr.Reason.HAND_MISREAD_ON_PAGE: "other digits in this hand were misread on this page",
}


def reason_text(reason: str) -> str:
    """A reading's named reason with its meaning: ``label_not_found (its label was not found
    on the page)``; the name alone when it has no text here."""
    try:
        words = REASON_TEXT.get(ocr.Reason(reason))
    except ValueError:
        words = None
    return f"{reason} ({words})" if words else reason or "no reason recorded"


def _why_no_value(p: figures.ProtocolFigures) -> Lines:
    """Why figures of one photo have no value: the page's problem, else one line per status
    and reason naming the figures."""
    if p.problem:
        yield _text("  ", (f"{p.item[:10]} not read", "red"), f": {reason_text(p.problem)}")
        return
    missing: dict[tuple[str, str], list[str]] = {}
    for key, f in p.figures.items():
        if f.value is None:
            missing.setdefault((f.machine_status, f.reason), []).append(key)
    for (status, reason), keys in missing.items():
        style = "red" if status == "unreadable" else "yellow"
        yield _text(
            "  ", (f"{p.item[:10]} {status}", style), f": {', '.join(keys)}: {reason_text(reason)}"
        )


def _figure_cell(f: figures.Figure | None) -> Text:
    """A figure's value; ``611?`` (yellow) for the machine's unaccepted reading, ``—`` (red)
    for none, ``✔`` after a person's; the lines under the table say why a value is missing."""
    if f is None:
        return Text("")
    if f.value is not None:
        cell = Text(str(f.value))
    elif f.machine_value is not None:
        cell = Text(f"{f.machine_value}?", style="yellow")
    else:
        cell = Text("—", style="red")
    if f.source == "confirmed":
        cell.append(" ✔", style="cyan")
    return cell


@formats("app.figures.FiguresView")
def _figures(r: figures.FiguresView) -> Lines:
    if not r.groups:
        yield _text(
            f"No protocol readings for precinct {r.precinct}. "
            f"Read its protocol photos with: dalel ocr --precinct {r.precinct}"
        )
        yield _text("(a photo not handed in as a protocol: dalel ocr --item SHA256)")
    for g in r.groups:
        yield _text(
            (f"Precinct {g.precinct}", "bold"), f", form {g.form}: {len(g.photos)} photo(s)"
        )
        yield from _precinct_mismatch_lines(g.precinct_mismatches)
        t = _table("figure", *[p.item[:10] for p in g.photos])
        for column in t.columns:  # a figure's key and a photo's hash are never cut
            column.no_wrap = True
            column.min_width = 10
        t.columns[0].min_width = max(len(k) for k in g.photos[0].figures)
        for key in g.photos[0].figures:
            t.add_row(Text(key), *[_figure_cell(p.figures.get(key)) for p in g.photos])
        yield t
        for p in g.photos:
            yield from _why_no_value(p)
        if any(f.value is None for p in g.photos for f in p.figures.values()):
            yield _text(
                "  a person's reading of a figure: "
                "dalel figures confirm --item SHA256 --field KEY --value N"
            )
        for p in g.photos:
            for rel, holds in p.relations:
                if holds is False:
                    yield _text("  ", ("relation fails", "red"), f" on {p.item[:10]}: {rel}")
        for d in g.disagreements:
            vals = ", ".join(f"{k[:10]}={v}" for k, v in d.values.items())
            yield _text(
                "  ",
                ("POSSIBLE SUBSTITUTION", "red"),
                f": {d.field} differs between photos ({vals})",
            )
        if g.corroborated:
            yield _text(f"  corroborated by several photos: {', '.join(sorted(g.corroborated))}")


@formats("app.figures.Confirmed")
def _confirmed(r: figures.Confirmed) -> Lines:
    yield _text(f"Recorded: {r.field} = {r.value} on {r.item[:16]}… (custody entry {r.seq})")


# --- timestamps --------------------------------------------------------------------------------
@formats("app.timestamps.TimestampStatus")
def _ts_status(r: timestamps.TimestampStatus) -> Lines:
    yield _text(
        f"{r.items} items: {r.items_external} with an external token, "
        f"{r.items_local_only} with a local one only, {r.items_without} without"
    )
    yield _text(f"{r.checkpoints} checkpoint tokens ({r.checkpoints_external} external)")
    if r.upgrade_due:
        yield _text("Once online, run: dalel timestamp --upgrade")


@formats("app.timestamps.Upgraded")
def _upgraded(r: timestamps.Upgraded) -> Lines:
    yield _text(
        f"Added external tokens to {r.upgraded} item(s) and checkpoint(s)."
        if r.upgraded
        else "Every item and checkpoint already has an external token."
    )


@formats("app.timestamps.ExportedToken")
def _exported(r: timestamps.ExportedToken) -> Lines:
    yield _text(f"Wrote {r.path} ({r.kind} token from {r.source}, {r.gen_time}).")
    yield _text(f"Verify: {r.verify_command}")


@formats("app.timestamps.TsaAdded")
def _tsa_added(r: timestamps.TsaAdded) -> Lines:
    yield _text(f"External TSA {r.name} ({r.url}) added; it is tried before the local TSA.")


# --- cases, deadlines, official results, dossiers -----------------------------------------------
def _deadline_text(dl: deadlines.Deadline) -> Text:
    if dl.passed:
        return _text(("PASSED", "red"), f" on {dl.due} ({-dl.days_left} day(s) ago)")
    colour = "yellow" if dl.warning else "green"
    return _text(
        (f"{dl.days_left} day(s) left", colour), f", file by {dl.due} (end of day, Almaty)"
    )


@formats("app.cases.CaseOpened")
def _case_opened(r: cases.CaseOpened) -> Lines:
    yield _text(r.id)


@formats("app.cases.EvidenceAttached")
def _attached(r: cases.EvidenceAttached) -> Lines:
    yield _text(f"{r.added} item(s) attached to {r.case_id}")


@formats("app.cases.DetailsSet")
def _details_set(r: cases.DetailsSet) -> Lines:
    yield _text(f"{r.case_id}: set {', '.join(r.names)}")


@formats("app.cases.CaseView")
def _case(r: cases.CaseView) -> Lines:
    c = r.case
    yield _text((c.id, "bold"), f" {c.kind}, precinct {c.precinct}, to the {c.addressee}")
    if c.title:
        yield _text(f"  {c.title}")
    given = "given (encrypted)" if c.has_complainant else "not given"
    yield _text(f"  respondent: {c.respondent or '—'}; complainant details: {given}")
    yield _text("  deadline: ") + _deadline_text(r.deadline)
    for sha in c.evidence:
        yield _text(f"  evidence {sha}")


@formats("app.cases.CaseList")
def _cases(r: cases.CaseList) -> Lines:
    for c in r.cases:
        yield _text(
            f"{c.id}  {c.kind:22} precinct {c.precinct:6} {len(c.evidence)} item(s)  {c.title}"
        )
    if not r.cases:
        yield _text("No cases yet. Open one with: dalel case new --precinct N --kind KIND")


@formats("app.cases.DeadlineList")
def _deadlines(r: cases.DeadlineList) -> Lines:
    for row in r.rows:
        c, dl = row.case, row.deadline
        yield _text(f"{c.id}  precinct {c.precinct:6} {c.kind:22} ") + _deadline_text(dl)
        if dl.counsel_must_confirm:
            for line in wrapped("rule to be confirmed by counsel: " + dl.citation, indent=8):
                yield _text((line, "dim"))
    if not r.rows:
        yield _text("No open cases.")


@formats("app.official.OfficialResults")
def _imported(r: official.OfficialResults) -> Lines:
    yield _text(f"Imported {len(r.values)} figures for {r.precincts} precinct(s).")
    for b in r.bad_rows:
        yield _text("  ", (f"line {b.line}", "yellow"), f": {b.reason} (skipped)")


def _num(v: int | None) -> str:
    return "—" if v is None else str(v)


def _precinct_mismatch_lines(checks: tuple[PrecinctCheck, ...]) -> Lines:
    """One plain warning per photo whose sheet shows another precinct's number, and how a
    person records what the sheet says."""
    from app.precinct import PRECINCT_FIELD, PRECINCT_MISMATCH

    for c in checks:
        who = f"read by {c.by}" if c.status == "confirmed" else "read by the machine"
        yield _text(
            "  ",
            (PRECINCT_MISMATCH, "bold red"),
            f": photo {c.item[:16]}… was filed under precinct {c.filed}, but its sheet shows "
            f"precinct № {c.on_sheet} ({who}). Its figures are not counted for precinct "
            f"{c.filed}.",
        )
        yield _text(
            "    a person's reading of the number on the sheet: dalel figures confirm "
            f"--item {c.item[:16]} --field {PRECINCT_FIELD} --value N --by NAME"
        )


def _source_text(d: official.Discrepancy) -> Text:
    """Where a row's protocol figure comes from, or why it has none; ``PRECINCT_MISMATCH``
    (the lines under the table say which photo) when a photo of the precinct was left out."""
    from app.precinct import PRECINCT_MISMATCH

    if d.precinct_mismatch and len(d.precinct_mismatch) == len(d.items):
        sheets = ", ".join(sorted({f"№ {c.on_sheet}" for c in d.precinct_mismatch}))
        return _text((PRECINCT_MISMATCH, "red"), f" {sheets}")
    text = Text(d.source or ("photos disagree" if d.photos_disagree else "needs review"))
    if d.precinct_mismatch:
        text.append(", ").append(PRECINCT_MISMATCH, style="red")
    return text


@formats("app.official.DiscrepancyTable")
def _discrepancies(r: official.DiscrepancyTable) -> Lines:
    t = _table("precinct", "figure", "protocol", "official", "difference", "source")
    for d in r.rows:
        diff = d.difference
        t.add_row(
            Text(d.precinct),
            Text(d.field),
            Text(_num(d.protocol)),
            Text(_num(d.official)),
            Text(f"{diff:+d}", style="red") if diff else Text(_num(diff)),
            _source_text(d),
        )
    yield t
    if not r.rows:
        yield _text("No discrepancies found" + ("" if r.show_all else " (use --all to see all)"))
    yield from _precinct_mismatch_lines(r.precinct_mismatch)


@formats("app.dossiers.Built")
def _built(r: dossiers.Built) -> Lines:
    b = r.result
    yield _text(
        "Dossier written: ",
        (str(b.path), "bold"),
        f" ({b.size // 1024} KiB, sha256 {b.sha256})",
    )
    if r.draft:
        yield _text(("DRAFT: marked on every page; not to be filed.", "yellow"))
        if r.gaps:
            yield _text("Still missing before it can be filed: " + "; ".join(r.gaps))
    if b.deadline_passed:
        yield _text(("The filing deadline has passed; the cover says so.", "red"))
    if r.derivatives:
        yield _text(f"{r.derivatives} derived image(s) recorded in the custody log.")
    for item in r.checklist:
        yield _text("Before filing: " + item)


@formats("app.dossiers.Copied")
def _copied(r: dossiers.Copied) -> Lines:
    yield _text(
        f"Dossier of case {r.case} ({r.edition} edition) written: ",
        (str(r.path), "bold"),
        f" ({r.size // 1024} KiB, sha256 {r.sha256}, the hash in the custody log)",
    )


@formats("app.verify.AuditExport")
def _audit_export(r: verify.AuditExport) -> Lines:
    yield _text(
        f"Exported {r.entries} entries and {r.objects} object hashes to {r.out_dir}. "
        f"Verify with: dalel audit --bundle {r.out_dir}"
    )

"""From a case in the store to the dossier model the renderer draws.

Everything shown comes from the custody log (through the index) and the objects: the
exhibit's metadata with its sources, its RFC 3161 token, its custody history, the figures
read from it with the crop each was read from, people's confirmations, and the official
figures. The complainant's details are unsealed only for the court edition.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from datetime import date, datetime
from typing import Any

import ocr
from app import cases, deadlines, official, precinct
from app import figures as fg
from app.dossier import model
from app.dossier.i18n import load_translator
from base.errors import UsageError
from evidence.core import events
from evidence.core.tokens import response_from_token
from evidence.storage.index import Index
from evidence.storage.store import Store
from evidence.timestamping import stamping

#: Timecodes (seconds) of the stills taken from a video exhibit, capped to its duration.
STILL_TIMECODES = (0.5, 2.0, 5.0)
_ACTIONS = {
    "ingest": "ingest",
    "timestamp": "timestamp",
    "ocr": "ocr",
    "confirm": "confirm",
    "case-evidence": "case",
    "derive": "derive",
    "dossier": "dossier",
}


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None


def _field(md: dict[str, Any], name: str) -> Any:
    f = (md.get("fields") or {}).get(name)
    return f.get("value") if isinstance(f, dict) else None


def assemble(
    store: Store,
    case_id: str,
    *,
    language: str = "ru",
    edition: str = "court",
    today: date | None = None,
    draft: bool = False,
) -> model.Dossier:
    """The dossier of ``case_id`` as of ``today`` (Asia/Almaty by default); ``draft``: marked
    DRAFT on every page."""
    index = store.index
    index.ensure_matches_log()  # what a court is shown is never read from an edited index
    case = cases.get_case(store, case_id)
    if not case.evidence:
        raise UsageError(
            f"{case_id} has no evidence",
            fix=f"attach some: dalel case add-evidence {case_id} SHA256…",
        )
    jur = deadlines.load_jurisdiction()
    deadline = case.deadline(jur, language=language, today=today)
    person = cases.complainant(store, case_id) if edition == "court" else None
    readings = {r.item: r for r in fg.readings(index)}
    sheets = precinct.checks(index)
    exhibits = tuple(
        _with_sheet(
            _exhibit(store, index, sha, readings.get(sha), language), sheets.get(sha), index, sha
        )
        for sha in case.evidence
    )
    figures = _figure_tables(store, index, case, readings, language)
    return model.Dossier(
        case=model.Case(
            id=case.id,
            kind=case.kind,
            precinct=case.precinct,
            addressee=case.addressee,  # type: ignore[arg-type]
            addressee_name=case.addressee_name,
            title=case.title,
            event_date=case.event_date,
            respondent=model.Respondent(case.respondent or "", case.respondent_address),
            complainant=model.Complainant(person.name, person.iin, person.address, person.phone)
            if person
            else None,
            facts=case.facts,
            legal_grounds=case.legal_grounds,
            relief=case.relief,
            event_date_given=case.event_date_given,
        ),
        deadline=deadline,
        exhibits=exhibits,
        org_name=store.config.org,
        language=language,  # type: ignore[arg-type]
        edition=edition,  # type: ignore[arg-type]
        figures=figures,
        draft=draft,
    )


def _exhibit(
    store: Store, index: Index, sha: str, reading: fg.ProtocolFigures | None, language: str
) -> model.Exhibit:
    item = index.item(sha)
    if item is None:
        raise UsageError(
            f"evidence {sha[:16]}… is not in the store's index", fix="run: dalel reindex"
        )
    if not store.objects.exists(sha):
        raise UsageError(
            f"the object of evidence {sha[:16]}… is missing from the store",
            fix="run `dalel audit` to see what else is missing; restore the object from a backup",
        )
    history = index.history(sha)
    ingest = next((e for e in history if e.get("event") == events.INGEST), {})
    md = ingest.get("metadata") or {}
    captured = _time(_field(md, "capture_time"))
    received = _time(_field(md, "received_at")) or _time(ingest.get("time"))
    lat, lon = _field(md, "gps_latitude"), _field(md, "gps_longitude")
    camera = " ".join(str(v) for v in (_field(md, "camera_make"), _field(md, "camera_model")) if v)
    toks = sorted(index.tokens_for(sha), key=lambda t: t["kind"] != "external")
    trusted = None
    if toks:
        t = toks[0]
        token = store.objects.read(t["token_sha256"])
        roots = stamping.roots_for(store.public_dir, t["source"])
        from cryptography.hazmat.primitives import serialization

        trusted = model.TrustedTime(
            time=_time(t["gen_time"]) or datetime.fromisoformat(t["gen_time"]),
            tsa=t["source"],
            token=response_from_token(token),
            tsa_cert_pem=b"".join(c.public_bytes(serialization.Encoding.PEM) for c in roots),
        )
    custody_rows = [
        model.CustodyRow(
            seq=e["seq"],
            time=_time(e["time"]) or datetime.now(),
            actor=(e.get("actor") or {}).get("id") or store.config.org,
            action=_ACTIONS.get(e["event"], e["event"]),
            entry_hash=_entry_hash(index, e["seq"]),
            detail=str(e.get("case") or e.get("field") or ""),
        )
        for e in history
    ]
    custody_rows += [
        model.CustodyRow(
            seq=t["seq"],
            time=_time(t["time"]) or datetime.now(),
            actor=store.config.org,
            action="timestamp",
            entry_hash=_entry_hash(index, t["seq"]),
            detail=_tsa_words(t["source"], language),
        )
        for t in index.tokens_for(sha)
    ]
    custody_rows.sort(key=lambda r: r.seq)
    content = store.objects.read(sha)
    duration = _field(md, "duration_s")
    stills: tuple[float, ...] = ()
    if item["media_type"].startswith("video/"):
        cap = float(duration) if duration else STILL_TIMECODES[0] * 2
        stills = tuple(t for t in STILL_TIMECODES if t < cap) or (0.0,)
    return model.Exhibit(
        sha256=sha,
        media_type=item["media_type"],
        original_name=ingest.get("name", sha[:12]),
        content=content,
        size=item["size"],
        still_timecodes=stills,
        captured=model.TimeClaim(captured, "exif") if captured else None,
        received=model.TimeClaim(received, "server") if received else None,
        camera=camera,
        gps=model.GeoPoint(float(lat), float(lon)) if lat is not None and lon is not None else None,
        trusted_time=trusted,
        custody=tuple(custody_rows),
        figures=_figure_readings(store, index, sha, reading, language),
        description=ingest.get("note", ""),
        kind=str(ingest.get("kind") or "other"),
    )


def _with_sheet(
    ex: model.Exhibit, check: precinct.PrecinctCheck | None, index: Index, sha: str
) -> model.Exhibit:
    """The exhibit with the precinct its photo was filed under and, for a protocol photo,
    the number its sheet shows (PRECINCT_MISMATCH when they differ)."""
    if check is None:
        first = next((e for e in index.history(sha) if e.get("event") == events.INGEST), {})
        return replace(ex, precinct_filed=str(first.get("precinct", "")))
    return replace(
        ex,
        precinct_filed=check.filed,
        precinct_on_sheet=check.on_sheet,
        precinct_checked=check.status != "not_checked",
        precinct_read_by=check.by if check.status == "confirmed" else None,
    )


@functools.lru_cache(maxsize=64)
def _tsa_words(source: str, language: str) -> str:
    """Who stamped, in the dossier's words: the organisation's own service, or the named
    external one (a raw ``local TSA local`` is not for a court)."""
    tr = load_translator(language)
    return tr.t_opt(f"tsa.{source}", tr.t("tsa.external", name=source))


def _entry_hash(index: Index, seq: int) -> str:
    return index.line_hash(seq) or ""


def _figure_readings(
    store: Store, index: Index, sha: str, reading: fg.ProtocolFigures | None, language: str
) -> tuple[model.FigureReading, ...]:
    if reading is None:
        return ()
    form = ocr.load_form(reading.form)
    labels = _labels(form, language)
    entry = next(e for e in reversed(index.history(sha)) if e.get("event") == "ocr")
    crops = {o["field"]: o["sha256"] for o in entry.get("objects", []) if o.get("role") == "crop"}
    out = []
    order = {key: i for i, key in enumerate(form.keys)}  # the lines as the sheet has them
    for key, fig in sorted(reading.figures.items(), key=lambda kv: order.get(kv[0], len(order))):
        crop = crops.get(key)
        out.append(
            model.FigureReading(
                field=key,
                label=labels.get(key, key),
                value=fig.value,
                crop_png=store.objects.read(crop) if crop else None,
                confidence=fig.confidence,
                confirmed_by=tuple(
                    model.Confirmation(c.by, _time(c.time) or datetime.now(), f"{key} = {c.value}")
                    for c in fig.confirmations
                ),
            )
        )
    return tuple(out)


def _labels(form: ocr.Form, language: str) -> dict[str, str]:
    """The form's labels in the dossier's language (Russian where a form has no English)."""
    lang = language if language in ("ru", "kk", "en") else "ru"
    return {lab.key: getattr(lab, lang, None) or lab.ru or lab.key for lab in form.labels}


def _figure_tables(
    store: Store,
    index: Index,
    case: cases.CaseState,
    readings: dict[str, fg.ProtocolFigures],
    language: str,
) -> tuple[model.ProtocolFigures, ...]:
    """One table per protocol photo in the case: protocol figure, official, difference."""
    off = official.current(store, index)
    tables = []
    for sha in case.evidence:
        r = readings.get(sha)
        if r is None:
            continue
        form = ocr.load_form(r.form)
        labels = _labels(form, language)
        order = {key: i for i, key in enumerate(form.keys)}  # the lines as the sheet has them
        rows = tuple(
            model.FigureRow(
                key,
                labels.get(key, key),
                fig.value,
                off.values.get((r.precinct, key)) if off else None,
            )
            for key, fig in sorted(r.figures.items(), key=lambda kv: order.get(kv[0], len(order)))
        )
        failing = tuple(rel for rel, holds in r.relations if holds is False)
        tables.append(model.ProtocolFigures(sha, r.precinct, rows, failing))
    return tuple(tables)

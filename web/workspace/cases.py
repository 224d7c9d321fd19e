"""Cases and dossiers against the clock (lawyers, coordinators; auditors read).

The deadlines board lists open cases by days left and the discrepancies not yet in a case
(one click opens a case from one); a case page shows its evidence, its complaint's fields and
its dossiers, and builds a dossier as a background job (:class:`Jobs`) whose progress the
page polls. Every change is a custody entry naming the user by pseudonym.

Jobs live in this process's memory: a restart forgets a job, never a dossier (a built dossier
is in the store, and the case page lists the case's dossiers from the custody log). One
dossier is built at a time, in a worker thread, holding the workspace's store lock (other
workspace requests wait for it; the server's event loop, the observers' uploads and the
polling of jobs do not).
"""

from __future__ import annotations

import re
import secrets
import tempfile
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.responses import JSONResponse, Response

import ocr
from app import cases, dossiers, jobs, official, users
from app import verify as verifying
from base.errors import DalelError
from evidence.core import events
from evidence.storage.store import Store
from pipeline.figures import store_form
from web.workspace.core import Context, Endpoint, Refusal, json_body

_CASE = re.compile(r"case-\d{4,6}")
_SHA = re.compile(r"[0-9a-f]{64}")
_JOB = re.compile(r"[A-Za-z0-9_-]{16,40}")
WRITABLE = {users.Role.LAWYER, users.Role.COORDINATOR}
FIELDS = (
    "title",
    "respondent",
    "respondent_address",
    "addressee_name",
    "addressee",
    "event_date",
    "facts",
    "legal_grounds",
    "relief",
    "complainant_name",
    "complainant_iin",
    "complainant_address",
    "complainant_phone",
)
MAX_FIELD = 20_000


def _nocache(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def _case_id(ctx: Context) -> str:
    cid = ctx.request.path_params["case_id"]
    if not _CASE.fullmatch(cid):
        raise Refusal(404, "NOT_FOUND", "cases.error.no_case")
    return cid


def _get_case(store: Store, cid: str) -> cases.CaseState:
    index = store.index
    index.catch_up()
    found = cases.all_cases(index).get(cid)
    if found is None:
        raise Refusal(404, "NOT_FOUND", "cases.error.no_case")
    return found


# --- jobs ----------------------------------------------------------------------------------
@dataclass
class Job:
    """One dossier being built."""

    id: str
    case: str
    edition: str
    language: str
    draft: bool
    state: str = "queued"
    step: str = "cases.step.queued"
    progress: float = 0.0
    started: float = field(default_factory=time.monotonic)
    dossier: str | None = None
    error: dict[str, Any] | None = None
    queued_as: str | None = None
    """On the store's job queue (``[dossier] queue = true``): the request's key."""
    since: int = 0
    """On the queue: the log's length when the build was asked for."""

    def to_dict(self, t: Any) -> dict[str, Any]:
        error = self.error
        if error and error.get("gaps"):
            error = {
                **error,
                "message": t("cases.missing"),
                "gaps": [t(f"cases.field.{g}") for g in error["gaps"]],
            }
        return {
            "job": self.id,
            "case": self.case,
            "state": self.state,
            "progress": round(self.progress, 2),
            "step": t(self.step),
            "seconds": round(time.monotonic() - self.started, 1),
            "dossier": self.dossier,
            "error": error,
        }


EXPECTED_SECONDS = 20.0
"""About how long a dossier takes here (the progress bar moves by time while it builds)."""


class Jobs:
    """The dossier builds of one server, one at a time."""

    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dossier")

    def start(self, ctx: Context, case: str, edition: str, language: str, draft: bool) -> Job:
        job = Job(secrets.token_urlsafe(18), case, edition, language, draft)
        self.jobs[job.id] = job
        run = self._queue if jobs.workspace_queues_dossiers(ctx.store) else self._run
        self.pool.submit(run, job, ctx.store, ctx.lock, ctx.user.pseudonym)
        return job

    def _queue(self, job: Job, store: Store, lock: threading.Lock, by: str) -> None:
        """Put the build on the store's job queue (a worker of the ``dossier`` queue, where
        the log is, builds it); :meth:`refresh` follows it."""
        try:
            queued = jobs.queue_dossier(
                store,
                job.case,
                language=job.language,
                edition=job.edition,
                draft=job.draft,
                by=by,
            )
            job.queued_as, job.since = queued.key, int(queued.key.rsplit(":", 1)[1])
            job.step, job.progress = "cases.step.queued_worker", 0.05
            job.started = time.monotonic()
        except Exception as e:  # (said on the job's page, kept in the log when unforeseen)
            _failed(job, store, e)

    @staticmethod
    def refresh(store: Store, job: Job) -> None:
        """Where a build put on the queue stands: its dossier once logged, else its job's
        status (waiting for a worker, being built, given up)."""
        if job.queued_as is None or job.state in ("done", "failed"):
            return
        found = jobs.built_since(
            store,
            job.case,
            language=job.language,
            edition=job.edition,
            draft=job.draft,
            since=job.since,
        )
        if found is not None:
            job.dossier = found
            job.state, job.step, job.progress = "done", "cases.step.done", 1.0
            return
        status = jobs.dossier_job_status(store, job.queued_as)
        if status == "doing":
            if job.state != "running":
                job.state, job.started = "running", time.monotonic()
            job.step = "cases.step.building"
            job.progress = _progress(job)
        elif status in ("failed", "cancelled", "aborted"):
            job.error = {"reason": "WORKER_FAILED", "message": "the worker could not build it"}
            job.state, job.step = "failed", "cases.step.failed"

    def _run(self, job: Job, store: Store, lock: threading.Lock, by: str) -> None:
        job.state, job.step, job.progress = "running", "cases.step.waiting", 0.05
        with lock:
            job.step, job.progress = "cases.step.building", 0.1
            job.started = time.monotonic()
            ticker = threading.Thread(target=self._tick, args=(job,), daemon=True)
            ticker.start()
            try:
                with tempfile.TemporaryDirectory(dir=store.root) as tmp:
                    built = dossiers.build(
                        store,
                        job.case,
                        Path(tmp) / "dossier.pdf",
                        language=job.language,
                        edition=job.edition,
                        draft=job.draft,
                        by=by,
                    )
                job.dossier = built.result.sha256
                job.state, job.step, job.progress = "done", "cases.step.done", 1.0
            except Exception as e:
                _failed(job, store, e)

    @staticmethod
    def _tick(job: Job) -> None:
        while job.state == "running":
            job.progress = _progress(job)
            time.sleep(0.5)


def _progress(job: Job) -> float:
    """How far a build that started ``job.started`` has likely gone (never quite there: the
    end is said when it comes)."""
    elapsed = time.monotonic() - job.started
    return min(0.95, 0.1 + 0.85 * elapsed / (elapsed + EXPECTED_SECONDS))


def _failed(job: Job, store: Store, e: Exception) -> None:
    """The job failed with ``e``: what the case lacks, a Dalel error's message, or, for
    anything unforeseen, where its trace was kept (never the trace itself). The reason is
    set before the state: a page polling in between never sees "failed" without it."""
    if isinstance(e, dossiers.DossierIncomplete):
        job.error = {"reason": "INCOMPLETE", "message": e.message, "gaps": _gaps(store, job)}
    elif isinstance(e, DalelError):
        job.error = {"reason": type(e).__name__, "message": e.message}
    else:
        job.error = {"reason": "INTERNAL", "message": _save(store)}
    job.state, job.step = "failed", "cases.step.failed"


def gap_keys(store: Store, case_id: str) -> list[str]:
    """What the case lacks to be filed, as the page's field names."""
    return [opt.lstrip("-").replace("-", "_") for _, opt in dossiers.filing_gaps(store, case_id)]


def _gaps(store: Store, job: Job) -> list[str]:
    try:
        return gap_keys(store, job.case)
    except DalelError:
        return []


def _save(store: Store) -> str:
    logs = store.root / "logs"
    name = f"web-dossier-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%fZ')}.txt"
    try:
        logs.mkdir(exist_ok=True)
        (logs / name).write_text(traceback.format_exc())
    except OSError:
        return "an internal error"
    return f"an internal error; the details are in logs/{name}"


_JOBS: dict[int, Jobs] = {}


def jobs_of(ctx: Context) -> Jobs:
    """The jobs of this server (one per store lock, i.e. per application)."""
    return _JOBS.setdefault(id(ctx.lock), Jobs())


# --- the deadlines board -------------------------------------------------------------------
def _board(store: Store, lang: str) -> dict[str, Any]:
    urgent = cases.by_urgency(store, language=lang)
    index = store.index
    in_case = {c.precinct for c in cases.all_cases(index).values() if c.from_discrepancy}
    open_ones: dict[str, list[dict[str, Any]]] = {}
    form = ocr.load_form(store_form(store))
    for d in official.discrepancies(store, only_differences=True):
        if d.precinct in in_case:
            continue
        try:
            label = getattr(form.label(d.field), lang, "") or d.field
        except (KeyError, ValueError):
            label = d.field
        open_ones.setdefault(d.precinct, []).append({**d.to_dict(), "label": label})
    return {
        "cases": [
            {**r.to_dict(), "title": r.case.title, "evidence": len(r.case.evidence)}
            for r in urgent.rows
        ],
        "discrepancies": [
            {"precinct": p, "figures": rows} for p, rows in sorted(open_ones.items())
        ],
    }


async def deadlines_page(ctx: Context) -> Response:
    board = await ctx.run(_board, ctx.store, ctx.lang)
    return ctx.page("deadlines.html", board=board, writable=ctx.user.role in WRITABLE)


async def deadlines_api(ctx: Context) -> Response:
    return _nocache(await ctx.run(_board, ctx.store, ctx.lang))


async def open_case(ctx: Context) -> Response:
    body = await json_body(ctx)
    precinct = body.get("precinct")
    if not isinstance(precinct, str) or not precinct.strip() or len(precinct) > 40:
        raise Refusal(400, "BAD_REQUEST", "cases.error.precinct")
    try:
        opened = await ctx.run(
            lambda: cases.open_case(
                ctx.store, from_discrepancy=precinct.strip(), by=ctx.user.pseudonym
            )
        )
    except DalelError as e:
        raise Refusal(400, "NOT_OPENED", e.message) from None
    return _nocache({**opened.to_dict(), "url": f"/w/cases/{opened.id}"}, 201)


# --- a case --------------------------------------------------------------------------------
def _case_view(store: Store, cid: str, lang: str) -> dict[str, Any]:
    case = _get_case(store, cid)
    view = cases.show_case(store, cid, language=lang).to_dict()
    index = store.index
    gallery = []
    for sha in case.evidence:
        item = index.item(sha) or {}
        gallery.append(_item_card(store, sha, item))
    built = [
        {
            "sha256": e["subject"],
            "edition": e.get("edition"),
            "language": e.get("language"),
            "draft": e.get("draft", False),
            "time": e.get("time"),
            "size": e.get("size"),
        }
        for e in index.entries_by_event(events.DOSSIER)
        if e.get("case") == cid
    ]
    view["gallery"] = gallery
    view["dossiers"] = built
    view["complainant_set"] = case.has_complainant
    view["gaps"] = gap_keys(store, cid)
    view["precinct_items"] = [
        _item_card(store, sha, item)
        for sha, item in _precinct_items(store, case.precinct)
        if sha not in set(case.evidence)
    ]
    return view


def _precinct_items(store: Store, precinct: str) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for e in store.index.entries_by_event(events.INGEST):
        if e.get("precinct") == precinct and isinstance(e.get("item"), dict):
            out.append(
                (e["item"]["sha256"], {**e["item"], "kind": e.get("kind"), "time": e["time"]})
            )
    return out


def _item_card(store: Store, sha: str, item: dict[str, Any]) -> dict[str, Any]:
    media = str(item.get("media_type") or "")
    return {
        "sha256": sha,
        "media_type": media,
        "kind": item.get("kind") or "",
        "size": item.get("size"),
        "time": item.get("time") or "",
        "flags": list(item.get("flags") or []),
        "thumb_url": f"/api/items/{sha}/thumb" if media.startswith("image/") else None,
    }


async def case_page(ctx: Context) -> Response:
    cid = _case_id(ctx)
    view = await ctx.run(_case_view, ctx.store, cid, ctx.lang)
    return ctx.page("case.html", case=view, writable=ctx.user.role in WRITABLE, fields=FIELDS)


async def case_api(ctx: Context) -> Response:
    cid = _case_id(ctx)
    return _nocache(await ctx.run(_case_view, ctx.store, cid, ctx.lang))


async def case_set(ctx: Context) -> Response:
    cid = _case_id(ctx)
    body = await json_body(ctx)
    unknown = [k for k in body if k not in FIELDS]
    if unknown:
        raise Refusal(400, "UNKNOWN_FIELD", f"{', '.join(unknown)[:200]}")
    values: dict[str, str] = {}
    for k, v in body.items():
        if not isinstance(v, str) or len(v) > MAX_FIELD:
            raise Refusal(400, "BAD_REQUEST", "cases.error.field")
        if v.strip():
            values[k] = v
    await ctx.run(_get_case, ctx.store, cid)
    try:
        done = await ctx.run(
            lambda: cases.set_details(
                ctx.store, cid, cases.CaseDetails(**values), by=ctx.user.pseudonym
            )
        )
    except DalelError as e:
        raise Refusal(400, "NOT_SET", e.message) from None
    return _nocache(done.to_dict())


async def case_evidence(ctx: Context) -> Response:
    cid = _case_id(ctx)
    body = await json_body(ctx)
    shas = body.get("items")
    if (
        not isinstance(shas, list)
        or not shas
        or not all(isinstance(s, str) and _SHA.fullmatch(s) for s in shas)
    ):
        raise Refusal(400, "BAD_REQUEST", "cases.error.items")
    await ctx.run(_get_case, ctx.store, cid)
    try:
        done = await ctx.run(
            lambda: cases.attach_evidence(ctx.store, cid, shas, by=ctx.user.pseudonym)
        )
    except DalelError as e:
        raise Refusal(400, "NOT_ATTACHED", e.message) from None
    return _nocache(done.to_dict())


async def dossier_build(ctx: Context) -> Response:
    cid = _case_id(ctx)
    body = await json_body(ctx)
    edition, language = body.get("edition", "court"), body.get("language", ctx.lang)
    draft = body.get("draft", False)
    if edition not in ("court", "public") or language not in ("ru", "kk", "en"):
        raise Refusal(400, "BAD_REQUEST", "cases.error.edition")
    if not isinstance(draft, bool):
        raise Refusal(400, "BAD_REQUEST", "cases.error.edition")
    await ctx.run(_get_case, ctx.store, cid)
    job = jobs_of(ctx).start(ctx, cid, edition, language, draft)
    return _nocache(job.to_dict(ctx.t), 202)


async def job(ctx: Context) -> Response:
    jid = ctx.request.path_params["job_id"]
    found = jobs_of(ctx).jobs.get(jid) if _JOB.fullmatch(jid) else None
    if found is None:
        raise Refusal(404, "NOT_FOUND", "cases.error.no_job")
    if found.queued_as is not None:
        await ctx.run(Jobs.refresh, ctx.store, found)
    return _nocache(found.to_dict(ctx.t))


def _dossier_entry(store: Store, sha: str) -> dict[str, Any]:
    index = store.index
    index.catch_up()
    for e in index.entries_by_event(events.DOSSIER):
        if e["subject"] == sha:
            return dict(e)
    raise Refusal(404, "NOT_FOUND", "cases.error.no_dossier")


def _dossier_bytes(store: Store, sha: str) -> tuple[dict[str, Any], bytes]:
    entry = _dossier_entry(store, sha)
    with tempfile.TemporaryDirectory(dir=store.root) as tmp:
        out = Path(tmp) / "dossier.pdf"
        dossiers.copy(store, sha, out)
        return entry, out.read_bytes()


def _sha(ctx: Context) -> str:
    sha = ctx.request.path_params["sha"]
    if not _SHA.fullmatch(sha):
        raise Refusal(404, "NOT_FOUND", "cases.error.no_dossier")
    return sha


async def dossier_download(ctx: Context) -> Response:
    sha = _sha(ctx)
    entry, data = await ctx.run(_dossier_bytes, ctx.store, sha)
    parts = (entry.get("case", "case"), entry.get("edition", ""), entry.get("language", ""))
    name = "-".join(map(str, parts)) + f"-{sha[:12]}.pdf"
    return Response(
        data,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


async def dossier_verify(ctx: Context) -> Response:
    sha = _sha(ctx)

    def check() -> dict[str, Any]:
        _, data = _dossier_bytes(ctx.store, sha)
        report = verifying.dossier(data, store=ctx.store)
        out = report.to_dict()
        out["sha256"] = sha
        return out

    return _nocache(await ctx.run(check))


async def gallery(ctx: Context) -> Response:
    precinct = ctx.request.query_params.get("precinct", "")
    if not precinct or len(precinct) > 40:
        raise Refusal(400, "BAD_REQUEST", "cases.error.precinct")

    def found() -> list[dict[str, Any]]:
        ctx.store.index.catch_up()
        return [
            _item_card(ctx.store, sha, item) for sha, item in _precinct_items(ctx.store, precinct)
        ]

    return _nocache({"precinct": precinct, "items": await ctx.run(found)})


THUMB = 240


def _thumb(store: Store, sha: str) -> bytes:
    import io

    from PIL import Image, ImageOps

    store.index.catch_up()
    item = store.index.item(sha)
    if item is None or not str(item.get("media_type", "")).startswith("image/"):
        raise Refusal(404, "NOT_FOUND", "error.not_found")
    Image.MAX_IMAGE_PIXELS = 80_000_000
    try:
        with store.objects.open(sha) as f, Image.open(f) as im:
            im.draft("RGB", (THUMB * 2, THUMB * 2))
            small = ImageOps.exif_transpose(im).convert("RGB")
            small.thumbnail((THUMB, THUMB))
            buf = io.BytesIO()
            small.save(buf, format="JPEG", quality=80)
            return buf.getvalue()
    except (OSError, ValueError, Image.DecompressionBombError):
        raise Refusal(404, "NOT_FOUND", "error.not_found") from None


async def thumb(ctx: Context) -> Response:
    sha = ctx.request.path_params["sha"]
    if not _SHA.fullmatch(sha):
        raise Refusal(404, "NOT_FOUND", "error.not_found")
    data = await ctx.run(_thumb, ctx.store, sha)
    return Response(
        data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"}
    )


ENDPOINTS = [
    Endpoint("page.deadlines", "GET", "/w/deadlines", deadlines_page),
    Endpoint("api.deadlines", "GET", "/api/deadlines", deadlines_api),
    Endpoint("api.cases.open", "POST", "/api/cases", open_case),
    Endpoint("page.case", "GET", "/w/cases/{case_id}", case_page),
    Endpoint("api.case", "GET", "/api/cases/{case_id}", case_api),
    Endpoint("api.case.set", "POST", "/api/cases/{case_id}", case_set),
    Endpoint("api.case.evidence", "POST", "/api/cases/{case_id}/evidence", case_evidence),
    Endpoint("api.dossier.build", "POST", "/api/cases/{case_id}/dossiers", dossier_build),
    Endpoint("api.job", "GET", "/api/jobs/{job_id}", job),
    Endpoint("api.dossier.download", "GET", "/api/dossiers/{sha}", dossier_download),
    Endpoint("api.dossier.verify", "GET", "/api/dossiers/{sha}/verify", dossier_verify),
    Endpoint("api.gallery", "GET", "/api/gallery", gallery),
    Endpoint("api.items.thumb", "GET", "/api/items/{sha}/thumb", thumb),
]

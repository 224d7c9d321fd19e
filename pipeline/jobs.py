"""Jobs on a PostgreSQL queue (Procrastinate): protocols read on any number of machines,
their readings logged by one sequencer.

A store whose index is in PostgreSQL (``dalel init --db``) can hand the reading of its
protocol photos to workers: ``dalel ocr --queue`` puts a job on the ``ocr`` queue for each
photo not yet read with the store's form and reader, and ``dalel worker`` runs jobs, on as
many machines as there are. The embedded default (SQLite) reads in the command's own process,
through the same code (:meth:`pipeline.figures.OcrStage.prepare`, then one line in the log).

Exactly one reading per photo, whatever dies when:

- a reading is keyed by the photo's SHA-256, the form and the reader's versions
  (:func:`reading_key`); one job with that key waits at a time (Procrastinate's queueing
  lock), and one runs at a time (its lock);
- a worker reads the photo, stores what the reading made (content-addressed: storing it twice
  stores it once) and saves the entry to log in ``dalel_readings`` in one statement, which
  does nothing when that key is saved already;
- the ``log`` job, run by the one sequencer, logs the saved entries not yet logged, skips
  any the log already holds for that photo, form and reader (a job killed after its commit
  and before it marked them), and marks each saved entry with its line;
- a worker killed mid-job stops sending its heartbeat: after ``stalled_after`` seconds any
  other worker (or the same one started again) puts its jobs back on the queue.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    MetaData,
    String,
    Table,
    Text,
    delete,
    func,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert

from base.errors import BrokenEnvironment, DalelError, UsageError
from evidence.core import custody
from evidence.storage.store import Store

if TYPE_CHECKING:
    import procrastinate
    from procrastinate import JobContext

QUEUES = ("ocr", "log", "dossier")
"""The queues there are: ``ocr`` (any machine that can read the store's objects and index),
``log`` (the machine that holds the store's log: it logs what the readers saved) and
``dossier`` (building a case's dossier, with its stills: the machine that holds the log, as
the dossier is assembled from it and recorded in it)."""

OCR_TASK = "dalel.ocr"
DOSSIER_TASK = "dalel.dossier"
LOG_TASK = "dalel.log"
STAMP_TASK = "dalel.timestamp-upgrade"

UPGRADE_EVERY = 60.0
"""Seconds between two tries, by the workers of the ``log`` queue, to give every item and
checkpoint stamped by the store's own TSA (the external ones did not answer) an external
token, as ``dalel timestamp --upgrade`` does."""

STALLED_AFTER = 30.0
"""Seconds a worker may send no heartbeat before its running jobs are given to another."""

LOG_AFTER = 1.0
"""Seconds the ``log`` job waits after the first reading saved, so that one commit takes
the readings of every worker saved meanwhile (as Tessera batches its integration)."""

LOG_BATCH = 500
"""Saved readings logged in one commit by the ``log`` job."""

DIE_AT = "DALEL_TEST_DIE_AT"
"""Fault injection for the tests: a worker whose environment names one of
:data:`DIE_POINTS` here dies (``os._exit``, as a SIGKILL would leave it) when it gets there."""

DIE_POINTS = ("ocr-read", "ocr-saved", "log-committed")
"""(The dossier's job, :mod:`app.jobs`, has two of its own, ``dossier-started`` and
``dossier-logged``; a worker process dies as it starts at ``worker-start``.)"""

_meta = MetaData()
readings = Table(
    "dalel_readings",
    _meta,
    Column("key", String(160), primary_key=True),
    Column("sha256", String(64), nullable=False, index=True),
    Column("entry", Text, nullable=False),
    Column("saved", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("seq", BigInteger, nullable=True),
    Column("attempts", BigInteger, nullable=False, server_default=text("1")),
)
"""Readings made by workers, each waiting to be logged (``seq`` null) or logged as line
``seq``: the one hand-over between a worker and the sequencer."""


class JobsNeedPostgres(UsageError):
    """Jobs on a queue need the store's index in PostgreSQL."""

    fix = (
        "read in this process instead (dalel ocr without --queue), or make the store with "
        "its index in PostgreSQL: dalel init --db postgresql://USER@HOST/DB"
    )


class QueueUnavailable(BrokenEnvironment):
    """The job queue's database cannot be reached or set up."""


def die_if_asked(point: str) -> None:
    if os.environ.get(DIE_AT) == point:
        os._exit(137)


def conninfo(store: Store) -> str:
    """libpq's connection string for the store's PostgreSQL database: its host, port, name
    and user, and every parameter of the URL's query (``sslmode``, ``host`` as a socket
    directory, ...), which win as they do for libpq. The password, as for the index, comes
    from ``PGPASSWORD`` or ``~/.pgpass``."""
    from psycopg.conninfo import make_conninfo
    from sqlalchemy.engine import make_url

    url = store.index_url
    if not url.startswith(("postgresql", "postgres")):
        raise JobsNeedPostgres(
            f"the store at {store.root} keeps its index in SQLite: jobs on a queue need PostgreSQL"
        )
    u = make_url(url)
    parts: dict[str, object] = {
        "host": u.host,
        "port": u.port,
        "dbname": u.database,
        "user": u.username,
    }
    for key, value in u.query.items():  # (a key given twice: libpq's comma-separated list)
        parts[key] = ",".join(value) if isinstance(value, tuple) else value
    return make_conninfo(**{k: str(v) for k, v in parts.items() if v is not None})


def reading_key(sha256: str, form: str, engine: dict[str, Any]) -> str:
    """What a reading is known by: the photo, the form, and the reader's versions."""
    version = hashlib.sha256(custody.canonical(engine)).hexdigest()[:16]
    return f"{sha256}:{form}:{version}"


def ensure_schema(store: Store) -> None:
    """Procrastinate's tables and ``dalel_readings`` in the store's database, made once
    (two workers starting at once take turns: an advisory lock)."""
    from procrastinate.schema import SchemaManager
    from sqlalchemy.exc import SQLAlchemyError

    conninfo(store)  # (refuses SQLite in plain words)
    engine = store.index.engine
    try:
        with engine.begin() as c:
            c.execute(text("SELECT pg_advisory_xact_lock(hashtext('dalel-jobs-schema'))"))
            if not inspect(c).has_table("procrastinate_jobs"):
                # (straight to the driver: the schema's own '%' are not placeholders)
                c.connection.cursor().execute(SchemaManager.get_schema())
            _meta.create_all(c, checkfirst=True)
    except SQLAlchemyError as e:
        first = str(getattr(e, "orig", e) or e).strip().splitlines()
        raise QueueUnavailable(
            f"cannot set up the job queue in the store's database: "
            f"{first[0] if first else type(e).__name__}",
            fix="check that PostgreSQL runs and the store's user may create tables there",
        ) from None


def cron_every(seconds: float) -> str:
    """Procrastinate's cron (a sixth column for seconds) for "every ``seconds``", rounded
    down to a step that divides its unit evenly: seconds under a minute, minutes under an
    hour, hours under a day, then once a day."""
    if seconds < 60:
        step = max(d for d in (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30) if d <= max(seconds, 1))
        return f"* * * * * */{step}"
    if seconds < 3600:
        step = max(d for d in (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30) if d <= seconds // 60)
        return f"*/{step} * * * *"
    hours = max(d for d in (1, 2, 3, 4, 6, 8, 12) if d <= seconds // 3600)
    return f"0 */{hours} * * *" if seconds < 86400 else "0 0 * * *"


Tasks = Callable[["procrastinate.App"], None]
"""What adds the tasks of a layer above this one (the dossier's) to a queue's app."""


def make_app(
    store: Store, *, upgrade_every: float = UPGRADE_EVERY, tasks: Tasks | None = None
) -> procrastinate.App:
    """The Procrastinate app of ``store``'s queue, with Dalel's tasks on it (and, unless
    ``upgrade_every`` is 0, the periodic upgrade of local timestamps to external ones);
    ``tasks`` adds more."""
    import procrastinate

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo(store)))
    retry = procrastinate.RetryStrategy(max_attempts=5, wait=2, linear_wait=3)
    app.task(name=OCR_TASK, queue="ocr", pass_context=True, retry=retry)(_ocr_job)
    app.task(name=LOG_TASK, queue="log", pass_context=True, retry=retry)(_log_job)
    stamp = app.task(name=STAMP_TASK, queue="log", pass_context=True)(_stamp_job)
    if upgrade_every > 0:  # (one waiting at a time, whoever defers it)
        app.periodic(
            cron=cron_every(upgrade_every),
            periodic_id="upgrade",
            queueing_lock=STAMP_TASK,
            lock=STAMP_TASK,
        )(stamp)
    if tasks is not None:
        tasks(app)
    return app


# --- queueing -------------------------------------------------------------------------
@dataclass
class Queued:
    """What ``dalel ocr --queue`` did, photo by photo."""

    queued: list[str] = field(default_factory=list)
    """Photos a reading job was put on the queue for."""
    waiting: list[str] = field(default_factory=list)
    """Photos whose job was already on the queue, or whose reading waits to be logged."""
    done: list[str] = field(default_factory=list)
    """Photos already read with this form and reader (their reading is in the log)."""
    refused_before: list[str] = field(default_factory=list)
    """Photos queued again whose last saved reading the log refused (forged, or made
    wrong): that reading is dropped, the photo is read anew (among :attr:`queued`)."""
    following: bool | None = None
    """Whether the store's writers now queue the protocol photos they log (None: not
    changed now)."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "queued": self.queued,
            "waiting": self.waiting,
            "done": self.done,
            "refused_before": self.refused_before,
        }
        if self.following is not None:
            out["following"] = self.following
        return out


def queue_readings(store: Store, shas: Iterable[str], *, form: str, asked: bool = False) -> Queued:
    """Put a reading job on the ``ocr`` queue for each photo of ``shas`` not yet read with
    ``form`` and this reader; ``asked``: read them as protocols whatever their kind."""
    from procrastinate.exceptions import AlreadyEnqueued

    import ocr

    ensure_schema(store)
    engine_v = ocr.engine_versions()
    out = Queued()
    app = make_app(store)
    with app.open(), store.index.engine.connect() as c:
        for sha in shas:
            if _logged_seq(store, sha, form, engine_v) is not None:
                out.done.append(sha)
                continue
            key = reading_key(sha, form, engine_v)
            saved = c.execute(select(readings.c.seq).where(readings.c.key == key)).first()
            if saved is not None and saved[0] == REFUSED:
                # refused by the log, it would block the photo's key for good: dropped, so
                # that the photo is read again (the log's warning named why it was refused)
                with store.index.engine.begin() as w:
                    w.execute(
                        delete(readings).where(readings.c.key == key, readings.c.seq == REFUSED)
                    )
                out.refused_before.append(sha)
            elif saved is not None:
                out.waiting.append(sha)
                continue
            row = store.index.item(sha)
            if row is None:
                continue
            item = {k: row[k] for k in ("precinct", "kind", "media_type", "size")}
            try:  # (what the photo is goes with the job: a worker needs no copy of the log)
                app.configure_task(OCR_TASK, queueing_lock=key, lock=key).defer(
                    sha256=sha, form=form, asked=asked, item=item
                )
            except AlreadyEnqueued:
                out.waiting.append(sha)
            else:
                out.queued.append(sha)
    return out


def _defer_log(app: procrastinate.App) -> None:
    from procrastinate.exceptions import AlreadyEnqueued

    try:
        # a second from now: the readings saved meanwhile by every worker go in one commit
        app.configure_task(
            LOG_TASK, queueing_lock="log", lock="log", schedule_in={"seconds": LOG_AFTER}
        ).defer()
    except AlreadyEnqueued:
        pass  # one waiting is enough: it logs everything saved before it runs


# --- the jobs -------------------------------------------------------------------------
def _logged_seq(store: Store, sha: str, form: str, engine_v: dict[str, Any]) -> int | None:
    """The line that logged a reading of ``sha`` with ``form`` and that reader, if any."""
    for e in store.index.history(sha):
        if e.get("event") == "ocr" and e.get("form") == form and e.get("engine") == engine_v:
            return int(e["seq"])
    return None


_stores: dict[str, tuple[int, Store]] = {}


def job_store(context: JobContext) -> Store:
    """The store this worker serves, with its commit hooks: opened once per process, and
    again when its config changed (a TSA added while the worker runs)."""
    extra = context.additional_context or {}
    root = Path(str(extra["store"]))
    open_store: Callable[[Path], Store] = extra.get("open") or Store.open
    changed = (root / "config.toml").stat().st_mtime_ns
    held = _stores.get(str(root))
    if held is None or held[0] != changed:
        if held is not None:
            held[1].close()
        _stores[str(root)] = (changed, open_store(root))
    return _stores[str(root)][1]


def _ocr_job(
    context: JobContext,
    sha256: str,
    form: str,
    asked: bool = False,
    item: dict[str, Any] | None = None,
) -> str:
    """Read one protocol photo and save the entry that records it (not logged here). What
    the photo is (its precinct, kind, type, size) comes with the job, so that a worker needs
    only the store's config, its database and its objects, not the log; the log job checks
    it against the log before it signs anything."""
    import ocr
    from pipeline.figures import OcrStage
    from pipeline.stages import Item, StageResult

    store = job_store(context)
    if item is None:  # (a job queued without it: found in the index, which reads the log)
        row = store.index.item(sha256)
        if row is None:
            return f"{sha256[:12]}: no such item in the store"
        item = {k: row[k] for k in ("precinct", "kind", "media_type", "size")}
    engine_v = ocr.engine_versions()
    key = reading_key(sha256, form, engine_v)
    engine = store.index.engine
    with engine.connect() as c:
        saved = c.execute(select(readings.c.seq).where(readings.c.key == key)).first()
    if saved is None:
        photo = Item(
            sha256, str(item["precinct"]), str(item["kind"]), str(item["media_type"]),
            int(item["size"]),
        )  # fmt: skip
        prepared = OcrStage(form, asked=asked).prepare(photo, store, look_in_log=False)
        if isinstance(prepared, StageResult):  # not a protocol photo, not looked at
            return f"{sha256[:12]}: {prepared.detail}"
        die_if_asked("ocr-read")
        entry = custody.canonical(prepared.entry).decode()
        with engine.begin() as c:
            c.execute(
                pg_insert(readings)
                .values(key=key, sha256=sha256, entry=entry)
                .on_conflict_do_update(
                    index_elements=[readings.c.key], set_={"attempts": readings.c.attempts + 1}
                )
            )
        die_if_asked("ocr-saved")
        detail = f"{sha256[:12]}: {prepared.detail}"
    else:
        detail = f"{sha256[:12]}: read already"
    if saved is None or saved.seq is None:
        _defer_log(context.app)
    return detail


REFUSED = -1
"""``seq`` of a saved reading the ``log`` job would not log (see :func:`_refusal`)."""


def _refusal(store: Store, key: str, sha: str, text_: str) -> tuple[dict[str, Any], str | None]:
    """The saved entry, and why it may not be logged (None: it may). Whoever can write to
    the database could save anything there; the log signs only readings of photos it holds,
    under the key they were saved by, that keep the ``ocr`` entry's schema."""
    from evidence.core import events

    try:
        entry = json.loads(text_)
    except ValueError:
        return {}, "not JSON"
    if not isinstance(entry, dict) or entry.get("event") != "ocr":
        return {}, "not a reading"
    photo = store.index.item(sha)  # (read from the log itself)
    if entry.get("subject") != sha or photo is None:
        return entry, "not a reading of a photo in the store"
    if entry.get("precinct") != photo["precinct"]:
        return entry, "names another precinct than the photo's"
    engine_v = entry.get("engine")
    form = entry.get("form")
    if not isinstance(engine_v, dict) or not isinstance(form, str):
        return entry, "no form or reader named"
    if reading_key(sha, form, engine_v) != key:
        return entry, "saved under another key than its own"
    if set(entry) & {"time", "seq", "prev", "v", "actor"}:
        return entry, "carries what only the log sets (its time, place or actor)"
    named = entry.get("objects")
    if not isinstance(named, list) or not all(
        isinstance(o, dict) and store.objects.exists(str(o.get("sha256", ""))) for o in named
    ):
        return entry, "names objects the store does not hold"
    if events.problems(entry):
        return entry, "; ".join(events.problems(entry))
    return entry, None


def _log_job(context: JobContext) -> str:
    """Log the readings workers saved and not yet logged (the sequencer's job)."""
    store = job_store(context)
    engine = store.index.engine
    logged = skipped = refused = 0
    while True:
        with engine.connect() as c:
            rows = c.execute(
                select(readings.c.key, readings.c.sha256, readings.c.entry)
                .where(readings.c.seq.is_(None))
                .order_by(readings.c.saved, readings.c.key)
                .limit(LOG_BATCH)
            ).all()
        if not rows:
            break
        marks: list[tuple[str, int]] = []
        with store.writer() as writer:
            for key, sha, text_ in rows:
                entry, why = _refusal(store, key, sha, text_)
                if why is not None:
                    logging.getLogger("dalel").warning("saved reading %s not logged: %s", key, why)
                    marks.append((key, REFUSED))
                    refused += 1
                    continue
                seq = _logged_seq(store, sha, entry["form"], entry["engine"])
                if seq is None:
                    seq = writer.append(entry).seq
                    logged += 1
                else:
                    skipped += 1
                marks.append((key, seq))
        die_if_asked("log-committed")
        with engine.begin() as c:
            for key, seq in marks:
                c.execute(update(readings).where(readings.c.key == key).values(seq=seq))
    return (
        f"{logged} reading(s) logged"
        + (f", {skipped} logged before" if skipped else "")
        + (f", {refused} refused (not a reading of this store)" if refused else "")
    )


def _stamp_job(context: JobContext, timestamp: int) -> str:
    """The periodic upgrade: external tokens for what has only a local one, when the store
    has external TSAs and they answer (else the next period tries again)."""
    from base.errors import DalelError
    from evidence.timestamping import stamping
    from pipeline.stamp import upgrade_external

    store = job_store(context)
    if not stamping.external_config(store):
        return "no external TSA configured"
    try:
        n = upgrade_external(store)
    except DalelError as e:  # no TSA answered: said, and tried again next time
        return f"not upgraded now: {e.message}"
    return f"{n} external token(s) added"


# --- workers --------------------------------------------------------------------------
@dataclass(frozen=True)
class QueueCounts:
    """How many jobs of a queue are waiting, running, done and given up."""

    name: str
    todo: int = 0
    doing: int = 0
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "queue": self.name,
            "todo": self.todo,
            "doing": self.doing,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "cancelled": self.cancelled,
        }


def counts(store: Store) -> list[QueueCounts]:
    """Every queue of the store with its jobs by status."""
    ensure_schema(store)
    found = {q: QueueCounts(q) for q in QUEUES}
    with store.index.engine.connect() as c:
        for queue, status, n in c.execute(
            text(
                "SELECT queue_name, status::text, count(*) FROM procrastinate_jobs "
                "GROUP BY queue_name, status"
            )
        ):
            q = found.setdefault(queue, QueueCounts(queue))
            if status in ("todo", "doing", "succeeded", "failed", "cancelled"):
                found[queue] = QueueCounts(**{**q.__dict__, status: int(n)})
    return list(found.values())


def check_queues(queues: Iterable[str]) -> tuple[str, ...]:
    """The queues named, each one there is (a usage error names one that is not)."""
    out = tuple(q.strip() for q in queues if q.strip())
    unknown = [q for q in out if q not in QUEUES]
    if unknown or not out:
        raise UsageError(
            f"no such queue: {', '.join(unknown) or '(none given)'}",
            fix=f"name some of: {', '.join(QUEUES)}",
        )
    return out


async def _retry_stalled(app: procrastinate.App, queues: tuple[str, ...], after: float) -> int:
    """Put back on the queue the running jobs of workers silent for ``after`` seconds."""
    from procrastinate.exceptions import ConnectorException

    again = 0
    for job in await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=after):
        if job.queue not in queues:
            continue
        try:
            await app.job_manager.retry_job(job)
            again += 1
        except ConnectorException:
            pass  # another worker put it back first, or it ended meanwhile
    return again


async def _unfinished(store: Store, queues: tuple[str, ...]) -> int:
    return sum(q.todo + q.doing for q in counts(store) if q.name in queues)


async def _work(
    store: Store,
    queues: tuple[str, ...],
    stalled_after: float,
    until_done: bool,
    say: Callable[[str], None],
    upgrade_every: float,
    open_store: Callable[[Path], Store] | None = None,
    tasks: Tasks | None = None,
) -> None:
    die_if_asked("worker-start")
    app = make_app(store, upgrade_every=0 if until_done else upgrade_every, tasks=tasks)
    options: dict[str, Any] = {
        "queues": list(queues),
        "concurrency": 1,
        "update_heartbeat_interval": max(stalled_after / 4, 0.2),
        "stalled_worker_timeout": stalled_after,
        "additional_context": {"store": str(store.root), "open": open_store},
        "fetch_job_polling_interval": 1.0,
        "shutdown_graceful_timeout": 5.0 if until_done else None,
    }
    async with app.open_async():
        if not until_done:
            back = await _retry_stalled(app, queues, stalled_after)
            if back:
                say(f"{back} job(s) of a stopped worker put back on the queue")

            async def keep_retrying() -> None:
                while True:
                    await asyncio.sleep(max(stalled_after / 2, 0.5))
                    n = await _retry_stalled(app, queues, stalled_after)
                    if n:
                        say(f"{n} job(s) of a stopped worker put back on the queue")

            watcher = asyncio.create_task(keep_retrying())
            try:  # (until SIGINT or SIGTERM: Procrastinate ends the running job first)
                await app.run_worker_async(wait=True, **options)
            finally:
                watcher.cancel()
            return
        while True:
            back = await _retry_stalled(app, queues, stalled_after)
            if back:
                say(f"{back} job(s) of a stopped worker put back on the queue")
            await app.run_worker_async(wait=False, install_signal_handlers=False, **options)
            if not await _unfinished(store, queues):
                return
            # another worker's job is running (it may queue a log job), one is due later, or
            # a dead worker's job waits to be given back: look again soon
            await asyncio.sleep(min(max(stalled_after / 4, 0.2), 0.5))


def work(
    store: Store,
    queues: Iterable[str] = QUEUES,
    *,
    concurrency: int = 1,
    stalled_after: float = STALLED_AFTER,
    until_done: bool = False,
    say: Callable[[str], None] = lambda _m: None,
    upgrade_every: float = UPGRADE_EVERY,
    open_store: Callable[[Path], Store] | None = None,
    tasks: Tasks | None = None,
) -> list[QueueCounts]:
    """Run jobs of ``queues`` for ``store`` until stopped (SIGINT/SIGTERM), or with
    ``until_done`` until none is waiting or running; ``concurrency`` worker processes; every
    ``upgrade_every`` seconds (0: never; not with ``until_done``) a worker of the ``log``
    queue upgrades local timestamps. Returns the queues' counts at the end."""
    qs = check_queues(queues)
    if stalled_after <= 0:
        raise UsageError("--stalled-after must be more than 0 seconds")
    if upgrade_every < 0:
        raise UsageError("--upgrade-every must be 0 (never) or more seconds")
    needs_log = [q for q in qs if q in ("log", "dossier")]
    if needs_log and not store.log_path.exists():
        raise UsageError(
            f"the {' and '.join(needs_log)} queue(s) need the store's log, which this folder "
            "does not hold",
            fix="run them on the machine that holds the log; here: dalel worker --queues ocr",
        )
    ensure_schema(store)
    logging.getLogger("procrastinate").setLevel(logging.WARNING)
    if concurrency > 1:
        _work_in_processes(store, qs, concurrency, stalled_after, until_done, upgrade_every)
    else:
        asyncio.run(
            _work(store, qs, stalled_after, until_done, say, upgrade_every, open_store, tasks)
        )
    return [q for q in counts(store) if q.name in qs]


QUICK_DEATH = 5.0
"""A worker process that ends with an error within this many seconds of its start counts as
dying at start (its store, its database or its configuration is wrong, not one job)."""

QUICK_DEATHS = 5
"""A worker process dying at start this many times in a row is not started again: the
command stops every worker and says so."""


class WorkersFailed(DalelError):
    """Worker processes ended with an error (their own output above says why)."""


def _restart_delay(quick_deaths: int) -> float:
    """Seconds before a worker process that died is started again: at once after a death
    mid-work, then doubling (0.5, 1, 2, ... at most 30) while it keeps dying at start."""
    return 0.0 if quick_deaths == 0 else min(30.0, 0.5 * 2 ** (quick_deaths - 1))


def _work_in_processes(
    store: Store,
    queues: tuple[str, ...],
    n: int,
    stalled_after: float,
    until_done: bool,
    upgrade_every: float,
) -> None:
    """``n`` worker processes (reading is CPU work: one process per core), stopped together:
    the first SIGINT or SIGTERM lets each finish its job, a second one kills them. One that
    dies is started again (after a pause growing while it keeps dying at start; given up
    after :data:`QUICK_DEATHS`); with ``until_done``, one that ended with an error is said
    (:class:`WorkersFailed`)."""
    args = [sys.executable, "-m", "cli", "--store", str(store.root), "worker"]
    args += ["--queues", ",".join(queues), "--stalled-after", str(stalled_after)]
    args += ["--upgrade-every", str(upgrade_every)]
    if until_done:
        args.append("--until-done")

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(args, stdout=subprocess.DEVNULL)

    children = [start() for _ in range(n)]
    started = [time.monotonic()] * n
    quick = [0] * n
    due: list[float | None] = [None] * n
    stopping: list[int] = []
    failed: list[int] = []

    def stop(signum: int, _frame: object) -> None:
        stopping.append(signum)
        again = len(stopping) > 1  # a second Ctrl-C: at once, the jobs go back on the queue
        for ch in children:
            if ch.poll() is None:
                ch.send_signal(signal.SIGKILL if again else signum)

    old = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while any(ch.poll() is None for ch in children) or not (until_done or stopping):
            time.sleep(0.2)
            if stopping or until_done:
                continue
            now = time.monotonic()
            for i, ch in enumerate(children):
                code = ch.poll()
                if code in (None, 0):
                    continue
                # a worker that died (killed, out of memory) is started again; its job goes
                # back on the queue once its heartbeat is stale
                when = due[i]
                if when is None:
                    quick[i] = quick[i] + 1 if now - started[i] < QUICK_DEATH else 0
                    if quick[i] >= QUICK_DEATHS:
                        stop(signal.SIGTERM, None)
                        raise WorkersFailed(
                            f"a worker process ended with an error (exit {code}) at its start "
                            f"{QUICK_DEATHS} times in a row: stopped every worker",
                            fix="see the error it printed above; fix that, then start again",
                        )
                    due[i] = now + _restart_delay(quick[i])
                elif now >= when:
                    children[i], started[i], due[i] = start(), now, None
        if until_done:
            failed = [ch.returncode for ch in children if ch.returncode not in (0, None)]
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    if failed and not stopping:
        raise WorkersFailed(
            f"{len(failed)} of {n} worker processes ended with an error "
            f"(exit {', '.join(str(c) for c in failed)}): some jobs may be left",
            fix="see the errors printed above; dalel jobs shows what is left",
        )


# --- reading what arrives ----------------------------------------------------------------
FOLLOW_KEY = "queue"
"""``[ocr] queue = true`` in config.toml (``dalel ocr --queue --follow``): every writer of the
store (the server's sequencer, each ingest) puts each protocol photo it logs on the queue."""


def following(store: Store) -> bool:
    """Whether the store's writers queue the protocol photos they log."""
    return bool(store.config.raw.get("ocr", {}).get(FOLLOW_KEY))


def set_following(store: Store, on: bool) -> None:
    """Record in the config whether the store's writers queue the protocol photos they log."""
    raw = dict(store.config.raw)
    raw["ocr"] = {**raw.get("ocr", {}), FOLLOW_KEY: on}
    store.write_config(raw)


class QueueReadingsHook:
    """A commit hook: the protocol photos a commit logged go on the ``ocr`` queue, once the
    writer has let the store go (the database is a network away). A queue that cannot be
    reached is said in the store's log of errors and does not stop the commit: ``dalel ocr
    --queue`` puts what was missed on the queue."""

    def __init__(self) -> None:
        self._seen = 0
        self._found: list[str] = []

    def on_open(self, writer: Any) -> None:
        self._seen = writer.tree.size

    def on_commit(self, writer: Any, commit: Any) -> None:
        size = writer.tree.size
        for _, _, e in writer.entries(self._seen, size):
            item = e.get("item") or {}
            if (
                e.get("event") == "ingest"
                and e.get("kind") == "protocol"
                and str(item.get("media_type", "")).startswith("image/")
            ):
                self._found.append(str(item["sha256"]))
        self._seen = size

    def after_release(self, writer: Any) -> None:
        found, self._found = self._found, []
        if not found:
            return
        from pipeline.figures import store_form

        try:
            queue_readings(writer.store, dict.fromkeys(found), form=store_form(writer.store))
        except Exception as e:  # the photos are logged; reading them can be asked again
            logging.getLogger("dalel").warning(
                "%d protocol photo(s) not put on the reading queue: %s", len(found), e
            )


# --- a role for reading workers ------------------------------------------------------------
class NoSuchRole(UsageError):
    """The PostgreSQL role named does not exist (Dalel does not make roles or passwords)."""


def grant_reader(store: Store, role: str) -> list[str]:
    """Give the existing PostgreSQL ``role`` what a worker of the ``ocr`` queue on another
    machine needs, and no more: read the index, save readings, take jobs. Nothing of the
    workspace (accounts, sessions, invites, uploads), nothing of the index to change: a
    reading machine that is taken over cannot make itself an administrator or rewrite what
    the log says. Returns the statements run (as the store's own user)."""
    import psycopg
    from psycopg import sql

    from evidence.storage.index_schema import metadata as index_tables

    ensure_schema(store)
    with psycopg.connect(conninfo(store), autocommit=True) as con:
        if con.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
            raise NoSuchRole(
                f"there is no PostgreSQL role {role!r}",
                fix=f"make it first, as the database's administrator: CREATE ROLE {role} "
                "LOGIN PASSWORD '…'",
            )
        queue_tables = [
            r[0]
            for r in con.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                "AND tablename LIKE 'procrastinate%%' ORDER BY tablename"
            )
        ]
        sequences = [
            r[0]
            for r in con.execute(
                "SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema() "
                "AND sequencename LIKE 'procrastinate%%' ORDER BY sequencename"
            )
        ]
        who = sql.Identifier(role)
        schema = con.execute("SELECT current_schema()").fetchone()
        assert schema is not None

        def names(tables: Iterable[str]) -> sql.Composable:
            return sql.SQL(", ").join(sql.Identifier(t) for t in tables)

        statements = [
            sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(str(schema[0])), who),
            sql.SQL("GRANT SELECT ON TABLE {} TO {}").format(
                names(sorted(index_tables.tables)), who
            ),
            sql.SQL("GRANT SELECT, INSERT, UPDATE ON TABLE {} TO {}").format(
                names([readings.name]), who
            ),
            sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE {} TO {}").format(
                names(queue_tables), who
            ),
        ]
        if sequences:
            statements.append(
                sql.SQL("GRANT USAGE, SELECT ON SEQUENCE {} TO {}").format(names(sequences), who)
            )
        done = []
        for statement in statements:
            con.execute(statement)
            done.append(statement.as_string(con))
    return done

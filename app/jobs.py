"""The job queue as the commands see it (:mod:`pipeline.jobs` does the work): workers open
the store with its standard commit hooks, which the pipeline's jobs cannot name themselves,
and run the application's own jobs too (a case's dossier, built on the ``dossier`` queue)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from base.errors import BrokenEnvironment
from evidence.core import events
from evidence.storage.store import Store
from pipeline import hooks
from pipeline import jobs as queue
from pipeline.jobs import (
    QUEUES,
    UPGRADE_EVERY,
    QueueCounts,
    Queued,
    check_queues,
    counts,
    grant_reader,
)

if TYPE_CHECKING:
    import procrastinate
    from procrastinate import JobContext

__all__ = [
    "QUEUES",
    "DossierQueued",
    "QueueCounts",
    "Queued",
    "check_queues",
    "counts",
    "grant_reader",
    "queue_dossier",
    "work",
]


def work(
    store: Store,
    queues: Iterable[str] = QUEUES,
    *,
    concurrency: int = 1,
    stalled_after: float = 30.0,
    until_done: bool = False,
    say: Callable[[str], None] = lambda _m: None,
    upgrade_every: float = UPGRADE_EVERY,
) -> list[QueueCounts]:
    """Run jobs of ``queues`` for ``store`` (see :func:`pipeline.jobs.work`)."""
    return queue.work(
        store,
        queues,
        concurrency=concurrency,
        stalled_after=stalled_after,
        until_done=until_done,
        say=say,
        upgrade_every=upgrade_every,
        open_store=hooks.open_store,
        tasks=add_tasks,
    )


# --- a case's dossier as a job ---------------------------------------------------------------
def add_tasks(app: procrastinate.App) -> None:
    """The application's tasks on a queue's ``app``."""
    import procrastinate

    # Only what the machine may get over by trying again (a full disk, a TSA that did not
    # answer); a case that cannot be filed yet is said once, not five times.
    retry = procrastinate.RetryStrategy(
        max_attempts=3, wait=5, retry_exceptions={OSError, BrokenEnvironment}
    )
    app.task(name=queue.DOSSIER_TASK, queue="dossier", pass_context=True, retry=retry)(_dossier_job)


@dataclass(frozen=True)
class DossierQueued:
    """A dossier build put on the ``dossier`` queue (``dalel dossier build --queue``)."""

    case: str
    edition: str
    language: str
    draft: bool
    key: str
    """The request: case, edition, language, draft and the log's size when it was made."""
    queued: bool
    """False: the same request was waiting already."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "edition": self.edition,
            "language": self.language,
            "draft": self.draft,
            "key": self.key,
            "queued": self.queued,
        }


def queue_dossier(
    store: Store,
    case_id: str,
    *,
    language: str = "ru",
    edition: str = "court",
    draft: bool = False,
    by: str | None = None,
) -> DossierQueued:
    """Put the build of ``case_id``'s dossier on the ``dossier`` queue. Refused at once, as
    a build would be, when the case does not exist or a court edition cannot be filed yet."""
    from procrastinate.exceptions import AlreadyEnqueued

    from app import dossiers

    dossiers.check_buildable(store, case_id, edition=edition, draft=draft)
    try:
        queue.ensure_schema(store)
    except queue.JobsNeedPostgres as e:
        raise queue.JobsNeedPostgres(
            e.message,
            fix=f"build it in this process instead: dalel dossier build {case_id} --out FILE",
        ) from None
    store.index.catch_up()
    since = store.index.last_seq() + 1
    key = f"dossier:{case_id}:{edition}:{language}:{int(draft)}:{since}"
    app = queue.make_app(store, tasks=add_tasks)
    with app.open():
        try:
            app.configure_task(queue.DOSSIER_TASK, queueing_lock=key, lock=key).defer(
                case_id=case_id,
                language=language,
                edition=edition,
                draft=draft,
                since=since,
                by=by,
            )
        except AlreadyEnqueued:
            return DossierQueued(case_id, edition, language, draft, key, False)
    return DossierQueued(case_id, edition, language, draft, key, True)


def built_since(
    store: Store, case_id: str, *, language: str, edition: str, draft: bool, since: int
) -> str | None:
    """The dossier of ``case_id`` with that edition, language and draft flag logged at line
    ``since`` or later, if there is one (a job that built it and died before it was marked
    done: not built twice)."""
    store.index.catch_up()
    for e in store.index.entries_by_events_after((events.DOSSIER,), since - 1):
        if (
            e.get("case") == case_id
            and e.get("edition") == edition
            and e.get("language") == language
            and bool(e.get("draft")) == draft
        ):
            return str(e["subject"])
    return None


def _dossier_job(
    context: JobContext,
    case_id: str,
    language: str,
    edition: str,
    draft: bool,
    since: int,
    by: str | None = None,
) -> str:
    from app import dossiers

    store = queue.job_store(context)
    found = built_since(
        store, case_id, language=language, edition=edition, draft=draft, since=since
    )
    if found is not None:
        return f"built already: {found}"
    queue.die_if_asked("dossier-started")
    with tempfile.TemporaryDirectory(prefix="dalel-dossier-") as tmp:
        built = dossiers.build(
            store,
            case_id,
            Path(tmp) / "dossier.pdf",
            language=language,
            edition=edition,
            draft=draft,
            by=by,
        )
    queue.die_if_asked("dossier-logged")
    return f"built {built.result.sha256}"


# --- the workspace's dossiers on the queue -------------------------------------------------
WORKSPACE_KEY = "queue"
"""``[dossier] queue = true`` in config.toml (``dalel dossier queue on``): the workspace's
"build" button puts the dossier on the ``dossier`` queue instead of building it in the web
server's own process (a worker of that queue must run on the machine holding the log)."""


def workspace_queues_dossiers(store: Store) -> bool:
    """Whether the workspace puts its dossier builds on the queue."""
    return bool(store.config.raw.get("dossier", {}).get(WORKSPACE_KEY))


def set_workspace_queues_dossiers(store: Store, on: bool) -> None:
    """Record whether the workspace puts its dossier builds on the queue (refused for a
    store without PostgreSQL: it has no queue)."""
    if on:
        try:
            queue.ensure_schema(store)
        except queue.JobsNeedPostgres as e:
            raise queue.JobsNeedPostgres(
                e.message, fix="leave it off: the workspace then builds dossiers itself"
            ) from None
    raw = dict(store.config.raw)
    raw["dossier"] = {**raw.get("dossier", {}), WORKSPACE_KEY: on}
    store.write_config(raw)


@dataclass(frozen=True)
class DossierQueueSetting:
    """``dalel dossier queue on|off``: where the workspace builds dossiers now."""

    on: bool

    def to_dict(self) -> dict[str, Any]:
        return {"workspace_queues_dossiers": self.on}


def dossier_job_status(store: Store, key: str) -> str | None:
    """The newest job of the dossier request ``key`` (:attr:`DossierQueued.key`): ``todo``,
    ``doing``, ``succeeded``, ``failed``, ``cancelled`` or ``aborted``; None when there is
    none."""
    from sqlalchemy import text

    with store.index.engine.connect() as c:
        row = c.execute(
            text(
                "SELECT status::text FROM procrastinate_jobs WHERE lock = :key "
                "ORDER BY id DESC LIMIT 1"
            ),
            {"key": key},
        ).first()
    return None if row is None else str(row[0])

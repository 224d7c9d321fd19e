"""Jobs on the PostgreSQL queue: worker (runs them), jobs (what is waiting, running, done)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table
from rich.text import Text

from base.lazy import lazy
from cli.output import Lines, err, formats, render
from cli.root import cli, store_of

if TYPE_CHECKING:
    from app import jobs
else:
    jobs = lazy("app.jobs")


@dataclass(frozen=True)
class QueueTable:
    """The queues of a store with their jobs by status."""

    queues: tuple[jobs.QueueCounts, ...]
    ended: bool = False
    """Said after a worker ran (``--until-done``) rather than asked for (``dalel jobs``)."""

    def to_dict(self) -> list[dict[str, Any]]:
        return [q.to_dict() for q in self.queues]

    @property
    def exit_code(self) -> int:
        """1 when jobs were given up (a worker that ran until done did not do them all)."""
        return 1 if self.ended and any(q.failed for q in self.queues) else 0


@formats(QueueTable)
def _table(r: QueueTable) -> Lines:
    t = Table("queue", "waiting", "running", "done", "given up", box=None)
    for q in r.queues:
        failed = Text(str(q.failed), style="bold red" if q.failed else "")
        t.add_row(q.name, str(q.todo), str(q.doing), str(q.succeeded), failed)
    yield t
    if any(q.failed for q in r.queues):
        yield Text(
            "Jobs given up failed every try; their errors are in the workers' output. Once "
            "the cause is fixed put them back with dalel ocr --queue (readings) or dalel "
            "dossier build --queue (dossiers)."
        )
    elif r.ended:
        yield Text("Nothing left to do.")


@formats("app.jobs.DossierQueued")
def _dossier_queued(r: jobs.DossierQueued) -> Lines:
    draft = ", draft" if r.draft else ""
    what = f"the {r.edition} edition of {r.case}'s dossier ({r.language}{draft})"
    if r.queued:
        yield Text(f"Queued: {what}.")
    else:
        yield Text(f"Already waiting on the queue: {what}.")
    yield Text(
        "A worker of the dossier queue on the machine holding the log builds it "
        "(dalel worker --queues dossier); dalel jobs shows where it stands."
    )


@formats("app.jobs.DossierQueueSetting")
def _dossier_queue_setting(r: jobs.DossierQueueSetting) -> Lines:
    if r.on:
        yield Text(
            "The workspace puts dossiers on the queue from its next start: keep a worker of "
            "the dossier queue running on the machine holding the log "
            "(dalel worker --queues dossier)."
        )
    else:
        yield Text("The workspace builds dossiers itself from its next start.")


@cli.command("worker")
@click.option(
    "--queues",
    default="ocr,log",
    show_default=True,
    help="Queues to take jobs from, comma-separated: ocr (reading protocols: any machine that "
    "reaches the store's database and objects), log (logging the readings: the machine "
    "that holds the store's log) and dossier (building dossiers: the machine holding the log).",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1, max=64),
    default=1,
    show_default=True,
    help="Worker processes (reading is CPU work: about one per core).",
)
@click.option(
    "--stalled-after",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="Seconds a worker may go silent before its running jobs are given to another.",
)
@click.option(
    "--upgrade-every",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="Seconds between tries to give what the store's own TSA stamped (the external ones "
    "did not answer) an external token, by the workers of the log queue (0: never).",
)
@click.option(
    "--until-done",
    is_flag=True,
    help="Stop when no job is waiting or running (default: run until stopped).",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def worker(
    ctx: click.Context,
    queues: str,
    concurrency: int,
    stalled_after: float,
    upgrade_every: float,
    until_done: bool,
    as_json: bool,
) -> None:
    """Run jobs from the store's queue in PostgreSQL (reading protocols, logging the
    readings) until stopped; start as many as you like, on as many machines."""
    store = store_of(ctx)
    names = queues.split(",")
    jobs.check_queues(names)
    if not until_done:
        err.print(Text(f"Working on {queues} for {store.root}; stop with Ctrl-C."))
    ended = jobs.work(
        store,
        names,
        concurrency=concurrency,
        stalled_after=stalled_after,
        until_done=until_done,
        say=lambda m: err.print(Text(m)),
        upgrade_every=upgrade_every,
    )
    render(QueueTable(tuple(ended), ended=True), as_json)


@cli.command("jobs")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def jobs_cmd(ctx: click.Context, as_json: bool) -> None:
    """The store's job queues: how many jobs wait, run, are done or were given up."""
    render(QueueTable(tuple(jobs.counts(store_of(ctx)))), as_json)


@dataclass(frozen=True)
class Granted:
    """What ``dalel worker-role`` granted."""

    role: str
    statements: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"role": self.role, "granted": list(self.statements)}


@formats(Granted)
def _granted(r: Granted) -> Lines:
    for statement in r.statements:
        yield Text(statement + ";")
    yield Text(
        f"A reading worker on another machine may now connect as {r.role} (its copy of "
        "config.toml naming that user): it reads the index, saves readings and takes jobs, "
        "and cannot read or change the workspace's accounts, sessions and invites."
    )


@cli.command("worker-role")
@click.argument("role")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def worker_role(ctx: click.Context, role: str, as_json: bool) -> None:
    """Give an existing PostgreSQL ROLE what a reading worker (the ocr queue) on another
    machine needs and nothing more: no workspace, no writing to the index."""
    store = store_of(ctx)
    render(Granted(role, tuple(jobs.grant_reader(store, role))), as_json)

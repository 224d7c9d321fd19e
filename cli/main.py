"""The ``dalel`` command: parses arguments, calls the library, formats output.

Exit codes: 0 success / intact; 1 verification found problems; 2 usage error; 3 some inputs
were refused and quarantined (the rest went in); 4 missing dependency or broken environment;
70 internal error (a bug: one line on stderr names the file in the store's ``logs/``, or in
the temp dir's ``dalel-logs/``, that holds the traceback; the traceback is never printed).
``--json`` writes machine-readable output to stdout; progress and logs go to stderr.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.markup import escape
from rich.text import Text

from app import setup
from base import oneshot
from base.errors import EXIT_INTERNAL, EXIT_USAGE, DalelError, cannot_write
from cli.output import Exit, err
from cli.root import cli
from evidence.storage.backends import database_unavailable

LOGS_DIR = "logs"
"""The folder of a store where crash reports go."""
TEMP_LOGS_DIR = "dalel-logs"
"""The folder under the system's temp dir for crash reports when there is no store."""


def _store_named(argv: list[str]) -> Path:
    """The store a command line names: its last ``--store`` (a command's own wins over the
    global one), else ``$DALEL_STORE``, else ``./dalel-store``."""
    named: Path | None = None
    for i, arg in enumerate(argv):
        if arg == "--store" and i + 1 < len(argv):
            named = Path(argv[i + 1])
        elif arg.startswith("--store="):
            named = Path(arg.partition("=")[2])
    return setup.choose_store(named).path


def crash_log_dir(argv: list[str]) -> Path:
    """Where a crash report goes: the ``logs/`` folder of the store the command names when
    that store exists, else ``dalel-logs/`` under the system's temp dir."""
    store = _store_named(argv)
    if (store / setup.CONFIG_FILE).is_file():
        return store / LOGS_DIR
    import tempfile

    return Path(tempfile.gettempdir()) / TEMP_LOGS_DIR


def save_crash(argv: list[str], exc: BaseException) -> Path | None:
    """Write ``exc``'s traceback and the command line to a new file in
    :func:`crash_log_dir` (the temp dir when that cannot be written); the file, or None
    when nothing could be written."""
    import tempfile
    import traceback

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    report = f"dalel {' '.join(argv)}\n{datetime.now(UTC).isoformat()}\n\n" + "".join(
        traceback.format_exception(exc)
    )
    candidates = [crash_log_dir(argv), Path(tempfile.gettempdir()) / TEMP_LOGS_DIR]
    for folder in dict.fromkeys(candidates):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"crash-{stamp}-{os.getpid()}.txt"
            path.write_text(report, encoding="utf-8")
            return path
        except OSError:
            continue
    return None


def main(argv: list[str] | None = None) -> int:
    """Entry point: the one place that turns errors into messages and exit codes."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        cli.main(args=args, prog_name="dalel", standalone_mode=False)
    except Exit as e:
        return e.code
    except click.exceptions.Abort:
        err.print("aborted")
        return EXIT_USAGE
    except click.ClickException as e:
        e.show()
        return EXIT_USAGE
    except DalelError as e:
        err.print(f"[red]error:[/] {escape(e.message)}", markup=True)
        if e.fix:
            err.print(f"  fix: {e.fix}", markup=False)
        return e.exit_code
    except Exception as e:  # anything else is a bug: saved, never shown, exit 70
        # unless the disk refused a write or the database went away: the environment's fault
        refused = cannot_write(e, disk=_store_named(args)) or database_unavailable(e)
        if refused is not None:
            err.print(f"[red]error:[/] {escape(refused.message)}", markup=True)
            err.print(f"  fix: {refused.fix}", markup=False)
            return refused.exit_code
        saved = save_crash(args, e)
        where = str(saved) if saved is not None else "no file (none could be written)"
        err.print(Text(f"internal error; the details are in {where}; please report it"))
        return EXIT_INTERNAL
    return 0


def run() -> None:
    """``dalel`` as a program (its console script, ``python -m cli``): one command, then the
    process ends; a command that says so (``dossier build``) skips the cycle collections
    that would only free what the end frees (:mod:`base.oneshot`). Exits with
    :func:`main`'s code."""
    oneshot.program()
    code = main()
    oneshot.end()
    sys.exit(code)


if __name__ == "__main__":
    run()

"""The ``dalel`` command: parses arguments, calls the library, formats output.

Exit codes: 0 success / intact; 1 verification found problems; 2 usage error; 3 some inputs
were refused and quarantined (the rest went in); 4 missing dependency or broken environment.
``--json`` writes machine-readable output to stdout; progress and logs go to stderr.
"""

from __future__ import annotations

import sys

import click
from rich.markup import escape

from base.errors import EXIT_USAGE, DalelError
from cli.commands import admin, cases, intake, items, verify
from cli.output import Exit, err
from cli.root import cli

#: Importing the command modules registers their commands on ``cli``.
COMMAND_MODULES = (intake, verify, items, cases, admin)


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
    except DalelError as e:  # anything else is a bug, not a user's problem: its traceback shows
        err.print(f"[red]error:[/] {escape(e.message)}", markup=True)
        if e.fix:
            err.print(f"  fix: {e.fix}", markup=False)
        return e.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())

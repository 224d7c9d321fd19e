"""Where output goes: results on stdout (text or ``--json``), progress and messages on stderr."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console
from rich.text import Text

from evidence.core.checks import Check, Report, Status, reason_value

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

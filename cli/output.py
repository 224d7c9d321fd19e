"""Where output goes: results on stdout (text or ``--json``), progress and messages on stderr."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console

out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


class Exit(Exception):
    """Leave with an exit code after output was written."""

    def __init__(self, code: int) -> None:
        self.code = code

"""The ``dalel`` command line: click commands and one text/JSON renderer, no business logic."""

from cli.main import main, run

__all__ = ["main", "run"]

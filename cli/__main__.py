"""``python -m cli``: the ``dalel`` command."""

from cli.main import run

run()

"""A command that ends with its process skips the collections its end makes moot
(:mod:`base.oneshot`); any other process, or command, collects as before."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import weakref
from pathlib import Path

from base import oneshot
from tests.conftest import ROOT

#: Cyclic garbage, set aside, then a full collection: does it survive?
_SET_ASIDE = """
import gc, sys, weakref
from base import oneshot
if "program" in sys.argv[1]:
    oneshot.program()
if "declared" in sys.argv[1]:
    oneshot.declare()
class Node:
    pass
node = Node()
node.me = node  # a cycle: only the collector frees it
alive = weakref.ref(node)
del node
oneshot.set_aside()
gc.collect()
print(alive() is not None, gc.get_freeze_count() > 0)
"""


def _python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def _set_aside(how: str) -> list[str]:
    done = _python(_SET_ASIDE, how)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_a_command_ending_with_the_program_sets_its_garbage_aside() -> None:
    assert _set_aside("program+declared") == ["True", "True"]  # kept until the process ends


def test_any_other_process_or_command_collects_as_before() -> None:
    assert _set_aside("program") == ["False", "False"]  # a command that did not declare (serve)
    assert _set_aside("declared") == ["False", "False"]  # not the program: declaring is moot
    assert _set_aside("-") == ["False", "False"]


#: The program run from here, with what it says of itself printed at its very end.
_PROGRAM = (
    "import atexit, gc, sys\n"
    "from base import oneshot\n"
    "atexit.register(lambda: print('end', oneshot.active(), gc.get_freeze_count() > 0))\n"
    "sys.argv = ['dalel', *sys.argv[1:]]\n"
    "from cli.main import run\n"
    "run()\n"
)


def test_the_program_ends_as_before_unless_its_command_declared() -> None:
    done = _python(_PROGRAM, "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "end False False"  # nothing set aside
    usage = _python(_PROGRAM, "no-such-command")
    assert usage.returncode == 2  # main's exit code, unchanged
    assert usage.stdout.splitlines()[-1] == "end False False"


#: The program's end after a declared command that read a store's index (its engine held in
#: a cycle, as only the collector would free it): is SQLite's write-ahead log left behind?
_INDEX_END = """
import gc, sys
from pathlib import Path
from base import oneshot
oneshot.program()
oneshot.declare()
from evidence.storage.store import Store
store = Store.open(Path(sys.argv[1]))
list(store.index.entries_by_event("ingest"))
holder = [store]
holder.append(holder)
del store
oneshot.end()
print(gc.get_freeze_count() > 0)
"""


def test_a_declared_command_closes_the_index_before_its_end_sets_everything_aside(
    tmp_path: Path,
) -> None:
    """Left open, SQLite's write-ahead log stays beside the index, and the store mounted
    read-only afterwards could not read it."""
    store = tmp_path / "st"
    init = subprocess.run(
        [sys.executable, "-m", "cli", "--store", str(store), "init", "--org", "X"],
        cwd=ROOT,
        capture_output=True,
        timeout=120,
    )
    assert init.returncode == 0, init.stderr
    done = _python(_INDEX_END, str(store))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True"]  # set aside
    assert (store / "index.sqlite").exists()
    assert not (store / "index.sqlite-wal").exists()  # the last connection closed


def test_the_cli_called_in_process_is_not_the_program() -> None:
    from cli.main import main

    assert main(["--version"]) == 0
    oneshot.declare()  # as dossier build does: moot outside the program
    assert not oneshot.active() and not oneshot.in_program()
    frozen = gc.get_freeze_count()
    oneshot.set_aside()
    oneshot.end()
    assert gc.get_freeze_count() == frozen


def test_python_minus_m_cli_is_the_program(tmp_path: Path) -> None:
    (tmp_path / "sitecustomize.py").write_text(
        "import atexit\n"
        "def said():\n"
        "    from base import oneshot\n"
        "    print('program', oneshot.in_program())\n"
        "atexit.register(said)\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
    done = subprocess.run(
        [sys.executable, "-m", "cli", "--version"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "program True"


def test_nothing_is_collected_by_set_aside_alone() -> None:
    class Node:
        me: object

    node = Node()
    node.me = node
    alive = weakref.ref(node)
    del node
    oneshot.set_aside()  # not the program: no freeze, so the collector still frees the cycle
    gc.collect()
    assert alive() is None

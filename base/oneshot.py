"""A command that ends with its process: no cycle collection the process's end makes moot.

``dalel`` started as a program (:func:`cli.main.run`) runs one command and ends. Python's
cycle collector walks every object the process holds each time it collects, and some of its
collections there buy nothing, since the operating system takes the whole memory back a
moment later:

- the one at the interpreter's exit (0.3 s after a court dossier of 50 exhibits: WeasyPrint
  leaves millions of objects) (:func:`end`);
- the one that follows a dossier's layout on both cores, when the collector is switched
  back on (:func:`app.dossier.render.cyclic_gc_paused`): 0.26 s for the same dossier.

Both are skipped only for a command that says it ends with the process (:func:`declare`:
``dossier build``); a long-lived one (``serve`` and its job workers, ``worker``) never says
so and collects as before, so that its memory does not grow with each dossier it builds.
What the last collection would have closed is closed first (:func:`close_at_end`): a
database engine's connections, since SQLite folds its write-ahead log back into the index
only when the last connection closes (left behind, a store mounted read-only could not
read its index).

Nothing changes in a process that is not the program (a test calling the CLI's ``main``
in-process, a script using the library).

(Switching the collector off for the whole of ``dossier build`` was tried: 0.15 s of
collections saved, 40 MB more at the peak, since what signing drops is then kept.)
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable

_program = False
_declared = False
_at_end: list[weakref.WeakMethod[Callable[[], object]]] = []


def program() -> None:
    """This process is the ``dalel`` program: one command, then its end (only
    :func:`cli.main.run` says so)."""
    global _program
    _program = True


def in_program() -> bool:
    """Whether this process is the ``dalel`` program."""
    return _program


def declare() -> None:
    """The command running ends with the process (``dalel dossier build``); it takes effect
    only in the program."""
    global _declared
    _declared = _program


def active() -> bool:
    """Whether this is the program and its command said it ends with it."""
    return _declared


def set_aside() -> None:
    """Where :func:`active`, what the process holds now, garbage included, is left out of
    every later collection (``gc.freeze``): its memory goes back when the process ends.
    Elsewhere this does nothing."""
    if _declared:
        gc.freeze()


def close_at_end(close: Callable[[], object]) -> None:
    """``close`` (a bound method, its object held weakly) runs at :func:`end`, before what
    the process holds is set aside: what the collector would otherwise have closed (an
    engine's ``dispose``). Outside the program, nothing is kept."""
    if _program:
        _at_end.append(weakref.WeakMethod(close))  # type: ignore[arg-type]


def end() -> None:
    """Called by the program last, before the interpreter exits: where :func:`active`,
    what :func:`close_at_end` named is closed, and the final collection then skips what is
    held. Elsewhere this does nothing."""
    if not _declared:
        return
    for ref in _at_end:
        close = ref()
        if close is not None:
            close()
    gc.freeze()

"""Run ``dalel`` with a wall-clock timer on each phase of ``dossier build`` (for the benchmark).

    python bench/dossier_phases.py CHECKOUT OUT_JSON -- --store S dossier build CASE --out F

Imports the CLI from CHECKOUT (this tree or an earlier commit's worktree), wraps the
functions a dossier build goes through with timers, runs the command and writes each phase's
seconds to OUT_JSON, with the peak RSS so far at the end of each. A phase a checkout does
not have is left out; what no phase covers (imports, the store's records, sealing the copy
it keeps) is reported as ``rest``. Phases that run at the same time (work in a thread) each
count their own wall time. A long dossier's part B is laid out by a forked process at the
same time as the front and part A here: its phases are listed apart (not counted in ``rest``)
with its peak resident size; the two processes' peaks add up at worst.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

START = time.perf_counter()

#: (label, module, attribute path) of what is timed, outermost first.
PHASES = (
    ("assemble (store -> dossier)", "app.dossiers", "assemble"),
    ("prepare media (checks, stills, blur)", "app.dossier.render", "prepare_media"),
    ("render_html (display images, QR, Jinja2)", "app.dossier.render", "render_html"),
    ("WeasyPrint: parse, style, layout", "weasyprint", "HTML.render"),
    ("WeasyPrint: write_pdf (draw, fonts, attach)", "weasyprint.document", "Document.write_pdf"),
    ("sign (PAdES B-T)", "app.dossier.build", "sign_pdf"),
    ("write the PDF", "app.dossier.build", "write_atomic"),
)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _wrap(
    times: dict[str, float], peaks: dict[str, float], label: str, fn: Callable[..., Any]
) -> Callable[..., Any]:
    def timed(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            times[label] = times.get(label, 0.0) + time.perf_counter() - t
            peaks[label] = _peak_mb()

    return timed


def main() -> int:
    checkout, out = Path(sys.argv[1]), Path(sys.argv[2])
    argv = sys.argv[sys.argv.index("--") + 1 :]
    sys.path.insert(0, str(checkout))
    times: dict[str, float] = {}
    peaks: dict[str, float] = {}
    for label, module, attr in PHASES:
        try:
            owner: Any = importlib.import_module(module)
        except ImportError:
            continue
        *path, name = attr.split(".")
        for part in path:
            owner = getattr(owner, part)
        if hasattr(owner, name):
            setattr(owner, name, _wrap(times, peaks, label, getattr(owner, name)))
    imported = time.perf_counter() - START
    from cli import main as cli_main

    try:  # run as the dalel program runs (base.oneshot), where the checkout has it
        from base import oneshot
    except ImportError:
        pass
    else:
        oneshot.program()

    # A long dossier's part B is laid out in a forked process (app/dossier/split.py), which
    # ends with os._exit: there its phases and peak are left in a file for this process.
    child_report = out.with_name(out.name + ".child")
    child_report.unlink(missing_ok=True)

    def in_child() -> None:
        times.clear()
        peaks.clear()
        real_exit = os._exit

        def leave(code: int) -> None:
            report = {"times": times, "peaks": peaks, "peak": _peak_mb()}
            child_report.write_text(json.dumps(report))
            real_exit(code)

        os._exit = leave  # type: ignore[assignment]

    os.register_at_fork(after_in_child=in_child)

    t = time.perf_counter()
    code = cli_main(argv)
    command = time.perf_counter() - t
    total = time.perf_counter() - START
    child_peak = 0.0
    if child_report.exists():
        child = json.loads(child_report.read_text())
        child_report.unlink()
        times.update({f"{k} [part B, other process]": v for k, v in child["times"].items()})
        child_peak = child["peak"]
    phases = {"imports (the phases' modules, then the CLI's)": imported, **times}
    outer = ("assemble", "prepare media", "render_html", "WeasyPrint", "sign", "write the")
    covered = sum(v for k, v in times.items() if k.startswith(outer) and not k.endswith("process]"))
    phases["rest (start-up, store records, seal)"] = max(0.0, command - covered)
    peaks["end"] = _peak_mb()
    if child_peak:
        peaks["part B's process, at its peak"] = child_peak
    report = {"code": code, "total_s": total, "phases_s": phases, "peak_rss_mb_after": peaks}
    out.write_text(json.dumps(report))
    return int(code or 0)


if __name__ == "__main__":
    raise SystemExit(main())

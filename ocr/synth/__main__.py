"""``python -m ocr.synth OUT_DIR [--count N] [--seed S] [--form ID]``: write samples and truth.

Newer options: ``--layouts all`` (the stacked, two-column and boxes layouts too, or a
comma-separated list of layouts), ``--layout NAME``, ``--script typed|handwritten``,
``--tier clean|photo|hard``, ``--hand mnist`` (real hands), ``--against-all-last``,
``--shuffle-parties``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ocr.synth.generate import make_sample
from ocr.synth.render import LAYOUTS, LAYOUTS_ALL


def main(argv: list[str] | None = None) -> int:
    """Write ``count`` samples and their ``.truth.json`` files to OUT_DIR."""
    ap = argparse.ArgumentParser(prog="python -m ocr.synth")
    ap.add_argument("out", type=Path)
    ap.add_argument("--count", type=int, default=12)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--form", default="kz-mazhilis-party-list-2023")
    ap.add_argument("--layouts", help="'all', or layouts separated by commas")
    ap.add_argument("--layout", choices=LAYOUTS_ALL)
    ap.add_argument("--script", choices=("typed", "handwritten"))
    ap.add_argument("--tier", choices=("clean", "photo", "hard"))
    ap.add_argument("--hand", choices=("font", "mnist"), default="font")
    ap.add_argument("--against-all-last", action="store_true")
    ap.add_argument("--shuffle-parties", action="store_true")
    args = ap.parse_args(argv)
    layouts = LAYOUTS
    if args.layouts:
        layouts = LAYOUTS_ALL if args.layouts == "all" else tuple(args.layouts.split(","))
        unknown = set(layouts) - set(LAYOUTS_ALL)
        if unknown:
            ap.error(f"unknown layouts: {', '.join(sorted(unknown))}")
    args.out.mkdir(parents=True, exist_ok=True)
    for i in range(args.count):
        s = make_sample(
            i,
            args.seed,
            form_id=args.form,
            layout=args.layout,
            script=args.script,
            tier=args.tier,
            layouts=layouts,
            hand=args.hand,
            against_all_last=args.against_all_last,
            shuffle_parties=args.shuffle_parties,
        )
        (args.out / f"{s.name}.{s.ext}").write_bytes(s.image)
        (args.out / f"{s.name}.truth.json").write_text(
            json.dumps(s.truth, ensure_ascii=False, indent=1), encoding="utf-8"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

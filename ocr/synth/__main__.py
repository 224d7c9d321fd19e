"""``python -m ocr.synth OUT_DIR [--count N] [--seed S] [--form ID]``: write samples and truth."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ocr.synth.generate import make_sample


def main(argv: list[str] | None = None) -> int:
    """Write ``count`` samples and their ``.truth.json`` files to OUT_DIR."""
    ap = argparse.ArgumentParser(prog="python -m ocr.synth")
    ap.add_argument("out", type=Path)
    ap.add_argument("--count", type=int, default=12)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--form", default="kz-mazhilis-party-list-2023")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for i in range(args.count):
        s = make_sample(i, args.seed, form_id=args.form)
        (args.out / f"{s.name}.{s.ext}").write_bytes(s.image)
        (args.out / f"{s.name}.truth.json").write_text(
            json.dumps(s.truth, ensure_ascii=False, indent=1), encoding="utf-8"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

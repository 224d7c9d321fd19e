"""``python -m ocr IMAGE --form FORM_ID [--json]``: the entry point behind ``dalel ocr-image``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from base.errors import DalelError
from ocr import check_environment, format_table, load_form, read_protocol


def ocr_image(path: Path, form_id: str, as_json: bool) -> tuple[str, int]:
    """Read one image; return (text for stdout, exit code). Raises :class:`OcrError`."""
    form = load_form(form_id)
    check_environment()
    reading = read_protocol(path.read_bytes(), form)
    text = (
        json.dumps(reading.to_dict(), ensure_ascii=False, indent=1)
        if as_json
        else format_table(reading)
    )
    return text, 0


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, read, print; map :class:`OcrError` to its exit code."""
    ap = argparse.ArgumentParser(prog="python -m ocr")
    ap.add_argument("image", type=Path)
    ap.add_argument("--form", required=True)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    try:
        text, code = ocr_image(args.image, args.form, args.json)
    except DalelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        print(f"error: cannot read {args.image}: {exc}", file=sys.stderr)
        return 2
    print(text)
    return code


if __name__ == "__main__":
    raise SystemExit(main())

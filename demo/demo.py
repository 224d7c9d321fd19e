"""`make demo`: the main job, end to end, on sample evidence made by the project's generator.

Every step is a real `dalel` command, printed before it runs, so the demo doubles as a
walk-through. Output lands in demo/out/ (the store, the audit bundle, a copy of a receipt).
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
STORE = OUT / "store"
DALEL = [sys.executable, str(ROOT / "cli.py")]
OBSERVER = "870412300416"  # a made-up but valid IIN: it is pseudonymised, never stored


def step(title: str, *args: str, ok=(0,)) -> subprocess.CompletedProcess:
    shown = "dalel " + " ".join(shlex.quote(str(a)) for a in args)
    print(f"\n== {title}\n$ {shown}", flush=True)
    p = subprocess.run([*DALEL, *map(str, args)], cwd=ROOT, text=True, capture_output=True)
    out = p.stdout if "--json" not in args else ""
    if out:
        print(out.rstrip())
    if p.stderr.strip():
        print(p.stderr.rstrip(), file=sys.stderr)
    if p.returncode not in ok:
        print(f"demo: step failed with exit code {p.returncode}", file=sys.stderr)
        sys.exit(p.returncode or 1)
    return p


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from demo.make_samples import make_samples

    if OUT.exists():
        shutil.rmtree(OUT)
    inbox = OUT / "inbox"
    make_samples(inbox)
    print(f"Sample evidence written to {inbox.relative_to(ROOT)} "
          f"({len(list(inbox.iterdir()))} files, with a manifest.csv)")

    step("Create the store", "--store", STORE, "init", "--org", "Demo Observers' Coalition")
    run = step("Run every stage over the inbox (manifest.csv sets observer/precinct per file)",
               "--store", STORE, "run", inbox, "--observer", OBSERVER, "--precinct", "12",
               "--json", ok=(0, 3))
    data = json.loads(run.stdout)
    for r in data["results"]:
        if r["stage"] == "intake":
            flags = f"  flags: {', '.join(r.get('flags') or []) or '-'}" if r["sha256"] else ""
            print(f"  {r['status']:8} {r['subject']}{flags}")
            if r.get("receipt"):
                print(f"           receipt {Path(r['receipt']).relative_to(ROOT)}")
    step("Run again: nothing is added", "--store", STORE, "run", inbox, "--observer", OBSERVER,
         "--precinct", "12")
    receipt = next(Path(r["receipt"]) for r in data["results"] if r.get("receipt"))
    shutil.copy(receipt, OUT / "observer-receipt.json")
    step("An observer checks a receipt with only the log's public key",
         "receipt", "verify", OUT / "observer-receipt.json",
         "--key", STORE / "public" / "log.pub", "--store", STORE)
    sha = data["results"][0]["sha256"]
    step("An item's metadata and custody history", "--store", STORE, "show", sha)
    step("Audit the whole store", "--store", STORE, "audit")
    step("Export what an auditor needs (nothing private)",
         "--store", STORE, "export-audit", OUT / "audit-bundle")
    step("The auditor verifies the bundle with no store and no private key",
         "audit", "--bundle", OUT / "audit-bundle")

    print("\nDemo finished. Output:")
    print(f"  store:            {STORE.relative_to(ROOT)}/")
    print(f"  receipts:         {(STORE / 'receipts').relative_to(ROOT)}/")
    print(f"  observer receipt: {(OUT / 'observer-receipt.json').relative_to(ROOT)}")
    print(f"  audit bundle:     {(OUT / 'audit-bundle').relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())

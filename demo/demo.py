"""`make demo`: the whole job, end to end, on sample evidence made by the project's generators.

Every step is a real `dalel` command, printed before it runs, so the demo is also a
walk-through: init, ingest with timestamps, OCR of the protocols, review, official results,
discrepancies, a case from the discrepancy, a signed court dossier in Russian and a public
one in Kazakh, verification of both, and an audit by a third party. Output: demo/out/.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
STORE = OUT / "store"
DALEL = [sys.executable, "-m", "cli"]
ELECTION_DAY = datetime.now(ZoneInfo("Asia/Almaty")).date().isoformat()
"""The demo's election is today: the protocol copy was handed out today."""
OBSERVER = "870412300416"  # a made-up but valid IIN: it is pseudonymised, never stored


def step(
    title: str,
    *args: object,
    ok: tuple[int, ...] = (0,),
    show: bool = True,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    shown = "dalel " + " ".join(shlex.quote(str(a)) for a in args)
    print(f"\n== {title}\n$ {shown}", flush=True)
    env = {**os.environ, "PYTHONFAULTHANDLER": "1", **(env or {})}  # a crash shows its trace
    p = subprocess.run([*DALEL, *map(str, args)], cwd=ROOT, text=True, capture_output=True, env=env)
    if show and p.stdout.strip():
        print(p.stdout.rstrip())
    if p.stderr.strip():
        print(p.stderr.rstrip(), file=sys.stderr)
    if p.returncode not in ok:
        print(f"demo: step failed with exit code {p.returncode}", file=sys.stderr)
        sys.exit(p.returncode or 1)
    return p


def review(precinct: str) -> None:
    """A person reviews the figures the machine did not accept, looking at each crop.

    In the demo the reviewer's readings come from the generator's truth file (what the
    sample protocol really says), and are recorded as a person's confirmation, beside the
    machine's reading, never over it.
    """
    p = step(
        f"Figures read from the protocol photos of precinct {precinct}",
        "--store",
        STORE,
        "figures",
        "show",
        "--precinct",
        precinct,
        "--json",
        show=False,
    )
    groups = json.loads(p.stdout)
    for g in groups:
        for photo in g["photos"]:
            name = _name_of(photo["item"])
            truth = json.loads((OUT / "truth" / f"{name}.json").read_text())["figures"]
            figs = photo["figures"]
            accepted = sum(1 for f in figs.values() if f["source"] == "accepted")
            print(f"  {name}: {accepted}/{len(figs)} figures accepted by the machine")
            for key, f in figs.items():
                if f["source"] is None:
                    step(
                        f"Reviewer confirms {key} (machine: {f['machine_status']})",
                        "--store",
                        STORE,
                        "figures",
                        "confirm",
                        "--item",
                        photo["item"],
                        "--field",
                        key,
                        "--value",
                        truth[key],
                        "--by",
                        "lawyer-aigerim",
                    )


def _name_of(sha: str) -> str:
    p = subprocess.run(
        [*DALEL, "--store", str(STORE), "show", sha, "--json"],
        cwd=ROOT,
        text=True,
        capture_output=True,
        check=True,
    )
    return json.loads(p.stdout)["history"][0]["name"]


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from demo.make_samples import make_samples

    if OUT.exists():
        shutil.rmtree(OUT)
    inbox = make_samples(OUT)
    print(
        f"Sample evidence written to {inbox.relative_to(ROOT)} "
        f"({len(list(inbox.iterdir()))} files, with a manifest.csv)"
    )

    step(
        "Create the store (log key, local TSA, organization certificate)",
        "--store",
        STORE,
        "init",
        "--org",
        "Демонстрационная коалиция наблюдателей",
    )
    run = step(
        "Run every stage over the inbox: store, timestamp, read the protocols",
        "--store",
        STORE,
        "run",
        inbox,
        "--observer",
        OBSERVER,
        "--precinct",
        "12",
        "--json",
        ok=(0, 3),
        show=False,
    )
    data = json.loads(run.stdout)
    for r in data["results"]:
        if r["stage"] == "intake":
            flags = ", ".join(r.get("flags") or []) or "-"
            print(f"  {r['status']:8} {r['subject']}  flags: {flags}")
            if r.get("receipt"):
                print(f"           receipt {Path(r['receipt']).relative_to(ROOT)}")
        elif r["stage"] == "ocr" and r["status"] == "done":
            print(f"  ocr      {r['subject'][:16]}…  {r['detail']}")
        elif r["stage"] == "timestamp" and r["subject"].endswith("item(s)"):
            print(f"  timestamp  {r['detail']}")
    step(
        "Run again: nothing is added",
        "--store",
        STORE,
        "run",
        inbox,
        "--observer",
        OBSERVER,
        "--precinct",
        "12",
        show=False,
    )
    step("Every item and checkpoint has an RFC 3161 token", "--store", STORE, "timestamp")
    receipt = next(Path(r["receipt"]) for r in data["results"] if r.get("receipt"))
    shutil.copy(receipt, OUT / "observer-receipt.json")
    step(
        "An observer checks a receipt with only the log's public key and the TSA root",
        "receipt",
        "verify",
        OUT / "observer-receipt.json",
        "--key",
        STORE / "public" / "log.pub",
        "--tsa-root",
        STORE / "public" / "tsa-root.pem",
    )
    step(
        "The same check in a browser: one HTML file, offline (open it, drop the receipt in)",
        "--store",
        STORE,
        "receipt",
        "page",
        OUT / "receipt-check.html",
    )
    for precinct in ("12", "47", "63"):
        review(precinct)
        step(
            f"Figures of precinct {precinct} after review",
            "--store",
            STORE,
            "figures",
            "show",
            "--precinct",
            precinct,
        )
    step(
        "Import the official results", "--store", STORE, "official", "import", OUT / "official.csv"
    )
    step("Where the protocols differ from the official results", "--store", STORE, "discrepancies")
    case = step(
        "Open a case from the discrepancy in precinct 63",
        "--store",
        STORE,
        "case",
        "new",
        "--from-discrepancy",
        "63",
        "--title",
        "Итоги по участку № 63 расходятся с протоколом",
        "--json",
        show=False,
    )
    cid = json.loads(case.stdout)["id"]
    print(f"  case {cid}")
    violations = [
        r["sha256"]
        for r in data["results"]
        if r["stage"] == "intake" and r.get("sha256") and "урна" in r["subject"]
    ]
    step(
        "Attach the photo of the stranger at the ballot box",
        "--store",
        STORE,
        "case",
        "add-evidence",
        cid,
        *violations,
    )
    step(
        "Fill in the case",
        "--store",
        STORE,
        "case",
        "set",
        cid,
        "--respondent",
        "Участковая избирательная комиссия № 63 г. Алматы",
        "--addressee-name",
        "Территориальная избирательная комиссия Алмалинского района г. Алматы",
        "--complainant-name",
        "Сәрсенбаева Әйгерім Нұрланқызы",
        "--complainant-iin",
        OBSERVER,
        "--complainant-address",
        "г. Алматы, ул. Абая, 1",
        "--complainant-phone",
        "+7 701 000 00 00",
        "--event-date",
        ELECTION_DAY,
        "--facts",
        "В день выборов наблюдателю на избирательном участке № 63 была выдана копия "
        "итогового протокола участковой избирательной комиссии, заверенная печатью.\n\n"
        "Цифры в этой копии расходятся с итогами, опубликованными по участку: расхождения "
        "приведены в таблице цифр и подтверждаются приложенными фотографиями протокола.",
        "--relief",
        "Проверить соответствие официальных итогов по участку № 63 протоколу участковой "
        "комиссии.\n\nПризнать недействительными итоги голосования на участке № 63 либо "
        "провести повторный подсчёт голосов.",
    )
    step("The deadline", "--store", STORE, "deadlines")
    court, public = OUT / "dossier-court-ru.pdf", OUT / "dossier-public-kk.pdf"
    step(
        "Build the signed court dossier in Russian",
        "--store",
        STORE,
        "dossier",
        "build",
        cid,
        "--out",
        court,
        "--lang",
        "ru",
        "--edition",
        "court",
    )
    step(
        "Build the public dossier in Kazakh (faces blurred, no personal data)",
        "--store",
        STORE,
        "dossier",
        "build",
        cid,
        "--out",
        public,
        "--lang",
        "kk",
        "--edition",
        "public",
    )
    for pdf in (court, public):
        step(f"Verify {pdf.name}", "dossier", "verify", pdf, "--store", STORE, show=False)
        print("  dossier intact: signature over the whole file, timestamp, every attachment")
    step("Audit the whole store", "--store", STORE, "audit")
    step(
        "Export what an auditor needs (nothing private)",
        "--store",
        STORE,
        "export-audit",
        OUT / "audit-bundle",
    )
    step(
        "The auditor verifies the bundle with no store and no private key",
        "audit",
        "--bundle",
        OUT / "audit-bundle",
    )

    finish(court, public)
    return 0


def finish(court: Path, public: Path) -> None:
    """Say where the output is, serve the store to a phone from a terminal, and end with how
    to run `dalel` yourself."""
    print("\nDemo finished. Output:")
    print(f"  court dossier (ru):  {court.relative_to(ROOT)}")
    print(f"  public dossier (kk): {public.relative_to(ROOT)}")
    print(f"  store:               {STORE.relative_to(ROOT)}/")
    print(f"  observer receipt:    {(OUT / 'observer-receipt.json').relative_to(ROOT)}")
    print(f"  receipt-check page:  {(OUT / 'receipt-check.html').relative_to(ROOT)}")
    print(f"  audit bundle:        {(OUT / 'audit-bundle').relative_to(ROOT)}/")
    if sys.stdin.isatty() and sys.stdout.isatty() and not os.environ.get("CI"):
        print("\n" + "\n".join(how_to_run_dalel()))  # before serving, which runs until Ctrl+C
        serve()
    else:
        print("\n(Run `make demo` in a terminal to also serve the store to a phone.)")
    print("\n" + "\n".join(how_to_run_dalel()), flush=True)


def _shown(path: Path) -> Path:
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def how_to_run_dalel(bin_dir: Path | None = None) -> list[str]:
    """How to run `dalel` yourself after the demo. `make demo` installs it (the `dalel` entry
    point of pyproject's [project.scripts]) in the virtual environment it runs the demo with,
    .venv, not on the PATH: a bare `dalel` is "command not found" until it is activated."""
    bin_dir = Path(sys.executable).parent if bin_dir is None else bin_dir
    store = STORE.relative_to(ROOT)
    dalel, activate = bin_dir / "dalel", bin_dir / "activate"
    if not dalel.exists():  # the demo was run by a Python without Dalel installed
        python = shlex.quote(sys.executable)
        return [
            "Run dalel yourself, from this folder (it is not installed as a command):",
            f"  {python} -m cli --help",
            f"  {python} -m cli --store {store} figures show --precinct 12",
        ]
    if not activate.exists():  # installed, but not in a virtual environment
        return [
            f"Run dalel yourself: {_shown(dalel)}",
            f"  {_shown(dalel)} --store {store} figures show --precinct 12",
        ]
    return [
        f"Run dalel yourself: it is installed in {_shown(bin_dir.parent)}/, not on your PATH.",
        f"  source {_shown(activate)}    # once per shell; then:",
        "  dalel --help",
        f"  dalel --store {store} figures show --precinct 12",
        f"or, without activating: {_shown(dalel)} --store {store} audit",
    ]


def serve(port: int = 8000) -> None:
    """Serve the demo store to observers' phones until Ctrl+C: an invite, the links."""
    invite = step(
        "Invite an observer of precinct 31 (a link and its QR code)",
        "--store",
        STORE,
        "observer",
        "invite",
        "--precinct",
        "31",
        "--qr",
        OUT / "invite-qr.png",
        "--json",
        show=False,
    )
    made = json.loads(invite.stdout)
    accounts = []
    for name, role in (
        ("coordinator", "coordinator"),
        ("lawyer", "lawyer"),
        ("reviewer-1", "reviewer"),
        ("reviewer-2", "reviewer"),
    ):
        added = step(
            f"A workspace account: {name} ({role})",
            "--store",
            STORE,
            "user",
            "add",
            name,
            "--role",
            role,
            "--json",
            show=False,
            ok=(0, 2),
        )
        if added.returncode == 0:
            accounts.append(f"{name}  {json.loads(added.stdout)['password']}  ({role})")
    kept = OUT / "workspace-accounts.txt"
    if accounts:
        kept.write_text("\n".join(accounts) + "\n", encoding="utf-8")
        kept.chmod(0o600)
    print(f"\nServing the demo store on http://127.0.0.1:{port}")
    print(f"  observer's phone page:  {made['url']}")
    print(f"  its QR code:            {(OUT / 'invite-qr.png').relative_to(ROOT)}")
    print(f"  receipt-check page:     http://127.0.0.1:{port}/verify")
    print(f"  coalition's workspace:  http://127.0.0.1:{port}/w/")
    print(f"    names and passwords:  {kept.relative_to(ROOT)}")
    print("  stop with Ctrl+C (what was received is committed first)\n")
    try:
        subprocess.run([*DALEL, "--store", str(STORE), "serve", "--port", str(port)], cwd=ROOT)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())

"""``export-audit``: everything an auditor needs to verify the store, and nothing private.

A bundle holds the custody log, the checkpoints, the receipts, the public keys and a list
of object hashes (the objects themselves with ``with_objects``). No private key, no
pseudonym secret, no index, no quarantine (refused files may hold personal data).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from base.errors import BrokenEnvironment, UsageError
from evidence.core import custody
from evidence.storage.store import Store

README = """Dalel audit bundle
==================

log/custody.jsonl      the custody log, one signed canonical JSON entry per line
log/checkpoints/*.note signed checkpoints (C2SP tlog-checkpoint, signed note, Ed25519)
receipts/*.json        the receipts the store issued
public/log.pub         the log's verifier key (pin it from a source you trust)
public/trust-bundle.pem  the organisation's CA and TSA roots, to verify its dossiers
objects.txt            SHA-256 and size of every stored object
tokens/                the RFC 3161 tokens (named by their SHA-256), for openssl ts -verify
objects/               the objects themselves, when exported with --with-objects

Verify it with:   dalel audit --bundle THIS_FOLDER --key log.pub
                  (log.pub: a copy of the log's key you got from the organisation, not
                  from this folder; without --key the audit trusts public/log.pub and
                  says so: KEY_NOT_PINNED)
Check an object:  sha256sum objects/<hash>   (the name is the expected hash)
Check a dossier:  dalel dossier verify DOSSIER.pdf --trust public/trust-bundle.pem
"""


MANIFEST = "bundle.json"
"""The bundle's manifest: its format, the log's origin, counts."""
LISTING = "objects.txt"
"""The bundle's list of objects: one ``SHA256 SIZE`` line each."""
_MAX_SIZE_DIGITS = 18


def read_manifest(root: Path) -> tuple[dict[str, Any], str | None]:
    """The manifest of the bundle at ``root`` and None; or ``{}`` and what is wrong with it
    (missing, not JSON, not an object). Never raises on its content."""
    path = root / MANIFEST
    if not path.is_file():
        return {}, "is missing"
    try:
        data = json.loads(path.read_bytes())
    except (ValueError, RecursionError, OSError) as e:
        return {}, f"cannot be read as JSON: {e}"
    if not isinstance(data, dict):
        return {}, "is not a JSON object"
    return data, None


def read_listing(root: Path) -> tuple[dict[str, int], list[str]]:
    """The objects the bundle at ``root`` lists (hash -> size), and what is wrong with the
    listing: the file missing or unreadable, each line that is not ``SHA256 SIZE``. Never
    raises on its content."""
    listed: dict[str, int] = {}
    try:
        text = (root / LISTING).read_text(encoding="utf-8")
    except FileNotFoundError:
        return listed, ["is missing"]
    except (OSError, UnicodeDecodeError) as e:
        return listed, [f"cannot be read: {e}"]
    problems = []
    for number, row in enumerate(text.splitlines(), 1):
        parts = row.split()
        if not parts:
            continue
        size = parts[1] if len(parts) > 1 else ""
        if not (size.isascii() and size.isdigit()) or len(size) > _MAX_SIZE_DIGITS:
            problems.append(f"line {number} is not 'SHA256 SIZE': {row[:80]!r}")
            continue
        listed[parts[0]] = int(size)
    return listed, problems


def export(store: Store, out: Path, *, with_objects: bool = False) -> dict[str, int]:
    """Write the audit bundle to ``out`` (which must not exist or be empty)."""
    if out.exists() and not out.is_dir():
        raise UsageError(
            f"{out} exists and is not a folder", fix="give a new folder for the bundle"
        )
    if out.exists() and any(out.iterdir()):
        raise UsageError(f"{out} is not empty", fix="give a new folder for the bundle")
    try:
        (out / "log" / "checkpoints").mkdir(parents=True)
        return _write(store, out, with_objects)
    except (FileExistsError, NotADirectoryError):
        raise UsageError(
            f"{out} cannot be made: a file stands on its path",
            fix="give a new folder for the bundle",
        ) from None
    except OSError as e:
        raise BrokenEnvironment(
            f"the bundle could not be made in {out}: {e.strerror or e} ({e.filename})",
            fix="free space or choose a folder you can write to, then export to a new folder",
        ) from None


def _write(store: Store, out: Path, with_objects: bool) -> dict[str, int]:
    """Write the bundle's parts into ``out`` (made, with ``log/checkpoints/``)."""
    (out / "receipts").mkdir()
    (out / "public").mkdir()
    n_lines = 0
    with open(out / "log" / "custody.jsonl", "wb") as f:
        for line in store.log_lines():
            f.write(line + b"\n")
            n_lines += 1
    for p in store.checkpoint_paths():
        shutil.copyfile(p, out / "log" / "checkpoints" / p.name)
    for p in store.receipt_paths():
        shutil.copyfile(p, out / "receipts" / p.name)
    shutil.copytree(store.public_dir, out / "public", dirs_exist_ok=True)
    # Timestamp tokens are small and public: always in the bundle, to verify offline.
    (out / "tokens").mkdir()
    index = store.index
    index.catch_up()
    for t in index.all_tokens():
        if store.objects.exists(t["token_sha256"]):
            (out / "tokens" / t["token_sha256"]).write_bytes(store.objects.read(t["token_sha256"]))
    rows = []
    if with_objects:
        (out / "objects").mkdir()
    for sha in store.objects.list():
        rows.append(f"{sha} {store.objects.size(sha)}\n")
        if with_objects:
            with store.objects.open(sha) as src, open(out / "objects" / sha, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    (out / LISTING).write_text("".join(rows))
    manifest = {
        "format": "dalel-audit-bundle/1",
        "origin": store.config.origin,
        "org": store.config.org,
        "exported": custody.utc_now(),
        "entries": n_lines,
        "objects": len(rows),
        "with_objects": with_objects,
        "tolerance_seconds": store.config.raw.get("timestamp", {}).get("tolerance_seconds", 300),
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    (out / "README.txt").write_text(README)
    return {"entries": n_lines, "objects": len(rows)}

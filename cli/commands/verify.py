"""Verification: receipts, audits, audit bundles, dossiers."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import click

from app import dossiers as dossiers_mod
from base.errors import UsageError
from cli.output import Exit, err, out, render_report
from cli.root import cli, dossier, store_of
from evidence import audit as audit_mod
from evidence.core import receipts
from evidence.core.keys import PublicKey
from evidence.core.tokens import load_certificates
from evidence.storage import bundle
from evidence.storage.store import Store
from evidence.timestamping import stamping


@cli.group()
def receipt() -> None:
    """Receipts observers hold for the files they handed in."""


@receipt.command("verify")
@click.argument("receipt_file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--key", "key_file", type=click.Path(path_type=Path, exists=True),
              help="The log's public key (public/log.pub) to pin.")
@click.option("--tsa-root", "tsa_root_file", type=click.Path(path_type=Path, exists=True),
              help="The TSA root certificate(s) to trust for the item's token (PEM).")
@click.option("--store", "store_dir", type=click.Path(path_type=Path), default=None,
              help="Also check against this store: the log only grew, the object is intact. "
                   "Pins the store's log key and TSA roots.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def receipt_verify(ctx, receipt_file, key_file, tsa_root_file, store_dir, as_json) -> None:
    """Check a receipt offline with nothing but the receipt and the log's public key."""
    try:
        data = json.loads(receipt_file.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UsageError(f"{receipt_file} is not a receipt (not JSON: {e})") from None
    pinned = None
    if key_file:
        try:
            pinned = PublicKey.from_verifier(key_file.read_text())
        except ValueError as e:
            raise UsageError(f"{key_file} is not a log public key: {e}") from None
    store = Store.open(store_dir) if store_dir is not None else None
    if pinned is None and store is not None:
        pinned = store.public_key()
    tsa_roots = None
    if tsa_root_file:
        try:
            tsa_roots = load_certificates(tsa_root_file.read_bytes())
        except ValueError:
            raise UsageError(f"{tsa_root_file} holds no PEM certificate",
                             fix="give public/tsa-root.pem of the store") from None
    elif store is not None and isinstance(data, dict):
        source = (data.get("timestamp") or {}).get("source", stamping.LOCAL)
        tsa_roots = stamping.roots_for(store.public_dir, str(source))
    report = receipts.verify(data, pinned, tsa_roots=tsa_roots)
    if store is not None:
        report = receipts.verify_against_store(data, report, store)
    render_report(
        report,
        as_json,
        subject=f"item {report.item_sha256}, leaf {report.leaf_index}",
        holds="receipt holds",
        fails="receipt does NOT hold",
    )
    if not report.ok:
        raise Exit(report.exit_code)


@cli.command()
@click.option(
    "--bundle",
    "bundle_dir",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    help="Audit an exported bundle instead of a store (no private key needed).",
)
@click.option("--no-rehash", is_flag=True, help="Do not re-hash objects (faster).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def audit(ctx, bundle_dir, no_rehash, as_json) -> None:
    """Check every object, entry, checkpoint and receipt; report every problem."""
    if bundle_dir:
        source: Any = audit_mod.BundleSource(bundle_dir)
    else:
        source = audit_mod.StoreSource(store_of(ctx), rehash=not no_rehash)
    with err.status("auditing…") if err.is_terminal else contextlib.nullcontext():
        report = audit_mod.run(source)
    render_report(
        report,
        as_json,
        headline=f"{report.entries} entries, {report.objects_checked} objects"
        f"{'' if report.objects_rehashed else ' (not re-hashed)'}, "
        f"{report.checkpoints} checkpoints, {report.receipts} receipts",
        holds="INTACT: every check passed",
        fails=f"PROBLEMS: {len(report.failures)} failed checks",
    )
    if not report.ok:
        raise Exit(report.exit_code)


@cli.command("export-audit")
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option("--with-objects", is_flag=True, help="Copy the objects too.")
@click.pass_context
def export_audit(ctx, out_dir, with_objects) -> None:
    """Write what an auditor needs, and nothing private, to OUT_DIR."""
    counts = bundle.export(store_of(ctx), out_dir, with_objects=with_objects)
    out.print(
        f"Exported {counts['entries']} entries and {counts['objects']} object hashes "
        f"to {out_dir}. Verify with: dalel audit --bundle {out_dir}"
    )


@dossier.command("verify")
@click.argument("pdf_file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--store", "store_dir", type=click.Path(path_type=Path), default=None,
              help="The store that made it: trust its certificates, check every exhibit "
                   "is in its custody log.")
@click.option("--trust", "trust_files", multiple=True,
              type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="A CA certificate (PEM) to trust for the signature and its timestamp.")
@click.option("--json", "as_json", is_flag=True)
def dossier_verify(pdf_file, store_dir, trust_files, as_json) -> None:
    """Check a dossier: signature over the whole file, timestamp, every attachment's hash."""
    store = Store.open(store_dir) if store_dir else None
    trust = [p.read_bytes() for p in trust_files]
    report = dossiers_mod.verify(pdf_file.read_bytes(), store=store, trust=trust,
                             tsa_trust=list(trust))
    render_report(
        report,
        as_json,
        subject=f"signed by {report.signer or '—'}",
        holds="dossier intact",
        fails="dossier NOT intact",
    )
    if not report.ok:
        raise Exit(report.exit_code)


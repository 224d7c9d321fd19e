"""Verification: receipts, audits, audit bundles, dossiers."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.text import Text

from base.errors import UsageError
from base.fsio import atomic_write
from base.lazy import lazy
from cli.output import Exit, Lines, err, formats, render, render_report
from cli.root import cli, dossier, optional_store_of, store_of

if TYPE_CHECKING:
    from app import verify as verify_app
else:
    verify_app = lazy("app.verify")


@cli.group()
def receipt() -> None:
    """Receipts observers hold for the files they handed in."""


@receipt.command("verify")
@click.argument("receipt_file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option(
    "--key",
    "key_file",
    type=click.Path(path_type=Path, exists=True),
    help="The log's public key (public/log.pub) to pin.",
)
@click.option(
    "--tsa-root",
    "tsa_root_file",
    type=click.Path(path_type=Path, exists=True),
    help="The TSA root certificate(s) to trust for the item's token (PEM).",
)
@click.option(
    "--store",
    "store_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Also check against this store: the log only grew, the object is intact. "
    "Pins the store's log key and TSA roots.",
)
@click.option(
    "--log",
    "log_source",
    default=None,
    help="Also check against the log as published in tiles (dalel log tiles): a folder or "
    "a web address. Its checkpoint must be signed by the log's key and hold the entry.",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def receipt_verify(
    ctx: click.Context,
    receipt_file: Path,
    key_file: Path | None,
    tsa_root_file: Path | None,
    store_dir: Path | None,
    log_source: str | None,
    as_json: bool,
) -> None:
    """Check a receipt offline with nothing but the receipt and the log's public key."""
    report = verify_app.receipt(
        verify_app.Supplied.read_receipt(receipt_file),
        key=verify_app.Supplied.read_optional(key_file),
        tsa_roots=verify_app.Supplied.read_optional(tsa_root_file),
        store=optional_store_of(ctx, store_dir),
        log=log_source,
    )
    render_report(
        report,
        as_json,
        subject=f"item {report.item_sha256}, leaf {report.leaf_index}",
        holds="receipt holds",
        fails="receipt does NOT hold",
    )
    if not report.ok:
        raise Exit(report.exit_code)


@dataclass(frozen=True)
class PageWritten:
    """A receipt-check page written to a file."""

    path: Path
    key: str
    fingerprint: str
    log_url: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "key": self.key,
            "fingerprint": self.fingerprint,
            "log_url": self.log_url,
            "bytes": self.size,
        }


@formats(PageWritten)
def _page(r: PageWritten) -> Lines:
    yield Text.assemble(("Receipt-check page: ", "bold"), str(r.path), f" ({r.size // 1024} KiB)")
    if r.key:
        yield Text(f"It trusts the log key {r.key}")
        yield Text(f"fingerprint {r.fingerprint}: publish it where observers can compare it.")
    else:
        yield Text("It pins no log key: whoever opens it pastes the key to trust.", style="yellow")
    if r.log_url:
        yield Text(f"Online, it asks {r.log_url} for the log's latest checkpoint (nothing else).")
    else:
        yield Text("It checks offline only (no --log-url, no [web] public_url in the store).")
    yield Text("Open it in any browser, offline too; what is checked never leaves the device.")


@receipt.command("page")
@click.argument("out", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--key",
    "key_file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="The log's public key (public/log.pub) to pin (default: the store's).",
)
@click.option(
    "--log-url",
    default=None,
    help="The server's public address, asked for the latest checkpoint when online "
    "(default: the store's [web] public_url, if set).",
)
@click.option(
    "--tiles-url",
    default="",
    help="The log published as tiles (dalel log tiles) on a static server or CDN: asked "
    "instead of the server, the consistency proof made from the tiles in the browser.",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def receipt_page(
    ctx: click.Context,
    out: Path,
    key_file: Path | None,
    log_url: str | None,
    tiles_url: str,
    as_json: bool,
) -> None:
    """Write the receipt-check page as one self-contained HTML file (works offline)."""
    from web import verifypage

    for given in (tiles_url, log_url or ""):
        try:
            if given:
                verifypage.web_origin(given)
        except ValueError:
            raise UsageError(
                f"{given!r} is not a web address", fix="e.g. https://cdn.example.org/log"
            ) from None
    store = None if key_file is not None and log_url is not None else optional_store_of(ctx)
    key = verify_app.page_key(verify_app.Supplied.read_optional(key_file), store)
    url = verify_app.page_log_url(log_url, store)
    html = verifypage.render(key, log_url=url, inline=True, tiles_url=tiles_url).encode()
    if out.exists():
        raise UsageError(f"{out} exists; name a new file (a page is never written over)")
    atomic_write(out, html, mode=0o644)
    render(
        PageWritten(
            out,
            key.verifier() if key else "",
            verifypage.fingerprint(key) if key else "",
            url,
            len(html),
        ),
        as_json,
    )


@cli.command()
@click.option(
    "--bundle",
    "bundle_dir",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    help="Audit an exported bundle instead of a store (no private key needed).",
)
@click.option(
    "--key",
    "key_file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="Pin the log's public key: a copy of public/log.pub kept outside the store.",
)
@click.option(
    "--tsa-root",
    "tsa_root_file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="Pin the TSA root certificates (PEM) every token must chain to.",
)
@click.option(
    "--since",
    "since_files",
    multiple=True,
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="A checkpoint kept outside the store (a note, or a receipt holding one); the log must "
    "extend it (no rollback, no rewrite). May be repeated.",
)
@click.option("--no-rehash", is_flag=True, help="Do not re-hash objects (faster).")
@click.option(
    "--second-opinion",
    is_flag=True,
    help="Verify every timestamp token once more with a second, independent verifier "
    "(rfc3161-client): slower.",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def audit(
    ctx: click.Context,
    bundle_dir: Path | None,
    key_file: Path | None,
    tsa_root_file: Path | None,
    since_files: tuple[Path, ...],
    no_rehash: bool,
    second_opinion: bool,
    as_json: bool,
) -> None:
    """Check every object, entry, checkpoint and receipt; report every problem."""
    trust = verify_app.audit_trust(
        key=verify_app.Supplied.read_optional(key_file),
        tsa_roots=verify_app.Supplied.read_optional(tsa_root_file),
        since=[verify_app.Supplied.read_receipt(p) for p in since_files],
    )
    with err.status("auditing…") if err.is_terminal else contextlib.nullcontext():
        report = (
            verify_app.audit_bundle(bundle_dir, trust=trust, second_opinion=second_opinion)
            if bundle_dir
            else verify_app.audit_store(
                store_of(ctx), rehash=not no_rehash, trust=trust, second_opinion=second_opinion
            )
        )
    unpinned = [
        what
        for what, pinned in (("log key", report.key_pinned), ("TSA roots", report.tsa_roots_pinned))
        if not pinned
    ]
    trusting = (
        f" (KEY_NOT_PINNED: trusted the {' and '.join(unpinned)} found in the "
        f"{'bundle' if bundle_dir else 'store'}; pin them with --key and --tsa-root)"
        if unpinned
        else " (against the pinned log key and TSA roots)"
    )
    render_report(
        report,
        as_json,
        headline=f"{report.entries} entries, {report.objects_checked} objects"
        f"{'' if report.objects_rehashed else ' (not re-hashed)'}, "
        f"{report.checkpoints} checkpoints, {report.receipts} receipts",
        holds="INTACT: every check passed" + trusting,
        fails=f"PROBLEMS: {len(report.failures)} failed checks" + trusting,
    )
    if not report.ok:
        raise Exit(report.exit_code)


@cli.command("export-audit")
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option("--with-objects", is_flag=True, help="Copy the objects too.")
@click.pass_context
def export_audit(ctx, out_dir, with_objects) -> None:
    """Write what an auditor needs, and nothing private, to OUT_DIR."""
    render(verify_app.export_audit(store_of(ctx), out_dir, with_objects=with_objects))


@dossier.command("verify")
@click.argument("pdf_file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option(
    "--store",
    "store_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="The store that made it: trust its certificates, check every exhibit "
    "is in its custody log.",
)
@click.option(
    "--trust",
    "trust_files",
    multiple=True,
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="Certificates (PEM) to trust for the signature and its timestamp: the "
    "organisation's public/trust-bundle.pem holds every root needed. May be repeated.",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def dossier_verify(
    ctx: click.Context,
    pdf_file: Path,
    store_dir: Path | None,
    trust_files: tuple[Path, ...],
    as_json: bool,
) -> None:
    """Check a dossier: signature over the whole file, timestamp, every attachment's hash."""
    report = verify_app.dossier(
        pdf_file.read_bytes(),
        store=optional_store_of(ctx, store_dir),
        trust=[verify_app.trust_anchor(verify_app.Supplied.read(p)) for p in trust_files],
    )
    render_report(
        report,
        as_json,
        subject=f"signed by {report.signer or '—'}",
        holds="dossier intact",
        fails="dossier NOT intact",
    )
    fix = verify_app.dossier_fix(report)
    if fix:
        err.print(f"  fix: {fix}", markup=False)
    if not report.ok:
        raise Exit(report.exit_code)

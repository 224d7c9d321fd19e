"""Verification: a receipt, a dossier, a store or an exported audit bundle; an audit bundle
exported.

Each check returns a report with every check made (``evidence.core.checks``), never the first
exception; only input that is not what it claims to be (a receipt that is not JSON, a key file
that holds no key) is a usage error.

What a receipt or a dossier is trusted to, in this order:

- a receipt: the log key given (``key``), else the store's (``public/log.pub``), else none
  (a warning); the TSA roots given (``tsa_roots``), else those the store publishes for the
  token's source (``public/tsa-root.pem`` for the local TSA, ``public/tsa-roots/NAME.pem``
  for an external one), else those the receipt carries (a warning). With a store, the receipt
  is also checked against it: the log still holds the entry, only grew, and the object is
  intact.
- a dossier: the certificates given (``trust``, for the signature and its timestamp: the
  organisation's trust bundle ``public/trust-bundle.pem`` holds every root needed) and the
  store's (its organisation's CA for the signature, its TSA roots for the timestamp); with a
  store, every exhibit must be in its custody log. With neither, there is nothing to trust the
  signature to: a usage error.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from base.errors import UsageError
from base.lazy import lazy
from evidence.core import receipts
from evidence.core.keys import PublicKey
from evidence.core.tokens import load_certificates

if TYPE_CHECKING:
    from evidence import audit as audit_mod
    from evidence.pdf import sign as pdfsign
    from evidence.pdf import verify as pdfverify
    from evidence.storage import bundle
    from evidence.storage.store import Store
    from evidence.timestamping import roots as tsa_roots_mod
else:  # loaded by the operations that use them: checking a receipt needs none of them
    audit_mod, bundle = lazy("evidence.audit"), lazy("evidence.storage.bundle")
    pdfsign, pdfverify = lazy("evidence.pdf.sign"), lazy("evidence.pdf.verify")
    tsa_roots_mod = lazy("evidence.timestamping.roots")  # where a store keeps its TSA roots

_SOURCE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
"""What a TSA's name looks like (it names a file in ``public/tsa-roots/``)."""
LOCAL_TSA_ROOT_FILE = "tsa-root.pem"
"""The local TSA's root certificate, in a store's ``public/``."""


@dataclass(frozen=True)
class Supplied:
    """Bytes a user supplied (a file, an upload) and the name messages call them by."""

    data: bytes
    """The bytes."""
    name: str
    """What they are called in messages: a file's path, an upload's name."""

    @classmethod
    def read(cls, path: Path, *, limit: int | None = None) -> Supplied:
        """The bytes of the file at ``path``, named by its path; with ``limit``, a usage
        error when the file holds more bytes than that (they are never all read)."""
        if limit is None:
            return cls(path.read_bytes(), str(path))
        with open(path, "rb") as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise UsageError(
                f"{path} is larger than {limit // 1024} KiB",
                fix="give the file Dalel wrote (a receipt is a few KiB)",
            )
        return cls(data, str(path))

    @classmethod
    def read_optional(cls, path: Path | None) -> Supplied | None:
        """The bytes of the file at ``path``, or None when no path is given."""
        return None if path is None else cls.read(path)

    @classmethod
    def read_receipt(cls, path: Path) -> Supplied:
        """A receipt file, read within the size a receipt may have
        (``evidence.core.receipts.MAX_BYTES``)."""
        return cls.read(path, limit=receipts.MAX_BYTES)


# --- receipts ------------------------------------------------------------------------------
def _receipt_data(receipt: Supplied) -> Any:
    try:
        return receipts.load(receipt.data)
    except receipts.ReceiptUnreadable as e:
        raise receipts.ReceiptUnreadable(f"{receipt.name} is not a receipt ({e.message})") from None


def _pinned_key(key: Supplied | None, store: Store | None) -> PublicKey | None:
    if key is not None:
        try:
            return PublicKey.from_verifier(key.data.decode("utf-8", "replace"))
        except ValueError as e:
            raise UsageError(f"{key.name} is not a log public key: {e}") from None
    return store.public_key() if store is not None else None


def page_key(key: Supplied | None, store: Store | None) -> PublicKey | None:
    """The log key a receipt-check page pins: the one given, else the store's, else none."""
    return _pinned_key(key, store)


def page_log_url(given: str | None, store: Store | None) -> str:
    """The log address a receipt-check page asks when online: the one given, else the store's
    ``[web] public_url`` when set, else none (the page then checks offline only)."""
    url = given
    if url is None and store is not None:
        url = store.config.raw.get("web", {}).get("public_url") or ""
    url = (url or "").strip().rstrip("/")
    if url and not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+(/[\w./~%-]*)?", url):
        raise UsageError(f"--log-url {url[:80]!r} is not an http(s) address")
    return url


def receipt_tsa_roots(
    data: Any, tsa_roots: Supplied | None, store: Store | None
) -> tuple[Any, ...] | None:
    """The TSA roots a receipt's token is checked against: those given, else those the store
    publishes for the token's source, else None (the receipt's own, with a warning)."""
    if tsa_roots is not None:
        try:
            return tuple(load_certificates(tsa_roots.data))
        except ValueError:
            raise UsageError(
                f"{tsa_roots.name} holds no PEM certificate",
                fix="give public/tsa-root.pem of the store",
            ) from None
    if store is not None and isinstance(data, dict):
        stamp = data.get("timestamp")
        local = tsa_roots_mod.LOCAL
        source = stamp.get("source", local) if isinstance(stamp, dict) else local
        if not isinstance(source, str) or not _SOURCE_NAME.fullmatch(source):
            return ()  # no such TSA: nothing to trust its token to (a failed check)
        try:
            return tsa_roots_mod.roots_for(store.public_dir, source)
        except ValueError:
            return ()  # the store's roots file for it holds no certificate
    return None


def receipt(
    receipt: Supplied,
    *,
    key: Supplied | None = None,
    tsa_roots: Supplied | None = None,
    store: Store | None = None,
    log: str | None = None,
) -> receipts.ReceiptReport:
    """Check a receipt offline against the pinned log ``key`` and ``tsa_roots`` (else the
    store's), and, with a ``store``, against the store too; with ``log`` (a tiles folder or
    web address, :mod:`app.logtiles`), against the log as published. Every problem is a
    check in the report; a usage error only when the receipt is not JSON, the key not a log
    key, or the roots file holds no certificate."""
    data = _receipt_data(receipt)
    pinned = _pinned_key(key, store)
    roots = receipt_tsa_roots(data, tsa_roots, store)
    report = receipts.verify(data, pinned, tsa_roots=roots)
    if store is not None:
        report = receipts.verify_against_store(data, report, store)
    if log is not None and isinstance(data, dict):
        from app import logtiles

        report = receipts.verify_against_log(data, report, logtiles.fetcher(log), pinned)
    return report


# --- dossiers ------------------------------------------------------------------------------
@dataclass(frozen=True)
class DossierTrust:
    """What a dossier is checked against."""

    signer: tuple[bytes, ...]
    """Certificates (PEM or DER) that may anchor the signature."""
    tsa: tuple[bytes, ...]
    """Certificates that may anchor the signature's timestamp."""
    known: frozenset[str] | None
    """The hashes every exhibit must be among (a store's items), or None: not checked."""


def dossier_trust(store: Store | None, trust: Sequence[bytes] = ()) -> DossierTrust:
    """The anchors for a dossier: the certificates in ``trust`` (for the signature and its
    timestamp), and the ``store``'s organisation CA and TSA roots with its items as the known
    exhibits. A usage error when that leaves nothing to trust the signature to."""
    signer, tsa = list(trust), list(trust)
    known = None
    if store is not None:
        signer.append((store.public_dir / pdfsign.ORG_CA_CERT_FILE).read_bytes())
        tsa.append((store.public_dir / LOCAL_TSA_ROOT_FILE).read_bytes())
        roots = store.public_dir / tsa_roots_mod.ROOTS_DIR
        if roots.is_dir():
            tsa += [p.read_bytes() for p in sorted(roots.glob("*.pem"))]
        index = store.index
        index.catch_up()
        known = frozenset(r["sha256"] for r in index.items_where())
    if not signer:
        raise UsageError(
            "nothing to trust the signature to",
            fix="give --store DIR (the store that made it) or --trust CA.pem",
        )
    return DossierTrust(tuple(signer), tuple(tsa), known)


def trust_anchor(supplied: Supplied) -> bytes:
    """The bytes of a certificate file given to trust a dossier by (one PEM certificate, a
    PEM bundle of many such as ``public/trust-bundle.pem``, or one DER certificate), once
    checked to hold a certificate; a usage error naming the file otherwise."""
    try:
        certs = pdfverify.load_certs(supplied.data)
    except ValueError:
        certs = []
    if not certs:
        raise UsageError(
            f"{supplied.name} holds no certificate",
            fix=f"give the organisation's public/{pdfsign.TRUST_BUNDLE_FILE} "
            "(its CA and TSA roots, in PEM)",
        )
    return supplied.data


def dossier_fix(report: pdfverify.DossierReport) -> str | None:
    """What to do when a dossier failed only for want of a trusted root (a root not given,
    not a broken file): None otherwise."""
    untrusted = {pdfverify.Reason.SIGNER_UNTRUSTED, pdfverify.Reason.TSA_UNTRUSTED}
    missing = report.reasons & untrusted
    if not missing:
        return None
    which = " and ".join(
        what
        for reason, what in (
            (pdfverify.Reason.SIGNER_UNTRUSTED, "the organisation's CA"),
            (pdfverify.Reason.TSA_UNTRUSTED, "the root of the TSA that timestamped it"),
        )
        if reason in missing
    )
    return (
        f"{which} was not among the certificates trusted; verify with the trust bundle the "
        f"organisation publishes: --trust {pdfsign.TRUST_BUNDLE_FILE} (public/"
        f"{pdfsign.TRUST_BUNDLE_FILE} of its store, or of its audit bundle), or with "
        "--store DIR of the store that made it"
    )


def dossier(
    pdf: bytes, *, store: Store | None = None, trust: Sequence[bytes] = ()
) -> pdfverify.DossierReport:
    """Check a dossier: the signature over the whole file and its timestamp (against ``trust``
    and the store's certificates), and every attachment's hash (with a store, also that each
    is in its custody log)."""
    anchors = dossier_trust(store, trust)
    return pdfverify.verify_dossier(
        pdf, list(anchors.signer), anchors.known, tsa_certs=list(anchors.tsa)
    )


# --- audits --------------------------------------------------------------------------------
def audit_trust(
    *,
    key: Supplied | None = None,
    tsa_roots: Supplied | None = None,
    since: Sequence[Supplied] = (),
) -> audit_mod.Trust:
    """What an audit is anchored to outside the audited store: the pinned log ``key``
    (``public/log.pub`` kept elsewhere), the pinned ``tsa_roots`` (PEM) and the checkpoints
    kept ``since``. A usage error when a file is not what it claims to be."""
    keys = None
    if key is not None:
        try:
            keys = (PublicKey.from_verifier(key.data.decode("utf-8", "replace")),)
        except ValueError as e:
            raise UsageError(
                f"{key.name} is not a log public key: {e}",
                fix="give a copy of the store's public/log.pub kept outside the store",
            ) from None
    roots = None
    if tsa_roots is not None:
        try:
            roots = tuple(load_certificates(tsa_roots.data))
        except ValueError:
            roots = ()
        if not roots:
            raise UsageError(
                f"{tsa_roots.name} holds no PEM certificate",
                fix="give a copy of the store's public/tsa-root.pem (and the external TSAs' "
                "roots) kept outside the store",
            )
    kept = []
    for s in since:
        text = _kept_checkpoint(s)
        if len(s.data) > receipts.MAX_BYTES or "\n\n" not in text:
            raise UsageError(
                f"{s.name} is not a signed checkpoint",
                fix="give a checkpoint note (log/checkpoints/N.note, one that dalel "
                "checkpoint publish wrote or a witness served) or a receipt",
            )
        kept.append(audit_mod.Kept(s.name, text))
    return audit_mod.Trust(log_keys=keys, tsa_roots=roots, since=tuple(kept))


def _kept_checkpoint(kept: Supplied) -> str:
    """The checkpoint note a kept file holds: the file itself, or the checkpoint inside a
    receipt (what an observer keeps)."""
    if kept.data.lstrip()[:1] == b"{":
        try:
            data = receipts.load(kept.data)
        except receipts.ReceiptUnreadable:
            return ""
        note = data.get("checkpoint") if isinstance(data, dict) else None
        return note if isinstance(note, str) else ""
    return kept.data.decode("utf-8", "replace")


def audit_store(
    store: Store,
    *,
    rehash: bool = True,
    trust: audit_mod.Trust | None = None,
    second_opinion: bool = False,
) -> audit_mod.AuditReport:
    """Check every object (re-hashed unless ``rehash`` is False), entry, checkpoint, token and
    receipt of a store against ``trust`` (nothing pinned: the store's own keys, with a note);
    every problem is reported. ``second_opinion``: each token is verified once more, by
    rfc3161-client's verifier."""
    return audit_mod.run(
        audit_mod.StoreSource(store, rehash=rehash), trust=trust, second_opinion=second_opinion
    )


def audit_bundle(
    root: Path, *, trust: audit_mod.Trust | None = None, second_opinion: bool = False
) -> audit_mod.AuditReport:
    """Check an exported audit bundle (no private key needed) against ``trust``; every
    problem is reported (``second_opinion`` as in :func:`audit_store`)."""
    pinned = trust is not None and trust.log_keys is not None
    return audit_mod.run(
        audit_mod.BundleSource(root, key_pinned=pinned),
        trust=trust,
        second_opinion=second_opinion,
    )


@dataclass(frozen=True)
class AuditExport:
    """An audit bundle written by :func:`export_audit`."""

    out_dir: Path
    """Where it was written."""
    entries: int
    """Custody log entries exported."""
    objects: int
    """Object hashes listed (and copied, with objects)."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"out_dir": str(self.out_dir), "entries": self.entries, "objects": self.objects}


def export_audit(store: Store, out_dir: Path, *, with_objects: bool = False) -> AuditExport:
    """Write what an auditor needs, and nothing private, to ``out_dir`` (new or empty): the log,
    checkpoints, receipts, public keys, timestamp tokens, object hashes (and the objects
    themselves with ``with_objects``)."""
    counts = bundle.export(store, out_dir, with_objects=with_objects)
    return AuditExport(out_dir, counts["entries"], counts["objects"])

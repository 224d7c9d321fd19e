"""Making a new store: its storage, its own time-stamping authority, its organisation's
signing identity. The one place that knows what a whole store is made of."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from base.errors import UsageError
from base.fsio import atomic_write
from evidence.core.tokens import load_certificates
from evidence.pdf import sign as pdfsign
from evidence.storage import backends
from evidence.storage.store import Store
from evidence.timestamping import stamping
from evidence.timestamping.tsa import ROOT_CERT_FILE


def init_store(
    root: Path,
    org: str = "Dalel",
    *,
    db: str | None = None,
    objects: str | None = None,
    retain_days: int | None = None,
) -> Store:
    """Create a store at ``root`` for ``org`` (refusing an existing one): the storage and log
    key, the local TSA (``public/tsa-root.pem``), the organisation's certificate for signing
    dossiers and the trust bundle (``public/trust-bundle.pem``). ``db``: a PostgreSQL URL for
    the index; ``objects`` and ``retain_days``: an S3 bucket and prefix with Object Lock for
    the objects (see :mod:`evidence.storage.backends`).

    An organisation name that is empty or longer than a certificate holds, or a database or
    bucket URL that is not one, is refused (exit code 2) before anything is created."""
    pdfsign.check_org_name(org)
    index_url = backends.db_url(db) if db is not None else None
    where = None
    if objects is not None:
        where = (backends.objects_url(objects).url, backends.retain_days(retain_days))
    elif retain_days is not None:
        raise UsageError("--retain-days goes with --objects s3://BUCKET/PREFIX")
    if index_url is not None:
        backends.check_database(index_url)
    if where is not None:  # before anything is made: a refused bucket leaves no store behind
        from evidence.storage.s3objects import prepare_bucket

        prepare_bucket(*where)
    store = Store.create(root, org, index_url=index_url, objects=where)
    stamping.create(root, org)
    pdfsign.create_org_identity(root / "keys", root / "public", org)
    write_trust_bundle(root / "public")
    return store


def _labelled_pem(what: str, cert: x509.Certificate) -> str:
    subject = pdfsign.certificate_subject(cert)
    return f"# {what}: {subject}\n" + cert.public_bytes(serialization.Encoding.PEM).decode()


def write_trust_bundle(public_dir: Path) -> Path:
    """Write ``public/trust-bundle.pem``: every root a verifier of the store's dossiers needs,
    in one PEM file, each certificate under a comment line naming it: the organisation's CA
    (the dossier's signature), the local TSA's root and each external TSA's roots
    (``public/tsa-roots/*.pem``; the signature's timestamp). Written again, whole, whenever
    one of them changes (``init``, ``timestamp add-tsa``)."""
    public_dir = Path(public_dir)
    roots = public_dir / stamping.ROOTS_DIR
    sources = [
        ("Organisation CA (signs dossiers)", public_dir / pdfsign.ORG_CA_CERT_FILE),
        ("Local TSA root (timestamps)", public_dir / ROOT_CERT_FILE),
        *(
            (f"External TSA {p.stem} root (timestamps)", p)
            for p in (sorted(roots.glob("*.pem")) if roots.is_dir() else ())
        ),
    ]
    parts = [
        _labelled_pem(what, cert)
        for what, source in sources
        if source.is_file()
        for cert in load_certificates(source.read_bytes())
    ]
    path = public_dir / pdfsign.TRUST_BUNDLE_FILE
    atomic_write(path, "".join(parts).encode("utf-8"), mode=0o644)
    return path

"""Build a case's dossier from the store, sign it, record it; verify a dossier.

The PDF is signed PAdES B-T with the organization's certificate (made by ``dalel init``)
or a PKCS#12 file, timestamped by the store's TSA setup (external TSAs, then the local
one). What the build derived (redacted photos, video stills) is recorded as derivative
items naming their parent; the signed PDF itself is stored and logged (``dossier``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from app.dossier.assemble import assemble
from app.dossier.build import BuildResult, build_dossier
from base.errors import UsageError
from evidence.pdf import sign as pdfsign
from evidence.pdf import verify as pdfverify
from evidence.storage.index import Index
from evidence.storage.store import Store
from evidence.timestamping import stamping
from evidence.timestamping.timestamps import response_callable


@dataclass(frozen=True)
class Built:
    """What ``build`` made and recorded."""

    result: BuildResult
    dossier_seq: int
    derivatives: int


def signing_identity(store: Store, p12: Path | None, password_env: str | None):
    """The organization's identity, or a PKCS#12 file's (password from an env variable)."""
    if p12 is None:
        return pdfsign.load_org_identity(store.keys_dir, store.public_dir)
    if not password_env:
        raise UsageError("a PKCS#12 file needs its password",
                         fix="put it in an environment variable and pass --password-env VAR")
    if password_env not in os.environ:
        raise UsageError(f"the environment variable {password_env} is not set",
                         fix=f"export {password_env}=… (the PKCS#12 password)")
    return pdfsign.read_pkcs12_file(p12, os.environ[password_env])


def build(store: Store, case_id: str, out: Path, *, language: str = "ru",
          edition: str = "court", p12: Path | None = None, password_env: str | None = None,
          today: date | None = None) -> Built:
    """Assemble, render, sign and write the dossier; record what it made."""
    identity = signing_identity(store, p12, password_env)
    dossier = assemble(store, case_id, language=language, edition=edition, today=today)
    stamper = pdfsign.CallableTimeStamper(response_callable(stamping.sources(store)))
    result = build_dossier(dossier, out, identity=identity, timestamper=stamper)
    with store.writer() as w:
        for d in result.derivatives:
            stored = store.objects.put_bytes(d.data)
            w.append({"event": "derive", "subject": stored.sha256,
                      "item": {"sha256": stored.sha256, "size": stored.size,
                               "media_type": d.media_type, "derived_from": d.parent_sha256},
                      "operation": d.operation, "params": dict(d.params), "case": case_id})
        with open(out, "rb") as f:
            pdf = store.objects.put_stream(f)
        entry = w.append({"event": "dossier", "case": case_id, "subject": pdf.sha256,
                          "edition": edition, "language": language,
                          "exhibits": [e.sha256 for e in dossier.exhibits],
                          "deadline": dossier.deadline.due.isoformat(),
                          "deadline_passed": dossier.deadline.passed,
                          "objects": [{"sha256": pdf.sha256, "role": "dossier",
                                       "size": pdf.size}]})
    return Built(result, entry.seq, len(result.derivatives))


def trust_from_store(store: Store) -> tuple[list[bytes], list[bytes]]:
    """The signer anchors (the organization's CA) and the TSA anchors a store vouches for."""
    signer = [(store.public_dir / pdfsign.ORG_CA_CERT_FILE).read_bytes()]
    tsa = [(store.public_dir / "tsa-root.pem").read_bytes()]
    roots = store.public_dir / stamping.ROOTS_DIR
    if roots.is_dir():
        tsa += [p.read_bytes() for p in sorted(roots.glob("*.pem"))]
    return signer, tsa


def verify(pdf: bytes, *, store: Store | None, trust: list[bytes],
           tsa_trust: list[bytes]) -> pdfverify.DossierReport:
    """Verify a dossier; with a store, also that each exhibit is in its custody log."""
    known = None
    if store is not None:
        s_signer, s_tsa = trust_from_store(store)
        trust, tsa_trust = trust + s_signer, tsa_trust + s_tsa
        index = Index(store)
        index.catch_up()
        known = {r["sha256"] for r in index.items_where()}
    if not trust:
        raise UsageError("nothing to trust the signature to",
                         fix="give --store DIR (the store that made it) or --trust CA.pem")
    return pdfverify.verify_dossier(pdf, trust, known, tsa_certs=tsa_trust or trust)

"""Build a case's dossier from the store, sign it, record it (``app.verify`` checks one).

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
from typing import Any

from app.dossier.assemble import assemble
from app.dossier.build import BuildResult, build_dossier
from base.errors import UsageError
from evidence.core import events
from evidence.pdf import sign as pdfsign
from evidence.storage.store import Store
from evidence.timestamping import stamping
from evidence.timestamping.timestamps import response_callable


@dataclass(frozen=True)
class Built:
    """What ``build`` made and recorded."""

    result: BuildResult
    """The dossier written: its path, SHA-256, size, whether its deadline had passed."""
    dossier_seq: int
    """The ``dossier`` custody entry."""
    derivatives: int
    """Derived images (redacted photos, video stills) recorded in the custody log."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        r = self.result
        return {
            "path": str(r.path),
            "sha256": r.sha256,
            "size": r.size,
            "deadline_passed": r.deadline_passed,
            "derivatives": self.derivatives,
            "custody_entry": self.dossier_seq,
        }


def signing_identity(
    store: Store, p12: Path | None, password_env: str | None
) -> pdfsign.SigningIdentity:
    """The organization's identity, or a PKCS#12 file's (password from an env variable)."""
    if p12 is None:
        return pdfsign.load_org_identity(store.keys_dir, store.public_dir)
    if not password_env:
        raise UsageError(
            "a PKCS#12 file needs its password",
            fix="put it in an environment variable and pass --password-env VAR",
        )
    if password_env not in os.environ:
        raise UsageError(
            f"the environment variable {password_env} is not set",
            fix=f"export {password_env}=… (the PKCS#12 password)",
        )
    return pdfsign.read_pkcs12_file(p12, os.environ[password_env])


def build(
    store: Store,
    case_id: str,
    out: Path,
    *,
    language: str = "ru",
    edition: str = "court",
    p12: Path | None = None,
    password_env: str | None = None,
    today: date | None = None,
) -> Built:
    """Assemble, render, sign and write the dossier; record what it made."""
    identity = signing_identity(store, p12, password_env)
    dossier = assemble(store, case_id, language=language, edition=edition, today=today)
    stamper = pdfsign.CallableTimeStamper(response_callable(stamping.sources(store)))
    result = build_dossier(dossier, out, identity=identity, timestamper=stamper)
    with store.writer() as w:
        for d in result.derivatives:
            stored = store.objects.put_bytes(d.data)
            w.append(
                {
                    "event": events.DERIVE,
                    "subject": stored.sha256,
                    "item": {
                        "sha256": stored.sha256,
                        "size": stored.size,
                        "media_type": d.media_type,
                        "derived_from": d.parent_sha256,
                    },
                    "operation": d.operation,
                    "params": dict(d.params),
                    "case": case_id,
                }
            )
        with open(out, "rb") as f:
            pdf = store.objects.put_stream(f)
        entry = w.append(
            {
                "event": events.DOSSIER,
                "case": case_id,
                "subject": pdf.sha256,
                "edition": edition,
                "language": language,
                "exhibits": [e.sha256 for e in dossier.exhibits],
                "deadline": dossier.deadline.due.isoformat(),
                "deadline_passed": dossier.deadline.passed,
                "objects": [{"sha256": pdf.sha256, "role": "dossier", "size": pdf.size}],
            }
        )
    return Built(result, entry.seq, len(result.derivatives))

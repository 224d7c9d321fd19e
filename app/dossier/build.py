"""Building a dossier end to end: render, sign, write atomically.

The one entry point the CLI (``dalel dossier build``) calls once the store has filled a
:class:`~app.dossier.model.Dossier`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.deadlines import Jurisdiction, load_jurisdiction
from app.dossier.i18n import load_translator
from app.dossier.model import Derivative, Dossier
from app.dossier.render import render_dossier
from base.fsio import atomic_write
from evidence.pdf.sign import SigningIdentity, sign_pdf


@dataclass(frozen=True)
class BuildResult:
    """What :func:`build_dossier` produced."""

    path: Path
    """The signed PDF (complete: written to a temp file and renamed)."""
    sha256: str
    """SHA-256 of the signed PDF."""
    size: int
    """Its size in bytes."""
    derivatives: tuple[Derivative, ...]
    """Redacted copies and video stills made, each naming its parent, for the store."""
    manifest: bytes
    """The JSON hash manifest embedded in the PDF."""
    deadline_passed: bool
    """True when the filing deadline had passed at build time (said on the cover)."""


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same directory, fsync and rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, data)


def build_dossier_bytes(
    dossier: Dossier,
    *,
    identity: SigningIdentity,
    timestamper: Any,
    jurisdiction: Jurisdiction | None = None,
) -> tuple[bytes, tuple[Derivative, ...], bytes]:
    """Signed PDF bytes, derivatives and manifest for ``dossier`` (no file written)."""
    juris = jurisdiction or load_jurisdiction()
    tr = load_translator(dossier.language, juris.timezone)
    pdf, prepared, manifest = render_dossier(dossier, juris, tr)
    signed = sign_pdf(
        pdf, identity, timestamper, reason=tr.t("sign.digital"), location=dossier.org_name
    )
    return signed, prepared.derivatives, manifest


def build_dossier(
    dossier: Dossier,
    out: Path,
    *,
    identity: SigningIdentity,
    timestamper: Any,
    jurisdiction: Jurisdiction | None = None,
) -> BuildResult:
    """Render, sign (PAdES B-T) and write ``dossier`` to ``out``; never leaves a partial file.

    Raises the module errors (each with ``exit_code``): an empty case or a missing
    original (:class:`~app.dossier.render.DossierInputError`), an unreadable key
    or PKCS#12, a failing TSA, a missing ffmpeg or face detector.
    """
    signed, derivatives, manifest = build_dossier_bytes(
        dossier, identity=identity, timestamper=timestamper, jurisdiction=jurisdiction
    )
    write_atomic(Path(out), signed)
    return BuildResult(
        path=Path(out),
        sha256=hashlib.sha256(signed).hexdigest(),
        size=len(signed),
        derivatives=derivatives,
        manifest=manifest,
        deadline_passed=dossier.deadline.passed,
    )

"""Build a case's dossier from the store, sign it, record it (``app.verify`` checks one).

The PDF is signed PAdES B-T with the organization's certificate (made by ``dalel init``)
or a PKCS#12 file, timestamped by the store's TSA setup (external TSAs, then the local
one). What the build derived (redacted photos, video stills) is recorded as derivative
items naming their parent; the signed PDF is logged (``dossier``, its SHA-256 as subject).

The court edition carries the complainant's name, IIN, address and phone: it is kept only
sealed in the store (AES-256-GCM under the store's data key, like the complainant's details,
bound to the case and the PDF's hash), so the object store, and so ``export-audit
--with-objects``, holds ciphertext only. The public edition is stored as it is.
:func:`copy` gives back the PDF a build recorded, checked against its logged hash.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from app import cases
from app.dossier.assemble import assemble
from app.dossier.build import BuildResult, build_dossier
from base.errors import StoreCorrupt, UsageError
from base.fsio import ChunkReader
from evidence.core import events
from evidence.pdf import sign as pdfsign
from evidence.storage import vault
from evidence.storage.store import Store
from evidence.timestamping import stamping
from evidence.timestamping.timestamps import response_callable


class DossierIncomplete(UsageError):
    """A complaint to be filed lacks what a complaint needs."""


FILING_NEEDS: tuple[tuple[str, str], ...] = (
    ("addressee", "--addressee-name"),
    ("respondent", "--respondent"),
    ("complainant's name", "--complainant-name"),
    ("complainant's IIN", "--complainant-iin"),
    ("complainant's address", "--complainant-address"),
    ("date of the decision or action complained of", "--event-date"),
    ("facts", "--facts"),
    ("relief asked for", "--relief"),
)
"""What a filed complaint needs, with the ``dalel case set`` option that gives each."""


def filing_gaps(store: Store, case_id: str) -> list[tuple[str, str]]:
    """What the case still lacks to be filed, as (what, ``case set`` option), in the order
    of :data:`FILING_NEEDS`. The event date counts as missing while it is only the day the
    case was opened (the deadline would be counted from the wrong day)."""
    case = cases.get_case(store, case_id)
    person = cases.complainant(store, case_id)
    have = {
        "--addressee-name": bool(case.addressee_name.strip()),
        "--respondent": bool(case.respondent.strip()),
        "--complainant-name": bool(person and person.name.strip()),
        "--complainant-iin": bool(person and person.iin.strip()),
        "--complainant-address": bool(person and person.address.strip()),
        "--event-date": case.event_date_given,
        "--facts": bool(case.facts),
        "--relief": bool(case.relief),
    }
    return [(what, option) for what, option in FILING_NEEDS if not have[option]]


def check_buildable(
    store: Store, case_id: str, *, edition: str, draft: bool
) -> list[tuple[str, str]]:
    """Refuse (:class:`DossierIncomplete`) a court edition, not a draft, of a case that
    lacks what a complaint needs, naming each gap and the option that fills it (an unknown
    case is refused by :func:`app.cases.get_case`); the gaps of a dossier that may be
    built (a draft's, a public edition's)."""
    gaps = filing_gaps(store, case_id)
    if edition == "court" and gaps and not draft:
        raise DossierIncomplete(
            f"{case_id} cannot be filed yet: it has no " + ", no ".join(w for w, _ in gaps),
            fix=f"dalel case set {case_id} "
            + " ".join(f"{o} …" for _, o in gaps)
            + f" (or read a draft first: dalel dossier build {case_id} --draft --out FILE)",
        )
    return gaps


@dataclass(frozen=True)
class Built:
    """What ``build`` made and recorded."""

    result: BuildResult
    """The dossier written: its path, SHA-256, size, whether its deadline had passed."""
    dossier_seq: int
    """The ``dossier`` custody entry."""
    derivatives: int
    """Derived images (redacted photos, video stills) recorded in the custody log."""
    draft: bool = False
    """Built with ``--draft``: DRAFT across every page, not to be filed."""
    gaps: tuple[str, ...] = ()
    """What the complaint still lacks to be filed (a draft may lack things)."""
    checklist: tuple[str, ...] = ()
    """What counsel must do before filing (not printed on the filed document)."""

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
            "draft": self.draft,
            "missing": list(self.gaps),
            "checklist": list(self.checklist),
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
    draft: bool = False,
    by: str | None = None,
) -> Built:
    """Assemble, render, sign and write the dossier; record what it made (``by``: who built
    it, as the log names them: a workspace user's pseudonym).

    A court edition (the one filed) is refused while the case lacks what a complaint needs
    (:func:`filing_gaps`), naming each gap and the option that fills it; ``draft`` builds it
    anyway, with DRAFT across every page."""
    identity = signing_identity(store, p12, password_env)
    dossier = assemble(store, case_id, language=language, edition=edition, today=today, draft=draft)
    gaps = check_buildable(store, case_id, edition=edition, draft=draft)
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
        sealed = edition == "court"
        with open(out, "rb") as f:
            if sealed:
                chunks = vault.seal_stream(
                    vault.data_key(store.keys_dir), f, _sealed_ad(case_id, result.sha256)
                )
                kept = store.objects.put_stream(ChunkReader(chunks))  # type: ignore[arg-type]
            else:
                kept = store.objects.put_stream(f)
        role = "dossier-sealed" if sealed else "dossier"
        entry = w.append(
            {
                "event": events.DOSSIER,
                "case": case_id,
                "subject": result.sha256,
                "size": result.size,
                "sealed": sealed,
                "edition": edition,
                "language": language,
                "exhibits": [e.sha256 for e in dossier.exhibits],
                "deadline": dossier.deadline.due.isoformat(),
                "deadline_passed": dossier.deadline.passed,
                "draft": draft,
                "objects": [{"sha256": kept.sha256, "role": role, "size": kept.size}],
                **({"actor": {"role": "legal-team", "id": by}} if by else {}),
            }
        )
    checklist = []
    if dossier.deadline.counsel_must_confirm:
        checklist.append(
            "counsel confirms the deadline and its rule before filing: " + dossier.deadline.citation
        )
    if edition == "court":
        checklist.append("the complainant signs and dates the complaint on its statement page")
    return Built(
        result,
        entry.seq,
        len(result.derivatives),
        draft=draft,
        gaps=tuple(w for w, _ in gaps),
        checklist=tuple(checklist),
    )


def _sealed_ad(case_id: str, pdf_sha256: str) -> bytes:
    return f"dossier\x00{case_id}\x00{pdf_sha256}".encode()


@dataclass(frozen=True)
class Copied:
    """A recorded dossier written out again by :func:`copy`."""

    path: Path
    sha256: str
    case: str
    edition: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "path": str(self.path),
            "sha256": self.sha256,
            "case": self.case,
            "edition": self.edition,
            "size": self.size,
        }


def copy(store: Store, sha_prefix: str, out: Path) -> Copied:
    """Write out the dossier whose SHA-256 starts with ``sha_prefix`` as it was built
    (unsealed when sealed), after checking its bytes hash to the logged SHA-256. Refuses to
    overwrite ``out``."""
    prefix = sha_prefix.strip().lower()
    if len(prefix) < 8 or any(c not in "0123456789abcdef" for c in prefix):
        raise UsageError(
            f"not the start of a dossier's SHA-256: {sha_prefix!r}",
            fix="give at least 8 hex digits of the hash `dossier build` printed",
        )
    index = store.index
    index.catch_up()
    found = [e for e in index.entries_by_event(events.DOSSIER) if e["subject"].startswith(prefix)]
    if len({e["subject"] for e in found}) != 1:
        raise UsageError(
            f"{'no' if not found else 'more than one'} dossier built here has a hash "
            f"starting {prefix}",
            fix="give the hash `dossier build` printed (more digits if several match)",
        )
    entry = found[-1]
    obj = entry["objects"][0]
    if out.exists():
        raise UsageError(f"{out} already exists", fix="choose a new file name")
    h = hashlib.sha256()
    size = 0
    part = out.with_name(out.name + ".part")
    try:
        with store.objects.open(obj["sha256"]) as f, open(part, "wb") as dst:
            chunks = (
                vault.unseal_stream(
                    vault.data_key(store.keys_dir), f, _sealed_ad(entry["case"], entry["subject"])
                )
                if entry.get("sealed")
                else iter(lambda: f.read(1 << 20), b"")
            )
            for chunk in chunks:
                h.update(chunk)
                dst.write(chunk)
                size += len(chunk)
            dst.flush()
            os.fsync(dst.fileno())
        if h.hexdigest() != entry["subject"]:
            raise StoreCorrupt(
                f"the stored dossier hashes to {h.hexdigest()}, the log says {entry['subject']}"
            )
        os.replace(part, out)
    finally:
        part.unlink(missing_ok=True)
    return Copied(out, entry["subject"], entry["case"], entry.get("edition", ""), size)

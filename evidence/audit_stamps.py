"""The audit's time-stamp checks: which TSA roots the tokens must chain to, every recorded
token, every item and checkpoint covered, and the ``N.tsr`` files beside the checkpoints.

The roots are pinned (``--tsa-root``: every token must chain to one of them) or, unpinned, the
ones the audited store publishes (``public/tsa-root.pem`` for its own TSA,
``public/tsa-roots/NAME.pem`` for an external one). A root that is missing or cannot be read
is ``TSA_ROOT_MISSING``, never a reason to skip the checks silently.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509

from evidence.audit_report import Finding, Reason, finding
from evidence.core import checkpoint as cp
from evidence.core import tokens
from evidence.core.checks import Status
from evidence.core.tokenverdicts import TokenVerdicts

LOCAL = "local"
"""The name the log gives the store's own TSA."""
LOCAL_ROOT = "tsa-root.pem"
LOCAL_CERT = "tsa.pem"
ROOTS_DIR = "tsa-roots"
_SOURCE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True)
class Stamp:
    """A token the log records."""

    position: int
    """The entry recording it."""
    time_text: str
    """The entry's time."""
    token: dict[str, Any]
    """The entry's description of the token (subject, target, token_sha256, source…)."""


@dataclass
class TsaRoots:
    """The roots each TSA's tokens must chain to, read once; what is missing is a finding."""

    public_dir: Path
    pinned: tuple[x509.Certificate, ...] | None = None
    findings: list[Finding] = field(default_factory=list)
    _roots: dict[str, tuple[x509.Certificate, ...] | None] = field(default_factory=dict)
    _local_certs: tuple[x509.Certificate, ...] | None = None

    def check_local(self) -> None:
        """Unpinned, the store's own root must be there (every store has its own TSA)."""
        if self.pinned is None:
            self.roots(LOCAL)

    def roots(self, source: str) -> tuple[x509.Certificate, ...] | None:
        """The roots for ``source``'s tokens; None when they are missing (reported once)."""
        if self.pinned is not None:
            return self.pinned
        if source not in self._roots:
            self._roots[source] = self._read(source)
        return self._roots[source]

    def _read(self, source: str) -> tuple[x509.Certificate, ...] | None:
        if source != LOCAL and not _SOURCE_NAME.fullmatch(source):
            self.findings.append(
                finding(
                    "timestamp",
                    source[:64],
                    Reason.TSA_ROOT_MISSING,
                    "tokens name a TSA no root file can belong to",
                )
            )
            return None
        rel = LOCAL_ROOT if source == LOCAL else f"{ROOTS_DIR}/{source}.pem"
        try:
            certs = tokens.load_certificates((self.public_dir / rel).read_bytes())
            if not certs:
                raise ValueError("no certificate in it")
        except FileNotFoundError:
            why = "is missing"
        except (OSError, ValueError) as e:
            why = f"cannot be read ({str(e)[:120]})"
        else:
            return certs
        self.findings.append(
            finding(
                "timestamp",
                f"public/{rel}",
                Reason.TSA_ROOT_MISSING,
                f"the TSA root certificate {why}: no token from {source!r} can be checked; "
                "restore it, or pin the roots with --tsa-root ROOTS.pem",
            )
        )
        return None

    def certificates(self, source: str) -> tuple[x509.Certificate, ...]:
        """Certificates a local token may not carry (``public/tsa.pem``; never trusted as a
        root, only a link of the chain)."""
        if source != LOCAL:
            return ()
        if self._local_certs is None:  # read once, as the roots are
            try:
                pem = (self.public_dir / LOCAL_CERT).read_bytes()
                self._local_certs = tokens.load_certificates(pem)
            except (OSError, ValueError):
                self._local_certs = ()
        return self._local_certs


def _verify(
    data: bytes,
    subject: str,
    source: str,
    roots: TsaRoots,
    recorded: datetime | None,
    tol: timedelta,
    verdicts: TokenVerdicts,
) -> tokens.TokenReport | None:
    trusted = roots.roots(source)
    if trusted is None:
        return None
    try:
        digest = bytes.fromhex(subject)
    except ValueError:
        digest = b""
    return verdicts(
        data,
        expected_digest=digest,
        trusted_roots=trusted,
        recorded_at=recorded,
        tolerance=tol,
        certificates=roots.certificates(source),
    )


def check_tokens(
    read_object: Any,
    roots: TsaRoots,
    stamped: list[Stamp],
    ingested: dict[str, int],
    heads: list[cp.SignedCheckpoint],
    snapshot_size: int,
    tol: timedelta,
    verdicts: TokenVerdicts,
) -> list[Finding]:
    """Every recorded token verifies; every item (``ingested``: hash -> entry) and every
    checkpoint has one. An item after the latest checkpoint (``snapshot_size``) without a
    token is a note: the writer may still be at work. ``verdicts`` verifies each token and
    keeps the verdict for the other checks that meet it (receipts, ``N.tsr``)."""
    out: list[Finding] = []
    covered: set[str] = set()
    unverifiable: set[str] = set()
    for s in stamped:
        t = s.token
        subject, source = str(t.get("subject", "")), str(t.get("source", ""))
        data = read_object(str(t.get("token_sha256", "")))
        if data is None:
            continue  # reported as OBJECT_MISSING / HASH_MISMATCH
        try:
            recorded = datetime.fromisoformat(s.time_text.replace("Z", "+00:00"))
        except ValueError:
            recorded = None
        report = _verify(data, subject, source, roots, recorded, tol, verdicts)
        if report is None:
            unverifiable.add(subject)  # reported once as TSA_ROOT_MISSING
        elif report.ok:
            covered.add(subject)
        else:
            names = report.reason_names()
            out.append(
                finding(
                    "timestamp",
                    subject,
                    Reason.TIMESTAMP_INVALID,
                    f"token recorded in entry {s.position} from {source}: " + ", ".join(names),
                    sub_reasons=names,
                )
            )
    for sha, position in sorted(ingested.items()):
        if sha in covered or sha in unverifiable:
            continue
        late = position >= snapshot_size
        out.append(
            finding(
                "timestamp",
                sha,
                Reason.TIMESTAMP_MISSING,
                "no valid RFC 3161 token covers this item"
                + (
                    "; it is after the latest checkpoint, the writer may be at work" if late else ""
                ),
                status=Status.WARNING if late else Status.FAILED,
            )
        )
    for i, head in enumerate(heads):
        digest = hashlib.sha256(head.text.encode()).hexdigest()
        if digest in covered or digest in unverifiable:
            continue
        last = i == len(heads) - 1
        out.append(
            finding(
                "timestamp",
                f"checkpoint {head.checkpoint.size}",
                Reason.TIMESTAMP_MISSING,
                "no valid token covers this checkpoint"
                + ("; the next write stamps it" if last else ""),
                status=Status.WARNING if last else Status.FAILED,
            )
        )
    return out


def check_checkpoint_tokens(
    files: Iterable[tuple[str, bytes]],
    notes: dict[str, str],
    sources: dict[str, set[str]],
    roots: TsaRoots,
    tol: timedelta,
    verdicts: TokenVerdicts,
) -> list[Finding]:
    """Each ``N.tsr`` beside the checkpoints is a token over ``N.note`` (``notes``: note file
    name -> text) from a trusted TSA (``sources``: the TSAs the log says stamped a digest).
    A ``.tsr`` without its note is ``CHECKPOINT_MISSING``; one that is not a valid token over
    it is ``TIMESTAMP_INVALID`` (garbage included)."""
    out: list[Finding] = []
    for name, data in files:
        note_name = name[: -len(".tsr")] + ".note"
        text = notes.get(note_name)
        if text is None:
            out.append(
                finding(
                    "checkpoint",
                    note_name,
                    Reason.CHECKPOINT_MISSING,
                    f"{name} is a token over a checkpoint the store no longer holds",
                )
            )
            continue
        digest = hashlib.sha256(text.encode()).hexdigest()
        reports = [
            _verify(data, digest, source, roots, None, tol, verdicts)
            for source in sorted(sources.get(digest, set()) | {LOCAL})
        ]
        if any(r is None or r.ok for r in reports):
            continue  # a valid token from a TSA that stamped it (or one whose root is missing)
        report = next(r for r in reports if r is not None)
        names = report.reason_names()
        out.append(
            finding(
                "timestamp",
                name,
                Reason.TIMESTAMP_INVALID,
                f"{name} is not a valid token over {note_name}: " + ", ".join(names),
                sub_reasons=names,
            )
        )
    return out

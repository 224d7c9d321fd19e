"""Verifying a signed dossier: every check reported with a named reason, none stops the others.

The signature covers the whole file and nothing was added after signing; the signature and
its RFC 3161 timestamp chain to trusted anchors; every attachment matches the JSON hash
manifest and the exhibit list; optionally, every exhibit hash is one the store knows.
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from io import BytesIO
from typing import Any, ClassVar

from asn1crypto import x509 as asn1_x509
from cryptography import x509

from evidence.core.checks import Check, Report, Status, reason_value
from evidence.pdf.sign import (
    EXHIBIT_DEST_PREFIX,
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    ORG_CA_CERT_FILE,
    TRUST_BUNDLE_FILE,
    PdfSignError,
    _to_asn1_cert,
)

TRUST_HINT = (
    f"trust the bundle the organization publishes, public/{TRUST_BUNDLE_FILE}: it holds its "
    f"CA (public/{ORG_CA_CERT_FILE}) and every TSA root its dossiers need"
)
"""What a verifier who was not given a root is told to do."""

# --------------------------------------------------------------------------- verification


class Reason(enum.StrEnum):
    """Why a check did not pass; tests and the CLI match on these."""

    PDF_UNREADABLE = "PDF_UNREADABLE"
    NO_SIGNATURE = "NO_SIGNATURE"
    SIGNATURE_INVALID = "SIGNATURE_INVALID"
    SIGNATURE_CONTENTS_ALTERED = "SIGNATURE_CONTENTS_ALTERED"
    SIGNER_UNTRUSTED = "SIGNER_UNTRUSTED"
    NOT_WHOLE_FILE = "NOT_WHOLE_FILE"
    UPDATED_AFTER_SIGNING = "UPDATED_AFTER_SIGNING"
    TIMESTAMP_MISSING = "TIMESTAMP_MISSING"
    TIMESTAMP_INVALID = "TIMESTAMP_INVALID"
    TSA_UNTRUSTED = "TSA_UNTRUSTED"
    MANIFEST_MISSING = "MANIFEST_MISSING"
    MANIFEST_INVALID = "MANIFEST_INVALID"
    HASH_MISMATCH = "HASH_MISMATCH"
    ATTACHMENT_MISSING = "ATTACHMENT_MISSING"
    ATTACHMENT_UNLISTED = "ATTACHMENT_UNLISTED"
    EXHIBIT_LIST_MISMATCH = "EXHIBIT_LIST_MISMATCH"
    HASH_UNKNOWN = "HASH_UNKNOWN"


@dataclass(frozen=True)
class DossierReport(Report):
    """Every check of :func:`verify_dossier`; ``ok`` only when every check passed."""

    signer: str = ""
    """Subject of the signing certificate, if a signature was found."""
    signed_at: datetime | None = None
    """Time of the signature's timestamp token, if valid."""
    manifest: Mapping[str, Any] | None = None
    """The parsed manifest, if any."""
    reason: str = ""
    """The signature's stated reason (``/Reason``), if any."""
    location: str = ""
    """The signature's stated location (``/Location``): a Dalel dossier names its
    organization there, whole."""

    title: ClassVar[str] = "dossier"

    @property
    def reasons(self) -> frozenset[enum.Enum]:
        """Set of the reasons of the checks that did not pass."""
        return self.reason_set()

    def summary(self) -> dict[str, Any]:
        """The signer, the time of the signature's timestamp and the reason and location
        the signature states, next to the checks."""
        return {
            "signer": self.signer,
            "signed_at": self.signed_at.isoformat() if self.signed_at else None,
            "reason": self.reason,
            "location": self.location,
        }

    def error(self) -> DossierVerificationFailed:
        """A :class:`DossierVerificationFailed` carrying this report."""
        return DossierVerificationFailed(self)


def _passed(check: str, detail: str = "") -> Check:
    return Check(check, Status.PASSED, None, detail)


def _failed(check: str, reason: Reason, detail: str = "") -> Check:
    return Check(check, Status.FAILED, reason, detail)


def load_certs(cert: Any) -> list[asn1_x509.Certificate]:
    """Every certificate in ``cert``: an asn1crypto or cryptography certificate, DER bytes,
    or PEM bytes holding one certificate or many (a trust bundle such as
    ``public/trust-bundle.pem``). ``ValueError`` when bytes hold no certificate."""
    if isinstance(cert, asn1_x509.Certificate):
        return [cert]
    if isinstance(cert, x509.Certificate):
        return [_to_asn1_cert(cert)]
    if isinstance(cert, (bytes, bytearray)):
        data = bytes(cert)
        if b"-----BEGIN" in data:
            return [_to_asn1_cert(c) for c in x509.load_pem_x509_certificates(data)]
        try:
            loaded = asn1_x509.Certificate.load(data, strict=True)
            _ = loaded.native  # parse it all now, not in the middle of a validation
        except (ValueError, TypeError) as exc:
            raise ValueError(f"not a PEM or DER certificate: {exc}") from None
        return [loaded]
    raise TypeError(f"not a certificate: {type(cert).__name__}")


_PYHANKO_LOGGERS = ("pyhanko", "pyhanko_certvalidator")
_quiet_lock = threading.Lock()
_quiet_depth = 0
_quiet_handler = logging.NullHandler()


@contextmanager
def _quiet_pyhanko() -> Iterator[None]:
    """Keep pyHanko's log records (a path it could not build, with its traceback; a token
    over another digest) off stderr while any verification runs: what they say is in the
    report, as a named reason. Safe when verifications overlap in threads."""
    global _quiet_depth
    with _quiet_lock:
        if _quiet_depth == 0:
            for name in _PYHANKO_LOGGERS:
                logger = logging.getLogger(name)
                logger.addHandler(_quiet_handler)
                logger.propagate = False
        _quiet_depth += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_depth -= 1
            if _quiet_depth == 0:
                for name in _PYHANKO_LOGGERS:
                    logger = logging.getLogger(name)
                    logger.removeHandler(_quiet_handler)
                    logger.propagate = True


def _friendly(name: Any) -> str:
    try:
        return str(name.human_friendly)
    except Exception:
        return "an unreadable name"


def _der_length(data: bytes) -> int | None:
    """Total length of the DER element at the start of ``data``, or None if malformed."""
    if len(data) < 2:
        return None
    first = data[1]
    if first < 0x80:
        return 2 + first
    count = first & 0x7F
    if count == 0 or count > 4 or len(data) < 2 + count:
        return None
    return 2 + count + int.from_bytes(data[2 : 2 + count], "big")


def _der_walk(buf: bytes, start: int, end: int, depth: int) -> bool:
    """True when ``buf[start:end]`` is a run of well-formed DER TLVs (recursively)."""
    i = start
    while i < end:
        if depth > 64:
            return False
        tag = buf[i]
        i += 1
        if tag == 0:
            return False  # end-of-contents: only in indefinite lengths, which DER forbids
        if tag & 0x1F == 0x1F:  # high tag number form
            while True:
                if i >= end:
                    return False
                i += 1
                if not buf[i - 1] & 0x80:
                    break
        if i >= end:
            return False
        first = buf[i]
        i += 1
        if first < 0x80:
            length = first
        else:
            count = first & 0x7F
            if count == 0 or count > 4 or i + count > end or buf[i] == 0:
                return False  # indefinite or non-minimal length
            length = int.from_bytes(buf[i : i + count], "big")
            i += count
            if length < 0x80:
                return False  # DER uses the short form here
        if i + length > end:
            return False
        if tag & 0x20 and not _der_walk(buf, i, i + length, depth + 1):
            return False
        i += length
    return i == end


def _is_canonical_der(der: bytes) -> bool:
    """True when ``der`` is exactly one well-formed DER element, lengths minimal throughout.

    A signer writes DER; a changed length or tag that a lenient parser would still accept
    (e.g. a longer outer length swallowing the zero padding) fails here. Linear time.
    """
    return bool(der) and _der_length(der) == len(der) and _der_walk(der, 0, len(der), 0)


def _name_tree_items(node: Any, depth: int = 0) -> list[tuple[str, Any]]:
    if depth > 16:
        return []
    items: list[tuple[str, Any]] = []
    names = node.get("/Names")
    if names is not None:
        for i in range(0, len(names) - 1, 2):
            items.append((str(names[i]), names[i + 1]))
    for kid in node.get("/Kids", ()):  # type: ignore[union-attr]
        items.extend(_name_tree_items(kid.get_object(), depth + 1))
    return items


def read_attachments(reader: Any) -> list[tuple[str, bytes, str]]:
    """Embedded files of the document's final revision: (name, bytes, AFRelationship)."""
    root = reader.root
    if "/Names" not in root or "/EmbeddedFiles" not in root["/Names"]:
        return []
    out = []
    for key, spec_ref in _name_tree_items(root["/Names"]["/EmbeddedFiles"]):
        spec = spec_ref.get_object()
        name = str(spec.get("/UF", spec.get("/F", key)))
        relationship = str(spec.get("/AFRelationship", "/Unspecified")).lstrip("/")
        stream = spec["/EF"]["/F"].get_object()
        out.append((name, bytes(stream.data), relationship))
    return out


def _destination_names(reader: Any) -> set[str]:
    root = reader.root
    names: set[str] = set()
    if "/Names" in root and "/Dests" in root["/Names"]:
        names.update(k for k, _ in _name_tree_items(root["/Names"]["/Dests"]))
    if "/Dests" in root:
        names.update(str(k).lstrip("/") for k in root["/Dests"].get_object())
    return names


def _timestamp_token(signed_data: Any) -> Any:
    """The signature timestamp token (unsigned attribute) of a CMS SignedData, if any."""
    try:
        attrs = signed_data["signer_infos"][0]["unsigned_attrs"]
        for attr in attrs if attrs.native is not None else ():
            if attr["type"].native == "signature_time_stamp_token":
                return attr["values"][0]
    except (KeyError, IndexError, ValueError):
        return None
    return None


def _cms_structure_problems(signed_data: Any, what: str) -> list[str]:
    """Fields of a CMS SignedData that the signature does not cover but RFC 5652 fixes.

    The version numbers and the digestAlgorithms set are outside the signed attributes;
    a byte changed there would otherwise pass. They must be exactly what RFC 5652 §5.1
    and §5.3 derive from the rest of the structure.
    """
    problems: list[str] = []
    try:
        infos = list(signed_data["signer_infos"])
        expected_digests = sorted({si["digest_algorithm"].dump() for si in infos})
        actual_digests = sorted(a.dump() for a in signed_data["digest_algorithms"])
        if actual_digests != expected_digests:
            problems.append(f"{what}: digestAlgorithms differ from the signer's")
        si_v3 = False
        for si in infos:
            sid_kind = si["sid"].name
            want = "v1" if sid_kind == "issuer_and_serial_number" else "v3"
            si_v3 = si_v3 or want == "v3"
            if si["version"].native != want:
                problems.append(f"{what}: signer info version is {si['version'].native}")
        if signed_data["crls"].native:
            problems.append(f"{what}: unexpected revocation lists")
        content_type = signed_data["encap_content_info"]["content_type"].native
        want_sd = "v3" if (si_v3 or content_type != "data") else "v1"
        other_certs = any(c.name != "certificate" for c in signed_data["certificates"] or ())
        if not other_certs and signed_data["version"].native != want_sd:
            problems.append(f"{what}: version is {signed_data['version'].native}")
    except (ValueError, KeyError, TypeError) as exc:
        problems.append(f"{what}: malformed ({exc})")
    return problems


def _stray_certificates(signed_data: Any, path: Any, trust: Sequence[asn1_x509.Certificate]) -> int:
    """Count certificates carried in ``signed_data`` that are neither on the validated
    ``path`` nor byte-identical to a trusted certificate.

    The certificate set of a CMS signature is not covered by the signature itself, so a
    byte changed in an unused copy of a certificate would otherwise go unnoticed. Returns
    0 when there is no validated path (the signer check fails on its own then).
    """
    if path is None:
        return 0
    known = {c.dump() for c in trust}
    known.update(c.dump() for c in path.iter_certs(include_root=True))
    stray = 0
    for choice in signed_data["certificates"] or ():
        try:
            der = choice.chosen.dump()
        except ValueError:
            stray += 1
            continue
        if der not in known:
            stray += 1
    return stray


@dataclass(frozen=True)
class _Signed:
    """What the (last validated) signature says about itself."""

    signer: str = ""
    signed_at: datetime | None = None
    reason: str = ""
    location: str = ""


def _sig_text(sig: Any, key: str) -> str:
    """A text entry (``/Reason``, ``/Location``) of the signature dictionary, or ""."""
    try:
        value = sig.sig_object.get(key)
    except Exception:
        return ""
    return "" if value is None else str(value)


def _check_signature(
    reader: Any,
    trust: Sequence[asn1_x509.Certificate],
    tsa_trust: Sequence[asn1_x509.Certificate],
    now: datetime | None,
) -> tuple[list[Check], _Signed]:
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    checks: list[Check] = []
    sigs = reader.embedded_signatures
    if not sigs:
        missing = _failed("signature", Reason.NO_SIGNATURE, "the document has no signature")
        return [missing], _Signed()
    signed, signer = _Signed(), ""
    for index, sig in enumerate(sigs):
        label = "signature" if len(sigs) == 1 else f"signature[{index}]"
        last = index == len(sigs) - 1
        # Bytes of /Contents after the CMS structure are not covered by the signature:
        # they must be the zero padding the signer wrote.
        raw = bytes(sig.sig_object.get("/Contents", b""))
        der_len = _der_length(raw)
        if der_len is None or der_len > len(raw) or raw[der_len:].strip(b"\x00"):
            checks.append(
                _failed(
                    f"{label}.contents",
                    Reason.SIGNATURE_CONTENTS_ALTERED,
                    "bytes after the signature's CMS structure are not padding",
                )
            )
        elif not _is_canonical_der(raw[:der_len]):
            checks.append(
                _failed(
                    f"{label}.contents",
                    Reason.SIGNATURE_CONTENTS_ALTERED,
                    "the signature's CMS structure is not canonical DER",
                )
            )
        else:
            checks.append(_passed(f"{label}.contents"))
        vc = ValidationContext(
            trust_roots=list(trust), allow_fetching=False, revocation_mode="soft-fail", moment=now
        )
        tvc = ValidationContext(
            trust_roots=list(tsa_trust),
            allow_fetching=False,
            revocation_mode="soft-fail",
            moment=now,
        )
        try:
            status = validate_pdf_signature(
                sig, signer_validation_context=vc, ts_validation_context=tvc
            )
        except Exception as exc:
            checks.append(_failed(label, Reason.SIGNATURE_INVALID, f"{type(exc).__name__}: {exc}"))
            continue
        signer = _friendly(status.signing_cert.subject)
        signed = _Signed(signer, None, _sig_text(sig, "/Reason"), _sig_text(sig, "/Location"))
        stray = _stray_certificates(sig.signed_data, status.validation_path, trust)
        ts_status = status.timestamp_validity
        token = _timestamp_token(sig.signed_data)
        if token is not None and ts_status is not None:
            stray += _stray_certificates(token["content"], ts_status.validation_path, tsa_trust)
        problems = _cms_structure_problems(sig.signed_data, "signature")
        if token is not None:
            problems += _cms_structure_problems(token["content"], "timestamp token")
        if stray:
            problems.append(
                f"{stray} certificate(s) in the signature match neither the "
                "validated chain nor a trusted certificate"
            )
        if problems:
            checks.append(
                _failed(
                    f"{label}.structure", Reason.SIGNATURE_CONTENTS_ALTERED, "; ".join(problems)
                )
            )
        else:
            checks.append(_passed(f"{label}.structure"))
        if status.intact and status.valid:
            checks.append(_passed(label, f"signed by {signer}"))
        else:
            checks.append(
                _failed(
                    label,
                    Reason.SIGNATURE_INVALID,
                    "the signed bytes do not match the signature"
                    if not status.intact
                    else "the signature value is wrong",
                )
            )
        if status.trusted:
            checks.append(_passed(f"{label}.signer"))
        else:
            issuer = _friendly(status.signing_cert.issuer)
            checks.append(
                _failed(
                    f"{label}.signer",
                    Reason.SIGNER_UNTRUSTED,
                    f"the signing certificate ({signer}) chains to none of the trusted "
                    f"certificates: its CA ({issuer}) was not given; {TRUST_HINT}",
                )
            )
        ts = status.timestamp_validity
        if ts is None:
            checks.append(
                _failed(
                    f"{label}.timestamp",
                    Reason.TIMESTAMP_MISSING,
                    "no RFC 3161 signature timestamp (PAdES B-T)",
                )
            )
        elif not (ts.intact and ts.valid):
            checks.append(
                _failed(
                    f"{label}.timestamp",
                    Reason.TIMESTAMP_INVALID,
                    "the timestamp token does not match",
                )
            )
        elif not ts.trusted:
            tsa_name = _friendly(ts.signing_cert.subject)
            tsa_root = _friendly(ts.signing_cert.issuer)
            checks.append(
                _failed(
                    f"{label}.timestamp",
                    Reason.TSA_UNTRUSTED,
                    f"the timestamp is valid but its TSA ({tsa_name}) chains to none of the "
                    f"trusted certificates: the TSA's root certificate ({tsa_root}) was not "
                    f"given; {TRUST_HINT}",
                )
            )
        else:
            signed = replace(signed, signed_at=ts.timestamp)
            checks.append(_passed(f"{label}.timestamp", ts.timestamp.isoformat()))
        if last:
            if status.coverage == SignatureCoverageLevel.ENTIRE_FILE:
                checks.append(_passed("coverage", "the signature covers the whole file"))
            else:
                level = status.modification_level
                checks.append(
                    _failed(
                        "coverage",
                        Reason.UPDATED_AFTER_SIGNING,
                        f"bytes were added after signing "
                        "(modification level: "
                        f"{level.name if level else 'unknown'})",
                    )
                )
    return checks, signed


def _check_contents(
    reader: Any, known_hashes: Iterable[str] | None
) -> tuple[list[Check], Mapping[str, Any] | None]:
    checks: list[Check] = []
    attachments = read_attachments(reader)
    by_name = {name: (data, rel) for name, data, rel in attachments}
    if MANIFEST_NAME not in by_name:
        return [_failed("manifest", Reason.MANIFEST_MISSING, f"no {MANIFEST_NAME} attached")], None
    try:
        manifest = json.loads(by_name[MANIFEST_NAME][0])
        exhibits = manifest["exhibits"]
        if manifest.get("format") != MANIFEST_FORMAT or not isinstance(exhibits, list):
            raise ValueError("unknown manifest format")
        listed = {str(e["sha256"]).lower(): e for e in exhibits}
    except (ValueError, KeyError, TypeError) as exc:
        return [_failed("manifest", Reason.MANIFEST_INVALID, str(exc))], None
    checks.append(_passed("manifest", f"{len(listed)} exhibits"))
    expected: list[tuple[str, str]] = []
    for entry in exhibits:
        if entry.get("attachment"):
            expected.append((str(entry["attachment"]), str(entry["sha256"]).lower()))
        stamp = entry.get("timestamp") or {}
        for item in (stamp, stamp.get("tsa_cert") or {}):
            if item.get("attachment"):
                expected.append((str(item["attachment"]), str(item["sha256"]).lower()))
    attached_names = {name for name, _ in expected}
    for name, sha in dict.fromkeys(expected):
        check = f"attachment:{name}"
        if name not in by_name:
            checks.append(_failed(check, Reason.ATTACHMENT_MISSING, "listed but not embedded"))
            continue
        actual = hashlib.sha256(by_name[name][0]).hexdigest()
        if actual != sha:
            checks.append(
                _failed(check, Reason.HASH_MISMATCH, f"manifest {sha}, embedded file {actual}")
            )
        else:
            checks.append(_passed(check, actual))
    for name in sorted(set(by_name) - attached_names - {MANIFEST_NAME}):
        checks.append(
            _failed(
                f"attachment:{name}",
                Reason.ATTACHMENT_UNLISTED,
                "embedded file not listed in the manifest",
            )
        )
    printed = {
        n[len(EXHIBIT_DEST_PREFIX) :].lower()
        for n in _destination_names(reader)
        if n.startswith(EXHIBIT_DEST_PREFIX)
    }
    if printed == set(listed):
        checks.append(_passed("exhibit-list", f"{len(printed)} exhibits"))
    else:
        missing = sorted(set(listed) - printed)
        extra = sorted(printed - set(listed))
        checks.append(
            _failed(
                "exhibit-list",
                Reason.EXHIBIT_LIST_MISMATCH,
                f"in manifest only: {missing}; in document only: {extra}",
            )
        )
    if known_hashes is not None:
        known = {h.lower() for h in known_hashes}
        for sha in sorted(listed):
            if sha in known:
                checks.append(_passed(f"known:{sha}"))
            else:
                checks.append(
                    _failed(
                        f"known:{sha}",
                        Reason.HASH_UNKNOWN,
                        "not among the known hashes (custody log)",
                    )
                )
    return checks, manifest


def verify_dossier(
    pdf: bytes,
    trusted_certs: Sequence[Any],
    known_hashes: Iterable[str] | None = None,
    *,
    tsa_certs: Sequence[Any] | None = None,
    now: datetime | None = None,
) -> DossierReport:
    """Check a signed dossier; every check is reported, none stops the others.

    ``trusted_certs``: trust anchors for the signer (PEM/DER bytes, one certificate or a
    PEM bundle of many, cryptography or asn1crypto certificates); ``tsa_certs``: anchors for
    the timestamp (defaults to ``trusted_certs``); ``known_hashes``: when given, every
    exhibit hash must be in it. Whatever the PDF's bytes are, nothing is raised and nothing
    is logged: what pyHanko raises or logs becomes a failed check with a named reason. Only
    an anchor that is no certificate raises (``ValueError``, see :func:`load_certs`).
    """
    trust = [a for c in trusted_certs for a in load_certs(c)]
    tsa_trust = [a for c in tsa_certs for a in load_certs(c)] if tsa_certs is not None else trust
    with _quiet_pyhanko():
        return _verify(pdf, trust, tsa_trust, known_hashes, now)


def _verify(
    pdf: bytes,
    trust: Sequence[asn1_x509.Certificate],
    tsa_trust: Sequence[asn1_x509.Certificate],
    known_hashes: Iterable[str] | None,
    now: datetime | None,
) -> DossierReport:
    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        reader = PdfFileReader(BytesIO(pdf), strict=False)
        _ = reader.root
    except Exception as exc:
        return DossierReport(
            checks=(_failed("pdf", Reason.PDF_UNREADABLE, f"{type(exc).__name__}: {exc}"),)
        )
    checks: list[Check] = [_passed("pdf")]
    try:
        sig_checks, signed = _check_signature(reader, trust, tsa_trust, now)
    except Exception as exc:
        sig_checks, signed = (
            [_failed("signature", Reason.SIGNATURE_INVALID, f"{type(exc).__name__}: {exc}")],
            _Signed(),
        )
    checks.extend(sig_checks)
    try:
        content_checks, manifest = _check_contents(reader, known_hashes)
    except Exception as exc:
        content_checks, manifest = (
            [_failed("manifest", Reason.PDF_UNREADABLE, f"{type(exc).__name__}: {exc}")],
            None,
        )
    checks.extend(content_checks)
    return DossierReport(
        checks=tuple(checks),
        signer=signed.signer,
        signed_at=signed.signed_at,
        manifest=manifest,
        reason=signed.reason,
        location=signed.location,
    )


def verify_or_raise(
    pdf: bytes,
    trusted_certs: Sequence[Any],
    known_hashes: Iterable[str] | None = None,
    *,
    tsa_certs: Sequence[Any] | None = None,
    now: datetime | None = None,
) -> DossierReport:
    """:func:`verify_dossier`, raising :class:`DossierVerificationFailed` unless all passed."""
    report = verify_dossier(pdf, trusted_certs, known_hashes, tsa_certs=tsa_certs, now=now)
    return report.verify_or_raise()


class DossierVerificationFailed(PdfSignError):
    """Raised by :func:`verify_or_raise`; carries the report."""

    exit_code = 1

    def __init__(self, report: DossierReport) -> None:
        super().__init__(
            "; ".join(
                f"{c.id}: {reason_value(c.reason) or c.status.value}" for c in report.failures
            )
            or "nothing was checked"
        )
        self.report = report

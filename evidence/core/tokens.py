"""RFC 3161 time-stamp tokens, verified into a report: one check per concern, named reasons.

Pure: bytes and certificates in, a ``TokenReport`` out. Tokens are kept as the bare
TimeStampToken (a CMS ContentInfo); ``response_from_token`` wraps one into the TimeStampResp
that ``openssl ts -verify -in OUT.tsr`` reads.

Each token is checked by this module's own code (so that every failure gets its own reason)
and, when those checks pass, once more by rfc3161-client's verifier as an independent second
opinion (check ``rfc3161_client``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import functools
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import rfc3161_client
from asn1crypto import cms, core, parser, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from rfc3161_client import _rust

from base.errors import DalelError, VerificationFailed
from evidence.core.checks import Check, Report, Status
from evidence.core.cmschecks import (
    _Cert,
    _chain,
    _eku_problem,
    _ess_problem,
    _find_signer,
    _load_cert,
    _pool,
    _signature_problem,
    _validity_problem,
)
from evidence.core.rfc3161 import HASH_LENGTHS, TimeStampResp

#: How far a token's time may lie after the custody entry that records it.
DEFAULT_TOLERANCE = dt.timedelta(minutes=5)
#: Largest TimeStampResp accepted from a TSA over HTTP.
MAX_RESPONSE_BYTES = 1 << 20


class Reason(enum.StrEnum):
    """Why a token, or a TSA's answer, was refused. Tests and UIs match on these."""

    MALFORMED = "MALFORMED"
    STATUS_NOT_GRANTED = "STATUS_NOT_GRANTED"
    UNSUPPORTED_HASH = "UNSUPPORTED_HASH"
    IMPRINT_MISMATCH = "IMPRINT_MISMATCH"
    NONCE_MISMATCH = "NONCE_MISMATCH"
    POLICY_MISMATCH = "POLICY_MISMATCH"
    SIGNER_CERT_MISSING = "SIGNER_CERT_MISSING"
    SIGNER_CERT_MISMATCH = "SIGNER_CERT_MISMATCH"
    SIGNATURE_INVALID = "SIGNATURE_INVALID"
    TSA_UNTRUSTED = "TSA_UNTRUSTED"
    EKU_MISSING = "EKU_MISSING"
    TIME_OUTSIDE_CERT_VALIDITY = "TIME_OUTSIDE_CERT_VALIDITY"
    TIME_AFTER_RECORD = "TIME_AFTER_RECORD"
    TIME_BEFORE_REQUEST = "TIME_BEFORE_REQUEST"
    LIBRARY_REJECTED = "LIBRARY_REJECTED"
    TSA_UNREACHABLE = "TSA_UNREACHABLE"
    TSA_TIMEOUT = "TSA_TIMEOUT"
    HTTP_ERROR = "HTTP_ERROR"
    SKIPPED_AFTER_FAILURE = "SKIPPED_AFTER_FAILURE"


#: The old name of :class:`evidence.core.checks.Status`, kept for callers that still use it.
CheckStatus = Status


@dataclass(frozen=True)
class TokenInfo:
    """What a token says, read without verifying it."""

    gen_time: dt.datetime
    """The TSA's time (UTC, aware)."""
    serial: int
    """The TSA's serial number of the token."""
    tsa_name: str | None
    """The TSA name in TSTInfo (or None when the TSA omitted it)."""
    policy: str
    """The TSA policy OID."""
    hash_name: str
    """Hash algorithm of the imprint (``sha256``...)."""
    imprint: bytes
    """The digest the token covers."""
    nonce: int | None
    """The nonce echoed from the request, if any."""
    accuracy: dt.timedelta | None
    """The accuracy the TSA states, if any."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (times in ISO 8601, the imprint in hex, the accuracy in seconds)."""
        return {
            "gen_time": self.gen_time.isoformat(),
            "serial": str(self.serial),
            "tsa_name": self.tsa_name,
            "policy": self.policy,
            "hash_name": self.hash_name,
            "imprint": self.imprint.hex(),
            "nonce": None if self.nonce is None else str(self.nonce),
            "accuracy_seconds": None if self.accuracy is None else self.accuracy.total_seconds(),
        }


@dataclass(frozen=True)
class TokenReport(Report):
    """Every check made on one token; ``ok`` is the bottom line."""

    info: TokenInfo | None = None
    """What the token says (None when it could not be parsed)."""

    title: ClassVar[str] = "time-stamp token"

    @property
    def reasons(self) -> tuple[Reason, ...]:
        """The reasons of all checks that did not pass, in order."""
        return tuple(c.reason for c in self.failures if isinstance(c.reason, Reason))

    def summary(self) -> dict[str, Any]:
        """What the token says, next to ``ok`` and the checks."""
        return {"info": None if self.info is None else self.info.to_dict()}

    def error(self) -> TokenVerificationError:
        """A :class:`TokenVerificationError` carrying this report."""
        return TokenVerificationError(self)


class MalformedTokenError(DalelError):
    """Bytes that are not an RFC 3161 token or granted response (exit code 1)."""


class TokenVerificationError(VerificationFailed):
    """Raised by ``verify_or_raise``; carries the full report (exit code 1)."""

    def __init__(self, report: TokenReport) -> None:
        super().__init__("time-stamp token refused: " + ", ".join(report.reasons))
        self.report = report


# ---------------------------------------------------------------------------------------------
# conversions and reading


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _wrap(token_der: bytes) -> bytes:
    """TimeStampResp ::= SEQUENCE { status PKIStatusInfo (granted), timeStampToken }, built from
    the token's own bytes (re-encoding parsed asn1crypto objects is very slow)."""
    body = b"\x30\x03\x02\x01\x00" + token_der
    return b"\x30" + _der_length(len(body)) + body


_PARSE_ERRORS = (ValueError, TypeError, KeyError, IndexError, OverflowError)


def _split(data: bytes) -> tuple[bytes, cms.ContentInfo]:
    """The token's DER and its parsed ContentInfo, from a bare token or a TimeStampResp."""
    try:
        info = cms.ContentInfo.load(data, strict=True)
        if info["content_type"].native == "signed_data":
            return data, info
    except _PARSE_ERRORS:
        pass
    try:
        resp = TimeStampResp.load(data, strict=True)
        token = resp["time_stamp_token"]
        token_der = b"" if isinstance(token, core.Void) else token.dump()
        status = resp["status"]["status"].native
    except _PARSE_ERRORS as exc:
        raise MalformedTokenError(f"not a time-stamp token or response: {exc}") from exc
    if status not in ("granted", "granted_with_mods") or not token_der:
        raise MalformedTokenError(f"the response carries no token (status {status})")
    try:
        return token_der, cms.ContentInfo.load(token_der, strict=True)
    except _PARSE_ERRORS as exc:
        raise MalformedTokenError(f"unreadable token: {exc}") from exc


def token_from_response(response_der: bytes) -> bytes:
    """The bare TimeStampToken (DER ContentInfo) inside a granted TimeStampResp."""
    return _split(response_der)[0]


def response_from_token(token_der: bytes) -> bytes:
    """Wrap a bare token into a granted TimeStampResp, the form ``openssl ts -in`` reads."""
    return _wrap(_split(token_der)[0])


def _tst_info(token: cms.ContentInfo) -> tsp.TSTInfo:
    encap = token["content"]["encap_content_info"]
    if encap["content_type"].native != "tst_info":
        raise ValueError("encapsulated content is not a TSTInfo")
    return tsp.TSTInfo.load(encap["content"].contents, strict=True)


@functools.lru_cache(maxsize=64)
def _name_text(name_der: bytes) -> str:
    """A DER Name as text (``Common Name: ..., Organization: ...``); cached per TSA."""
    return str(asn1_x509.Name.load(name_der).human_friendly)


_HASH_NAMES = {
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
    "1.3.14.3.2.26": "sha1",
}


def _read_info(tst: tsp.TSTInfo) -> TokenInfo:
    """TokenInfo from asn1crypto's TSTInfo (lenient: reads BER too)."""
    accuracy = None
    if tst["accuracy"].native is not None:
        acc = tst["accuracy"].native
        accuracy = dt.timedelta(
            seconds=acc.get("seconds") or 0,
            milliseconds=acc.get("millis") or 0,
            microseconds=acc.get("micros") or 0,
        )
    tsa = tst["tsa"]
    tsa_name = None
    if not isinstance(tsa, core.Void):
        if tsa.name == "directory_name":  # [0] EXPLICIT GeneralName, [4] EXPLICIT Name
            tsa_name = _name_text(parser.parse(parser.parse(tsa.dump())[4])[4])
        else:
            tsa_name = str(tsa.native)
    return TokenInfo(
        gen_time=tst["gen_time"].native.astimezone(dt.UTC),
        serial=int(tst["serial_number"].native),
        tsa_name=tsa_name,
        policy=str(tst["policy"].dotted),
        hash_name=str(tst["message_imprint"]["hash_algorithm"]["algorithm"].native),
        imprint=bytes(tst["message_imprint"]["hashed_message"].native),
        nonce=tst["nonce"].native,
        accuracy=accuracy,
    )


def _read_info_fast(token_der: bytes) -> TokenInfo:
    """TokenInfo through rfc3161-client's parser (Rust, strict DER, 10x faster)."""
    tst = rfc3161_client.decode_timestamp_response(_wrap(token_der)).tst_info
    acc = tst.accuracy
    name = tst.name
    if name is None:
        tsa_name = None
    elif isinstance(name, x509.DirectoryName):
        tsa_name = _name_text(name.value.public_bytes())
    else:
        tsa_name = str(name.value)
    algorithm = tst.message_imprint.hash_algorithm.dotted_string
    return TokenInfo(
        gen_time=tst.gen_time.astimezone(dt.UTC),
        serial=tst.serial_number,
        tsa_name=tsa_name,
        policy=tst.policy.dotted_string,
        hash_name=_HASH_NAMES.get(algorithm, algorithm),
        imprint=tst.message_imprint.message,
        nonce=tst.nonce,
        accuracy=None
        if acc is None
        else dt.timedelta(
            seconds=acc.seconds or 0, milliseconds=acc.millis or 0, microseconds=acc.micros or 0
        ),
    )


def read_token(data: bytes) -> TokenInfo:
    """genTime, serial, TSA name, imprint... of a token or response, without verifying it."""
    token_der, token = _split(data)
    with contextlib.suppress(Exception):  # not strict DER, or a field it does not know
        return _read_info_fast(token_der)
    try:
        return _read_info(_tst_info(token))
    except Exception as exc:  # asn1crypto parses lazily and raises many kinds
        raise MalformedTokenError(f"unreadable TSTInfo: {exc}") from exc


def build_request(
    digest: bytes, *, nonce: int | None, cert_req: bool = True, hash_name: str = "sha256"
) -> bytes:
    """A DER TimeStampReq over ``digest`` (rfc3161-client's builder hashes data itself, and we
    only have the digest); it is parsed back with rfc3161-client as a check."""
    if HASH_LENGTHS.get(hash_name) != len(digest):
        raise ValueError(f"a {hash_name} digest of {len(digest)} bytes")
    fields: dict[str, object] = {
        "version": "v1",
        "message_imprint": {"hash_algorithm": {"algorithm": hash_name}, "hashed_message": digest},
        "cert_req": cert_req,
    }
    if nonce is not None:
        fields["nonce"] = nonce
    der = tsp.TimeStampReq(fields).dump()
    parsed = _rust.parse_timestamp_request(der)
    if parsed.message_imprint.message != digest or parsed.nonce != nonce:
        raise ValueError("rfc3161-client reads the request differently")
    return der


# ---------------------------------------------------------------------------------------------
# verification (pure)


def _passed(check_id: str, detail: str = "") -> Check:
    return Check(check_id, Status.PASSED, None, detail)


def _judge(check_id: str, problem: str | None, reason: Reason, ok_detail: str = "") -> Check:
    if problem is None:
        return _passed(check_id, ok_detail)
    return Check(check_id, Status.FAILED, reason, problem)


def _undecided(check_id: str, reason: Reason, detail: str) -> Check:
    return Check(check_id, Status.INDETERMINATE, reason, detail)


def verify_token(
    token_der: bytes,
    *,
    expected_digest: bytes,
    trusted_roots: Sequence[x509.Certificate],
    recorded_at: dt.datetime | None = None,
    tolerance: dt.timedelta = DEFAULT_TOLERANCE,
    expected_nonce: int | None = None,
    expected_policy: str | None = None,
    certificates: Sequence[x509.Certificate] = (),
    requested_at: dt.datetime | None = None,
) -> TokenReport:
    """Check a token (bare or inside a TimeStampResp) and report every concern; never raises.

    Checks: ``well_formed``, ``imprint``, ``nonce``, ``policy``, ``signer_certificate``,
    ``signature``, ``chain`` (to one of ``trusted_roots``), ``eku``, ``cert_validity`` (genTime
    inside every chain certificate's validity), ``recorded_time`` (genTime minus accuracy not
    after ``recorded_at`` + ``tolerance``), ``request_time`` (genTime plus accuracy not before
    ``requested_at`` - ``tolerance``: a TSA whose clock is behind would backdate evidence) and
    ``rfc3161_client`` (second opinion).
    ``certificates`` adds certificates the token may not carry (e.g. ``public/tsa.pem``).
    """
    try:
        raw_token, token = _split(token_der)
        signed_data = token["content"]
        tst = _tst_info(token)
        info = _read_info(tst)
        econtent = signed_data["encap_content_info"]["content"].contents
        signer_infos = list(signed_data["signer_infos"])
        if len(signer_infos) != 1:
            raise MalformedTokenError(f"{len(signer_infos)} signers instead of one")
        signer = signer_infos[0]
        # the bytes signed: the attributes as SET OF (stored as [0] IMPLICIT), taken before
        # anything parses them (asn1crypto re-encodes parsed SETs on dump, slowly)
        signed_bytes = b"\x31" + signer["signed_attrs"].dump()[1:]
        pool = _pool(signed_data, certificates)
        roots = [_load_cert(r.public_bytes(serialization.Encoding.DER)) for r in trusted_roots]
    except Exception as exc:
        return TokenReport((Check("well_formed", Status.FAILED, Reason.MALFORMED, str(exc)),), None)
    try:
        checks = _token_checks(
            raw_token,
            signed_data,
            signer,
            signed_bytes,
            econtent,
            info,
            pool,
            roots,
            expected_digest,
            recorded_at,
            tolerance,
            expected_nonce,
            expected_policy,
            requested_at,
        )
    except Exception as exc:
        checks = [Check("well_formed", Status.FAILED, Reason.MALFORMED, str(exc))]
    return TokenReport(tuple(checks), info)


def _token_checks(
    raw_token: bytes,
    signed_data: cms.SignedData,
    signer: cms.SignerInfo,
    signed_bytes: bytes,
    econtent: bytes,
    info: TokenInfo,
    pool: list[_Cert],
    roots: list[_Cert],
    expected_digest: bytes,
    recorded_at: dt.datetime | None,
    tolerance: dt.timedelta,
    expected_nonce: int | None,
    expected_policy: str | None,
    requested_at: dt.datetime | None,
) -> list[Check]:
    checks: list[Check] = []
    checks.append(_passed("well_formed"))

    if info.hash_name not in HASH_LENGTHS:
        checks.append(Check("imprint", Status.FAILED, Reason.UNSUPPORTED_HASH, info.hash_name))
    else:
        checks.append(
            _judge(
                "imprint",
                None
                if secrets.compare_digest(info.imprint, expected_digest)
                else f"token covers {info.imprint.hex()}, expected {expected_digest.hex()}",
                Reason.IMPRINT_MISMATCH,
            )
        )
    if expected_nonce is None:
        checks.append(Check("nonce", Status.SKIPPED))
    else:
        checks.append(
            _judge(
                "nonce",
                None
                if info.nonce == expected_nonce
                else f"nonce {info.nonce} echoed, {expected_nonce} sent",
                Reason.NONCE_MISMATCH,
            )
        )
    if expected_policy is None:
        checks.append(Check("policy", Status.SKIPPED))
    else:
        checks.append(
            _judge(
                "policy",
                None if info.policy == expected_policy else f"policy {info.policy}",
                Reason.POLICY_MISMATCH,
            )
        )

    cert = _find_signer(signer["sid"], pool)
    if cert is None:
        checks.append(
            Check(
                "signer_certificate",
                Status.FAILED,
                Reason.SIGNER_CERT_MISSING,
                "the signer's certificate is neither in the token nor given",
            )
        )
        for cid, reason in (
            ("signature", Reason.SIGNATURE_INVALID),
            ("chain", Reason.TSA_UNTRUSTED),
            ("eku", Reason.EKU_MISSING),
            ("cert_validity", Reason.TIME_OUTSIDE_CERT_VALIDITY),
        ):
            checks.append(_undecided(cid, reason, "no signer certificate"))
        chain: list[_Cert] | None = None
    else:
        checks.append(
            _judge(
                "signer_certificate",
                _ess_problem(signer["signed_attrs"], cert),
                Reason.SIGNER_CERT_MISMATCH,
                cert.crypto.subject.rfc4514_string(),
            )
        )
        sig_problem = _signature_problem(signed_data, signer, signed_bytes, cert, econtent)
        checks.append(_judge("signature", sig_problem, Reason.SIGNATURE_INVALID))
        chain = _chain(cert, pool, roots)
        checks.append(
            _judge(
                "chain",
                None if chain else "no path from the TSA certificate to a trusted root",
                Reason.TSA_UNTRUSTED,
                " > ".join(c.crypto.subject.rfc4514_string() for c in chain or []),
            )
        )
        checks.append(_judge("eku", _eku_problem(cert), Reason.EKU_MISSING))
        checks.append(
            _judge(
                "cert_validity",
                _validity_problem(chain or [cert], info.gen_time),
                Reason.TIME_OUTSIDE_CERT_VALIDITY,
            )
        )

    if recorded_at is None:
        checks.append(Check("recorded_time", Status.SKIPPED))
    else:
        earliest = info.gen_time - (info.accuracy or dt.timedelta(0))
        checks.append(
            _judge(
                "recorded_time",
                None
                if earliest <= recorded_at + tolerance
                else f"token time {info.gen_time.isoformat()} is after the record "
                f"{recorded_at.isoformat()} by more than {tolerance}",
                Reason.TIME_AFTER_RECORD,
            )
        )
    if requested_at is None:
        checks.append(Check("request_time", Status.SKIPPED))
    else:
        latest = info.gen_time + (info.accuracy or dt.timedelta(0))
        checks.append(
            _judge(
                "request_time",
                None
                if latest >= requested_at - tolerance
                else f"token time {info.gen_time.isoformat()} is before the request "
                f"{requested_at.isoformat()} by more than {tolerance}",
                Reason.TIME_BEFORE_REQUEST,
            )
        )

    if all(c.passed for c in checks) and chain:
        checks.append(_library_check(raw_token, expected_digest, expected_nonce, chain))
    else:
        checks.append(
            Check("rfc3161_client", Status.SKIPPED, None, "not run: other checks already failed")
        )
    return checks


def _library_check(token_der: bytes, digest: bytes, nonce: int | None, chain: list[_Cert]) -> Check:
    """rfc3161-client's verifier on the same token, with the chain this module found."""
    try:
        parsed = rfc3161_client.decode_timestamp_response(_wrap(token_der))
        verifier = rfc3161_client.VerifierBuilder(
            roots=[chain[-1].crypto],
            intermediates=[c.crypto for c in chain[1:-1]],
            tsa_certificate=chain[0].crypto,
            nonce=nonce,
        ).build()
        verifier.verify(parsed, digest)
    except Exception as exc:
        return Check("rfc3161_client", Status.FAILED, Reason.LIBRARY_REJECTED, str(exc))
    return _passed("rfc3161_client")


def verify_response(
    response_der: bytes,
    *,
    expected_digest: bytes,
    trusted_roots: Sequence[x509.Certificate],
    expected_nonce: int | None = None,
    recorded_at: dt.datetime | None = None,
    tolerance: dt.timedelta = DEFAULT_TOLERANCE,
    certificates: Sequence[x509.Certificate] = (),
    requested_at: dt.datetime | None = None,
) -> TokenReport:
    """Like ``verify_token`` for a TSA's TimeStampResp, with a first ``status`` check."""
    try:
        resp = TimeStampResp.load(response_der, strict=True)
        status = resp["status"]["status"].native
        text = "; ".join(resp["status"]["status_string"].native or [])
    except Exception as exc:
        return TokenReport(
            (Check("status", Status.FAILED, Reason.MALFORMED, f"not a TimeStampResp: {exc}"),), None
        )
    if status not in ("granted", "granted_with_mods"):
        return TokenReport(
            (Check("status", Status.FAILED, Reason.STATUS_NOT_GRANTED, f"{status}: {text}"),), None
        )
    report = verify_token(
        response_der,
        expected_digest=expected_digest,
        trusted_roots=trusted_roots,
        recorded_at=recorded_at,
        tolerance=tolerance,
        expected_nonce=expected_nonce,
        certificates=certificates,
        requested_at=requested_at,
    )
    return TokenReport((_passed("status", status),) + report.checks, report.info)


def verify_or_raise(
    token_der: bytes,
    *,
    expected_digest: bytes,
    trusted_roots: Sequence[x509.Certificate],
    recorded_at: dt.datetime | None = None,
    tolerance: dt.timedelta = DEFAULT_TOLERANCE,
    certificates: Sequence[x509.Certificate] = (),
) -> TokenInfo:
    """``verify_token`` that raises ``TokenVerificationError`` (with the report) on failure."""
    report = verify_token(
        token_der,
        expected_digest=expected_digest,
        trusted_roots=trusted_roots,
        recorded_at=recorded_at,
        tolerance=tolerance,
        certificates=certificates,
    ).verify_or_raise()
    if report.info is None:  # not reached: a token that verifies was read
        raise TokenVerificationError(report)
    return report.info


def load_certificates(pem: bytes) -> tuple[x509.Certificate, ...]:
    """Every certificate of a PEM bundle (a TSA's trusted roots); empty input: none."""
    return tuple(x509.load_pem_x509_certificates(pem)) if pem.strip() else ()

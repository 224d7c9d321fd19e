"""RFC 3161 time-stamp tokens, verified into a report: one check per concern, named reasons.

Pure: bytes and certificates in, a ``TokenReport`` out. Tokens are kept as the bare
TimeStampToken (a CMS ContentInfo); ``response_from_token`` wraps one into the TimeStampResp
that ``openssl ts -verify -in OUT.tsr`` reads (reading is :mod:`evidence.core.tokenread`,
re-exported here).

Each token is checked by this module's own code (so that every failure gets its own reason)
and, when those checks pass, once more by rfc3161-client's verifier as an independent second
opinion (check ``rfc3161_client``; asked for or not with ``second_opinion``). A
:class:`TokenVerdict` holds what a token's bytes say under the trust given, whatever record
it is checked against, so that one verification serves every check of the same token.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import rfc3161_client
from cryptography import x509

from base.errors import VerificationFailed
from evidence.core import tokenfast
from evidence.core.checks import Check, Report, Status
from evidence.core.cmschecks import (
    _Cert,
    _chain,
    _der_of,
    _eku_problem,
    _ess_problem,
    _find_signer,
    _load_cert,
    _pool,
    _signature_problem,
    _validity_problem,
    subject_text,
)
from evidence.core.tokenread import (  # noqa: F401 - the public ones re-exported
    HASH_LENGTHS,
    MalformedTokenError,
    TokenInfo,
    _read_info,
    _split,
    _tst_info,
    _wrap,
    build_request,
    read_token,
    response_from_token,
    token_from_response,
)

if TYPE_CHECKING:  # asn1crypto loads only for a token the fast reader leaves to it
    from asn1crypto import cms

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


class TokenVerificationError(VerificationFailed):
    """Raised by ``verify_or_raise``; carries the full report (exit code 1)."""

    def __init__(self, report: TokenReport) -> None:
        super().__init__("time-stamp token refused: " + ", ".join(report.reasons))
        self.report = report


# ---------------------------------------------------------------------------------------------
# conversions and reading


# ---------------------------------------------------------------------------------------------
# verification (pure)


@functools.lru_cache(maxsize=1024)
def _passed(check_id: str, detail: str = "") -> Check:
    """A PASSED check; one shared (immutable) object per id and detail, as the verdicts an
    audit keeps for every token are mostly these."""
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
    second_opinion: bool = True,
) -> TokenReport:
    """Check a token (bare or inside a TimeStampResp) and report every concern; never raises.

    Checks: ``well_formed``, ``imprint``, ``nonce``, ``policy``, ``signer_certificate``,
    ``signature``, ``chain`` (to one of ``trusted_roots``), ``eku``, ``cert_validity`` (genTime
    inside every chain certificate's validity), ``recorded_time`` (genTime minus accuracy not
    after ``recorded_at`` + ``tolerance``), ``request_time`` (genTime plus accuracy not before
    ``requested_at`` - ``tolerance``: a TSA whose clock is behind would backdate evidence) and
    ``rfc3161_client`` (second opinion: rfc3161-client's verifier, when every other check
    passed; SKIPPED when ``second_opinion`` is False).
    ``certificates`` adds certificates the token may not carry (e.g. ``public/tsa.pem``).
    """
    verdict = token_verdict(
        token_der,
        expected_digest=expected_digest,
        trusted_roots=trusted_roots,
        certificates=certificates,
        expected_nonce=expected_nonce,
        expected_policy=expected_policy,
    )
    return verdict.report(
        recorded_at=recorded_at,
        tolerance=tolerance,
        requested_at=requested_at,
        second_opinion=second_opinion,
    )


class TokenCheck(Protocol):
    """What verifies a token for a receipt's check: :func:`verify_token`, or the audit's
    :class:`~evidence.core.tokenverdicts.TokenVerdicts` (the same report, kept)."""

    def __call__(
        self,
        token_der: bytes,
        *,
        expected_digest: bytes,
        trusted_roots: Sequence[x509.Certificate],
        recorded_at: dt.datetime | None = ...,
        tolerance: dt.timedelta = ...,
    ) -> TokenReport: ...


_NO_NONCE = Check("nonce", Status.SKIPPED)
_NO_POLICY = Check("policy", Status.SKIPPED)
_NOT_RUN = Check("rfc3161_client", Status.SKIPPED, None, "not run: other checks already failed")
_NOT_ASKED = Check("rfc3161_client", Status.SKIPPED, None, "not asked: no second opinion")


@dataclass(slots=True)
class TokenVerdict:
    """What a token's bytes say under the trust given (digest, roots, certificates, nonce,
    policy), whatever record it is checked against: every check but the two of time, and
    rfc3161-client's opinion once asked. :meth:`report` adds the rest; one verdict serves
    every check of the same token under the same trust (:mod:`evidence.core.token_verdicts`).
    """

    info: TokenInfo | None
    """What the token says (None when it could not be parsed)."""
    checks: tuple[Check, ...]
    """The checks of its bytes, signature and chain, in the report's order."""
    final: bool
    """The token is malformed: ``checks`` are the whole report."""
    carried: frozenset[bytes] = frozenset()
    """DER of the certificates the token carries (a certificate given that is one of them
    changes nothing)."""
    chain: tuple[_Cert, ...] = ()
    """Signer .. trusted root, when one was found."""
    token: bytes | None = None
    """The token's DER, kept until the second opinion is asked (None: never to be asked)."""
    digest: bytes = b""
    nonce: int | None = None
    library: Check | None = None
    """rfc3161-client's opinion, once asked."""

    def report(
        self,
        *,
        recorded_at: dt.datetime | None = None,
        tolerance: dt.timedelta = DEFAULT_TOLERANCE,
        requested_at: dt.datetime | None = None,
        second_opinion: bool = True,
    ) -> TokenReport:
        """The full report: these checks, the times against ``recorded_at`` and
        ``requested_at``, and the second opinion when asked and every other check passed."""
        if self.final or self.info is None:
            return TokenReport(self.checks, self.info)
        if second_opinion and self.library is None and self.token is None:
            raise ValueError("this verdict was kept without the token: no second opinion")
        try:
            checks = [
                *self.checks,
                *_time_checks(self.info, recorded_at, requested_at, tolerance),
            ]
            if not (all(c.passed for c in checks) and self.chain):
                checks.append(_NOT_RUN)
            elif not second_opinion:
                checks.append(_NOT_ASKED)
            else:
                if self.library is None and self.token is not None:
                    self.library = _library_check(
                        self.token, self.digest, self.nonce, list(self.chain)
                    )
                    self.token = None  # asked once; the opinion is kept
                checks.append(self.library or _NOT_RUN)
        except Exception as exc:
            checks = [Check("well_formed", Status.FAILED, Reason.MALFORMED, str(exc))]
        return TokenReport(tuple(checks), self.info)


def token_verdict(
    token_der: bytes,
    *,
    expected_digest: bytes,
    trusted_roots: Sequence[x509.Certificate],
    certificates: Sequence[x509.Certificate] = (),
    expected_nonce: int | None = None,
    expected_policy: str | None = None,
) -> TokenVerdict:
    """The checks of a token's bytes, signature and chain (see :func:`verify_token`), to be
    completed by :meth:`TokenVerdict.report`; never raises.

    A token of the kind most TSAs write is read by :mod:`evidence.core.tokenfast`; any
    other, or any doubt, by asn1crypto: the same checks, the same verdict."""
    try:
        return _fast_verdict(
            token_der, expected_digest, trusted_roots, certificates, expected_nonce, expected_policy
        )
    except Exception:  # _NotFast, or anything the fast reader did not foresee
        pass  # the asn1crypto path decides, with its own messages
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
        roots = [_load_cert(_der_of(r)) for r in trusted_roots]
    except Exception as exc:
        malformed = Check("well_formed", Status.FAILED, Reason.MALFORMED, str(exc))
        return TokenVerdict(None, (malformed,), final=True)
    try:
        checks, chain = _token_checks(
            _Asn1Cms(signed_data, signer, signed_bytes, econtent),
            info,
            pool,
            roots,
            expected_digest,
            expected_nonce,
            expected_policy,
        )
    except Exception as exc:
        malformed = Check("well_formed", Status.FAILED, Reason.MALFORMED, str(exc))
        return TokenVerdict(info, (malformed,), final=True)
    carried = pool[: len(pool) - len(certificates)]  # _pool: the token's, then the given
    return TokenVerdict(
        info,
        tuple(checks),
        final=False,
        carried=frozenset(c.der for c in carried),
        chain=tuple(chain or ()),
        token=raw_token,
        digest=expected_digest,
        nonce=expected_nonce,
    )


def _fast_verdict(
    token_der: bytes,
    expected_digest: bytes,
    trusted_roots: Sequence[x509.Certificate],
    certificates: Sequence[x509.Certificate],
    expected_nonce: int | None,
    expected_policy: str | None,
) -> TokenVerdict:
    """:func:`token_verdict` through :mod:`evidence.core.tokenfast`; raises
    :class:`~evidence.core.tokenfast._NotFast` (or anything) when the token is not for it."""
    raw_token = tokenfast.split(token_der)
    fast = tokenfast.read(raw_token)
    carried = [_load_cert(der) for der in fast.certificates]
    pool = carried + [_load_cert(_der_of(c)) for c in certificates]
    roots = [_load_cert(_der_of(r)) for r in trusted_roots]
    checks, chain = _token_checks(
        fast, fast.info, pool, roots, expected_digest, expected_nonce, expected_policy
    )
    return TokenVerdict(
        fast.info,
        tuple(checks),
        final=False,
        carried=frozenset(c.der for c in carried),
        chain=tuple(chain or ()),
        token=raw_token,
        digest=expected_digest,
        nonce=expected_nonce,
    )


class _Cms(Protocol):
    """The three checks that read a token's CMS structure."""

    def find_signer(self, pool: list[_Cert]) -> _Cert | None: ...
    def ess_problem(self, cert: _Cert) -> str | None: ...
    def signature_problem(self, cert: _Cert) -> str | None: ...


@dataclass(frozen=True)
class _Asn1Cms:
    """The three checks over asn1crypto's reading of the token."""

    signed_data: cms.SignedData
    signer: cms.SignerInfo
    signed_bytes: bytes
    econtent: bytes

    def find_signer(self, pool: list[_Cert]) -> _Cert | None:
        return _find_signer(self.signer["sid"], pool)

    def ess_problem(self, cert: _Cert) -> str | None:
        return _ess_problem(self.signer["signed_attrs"], cert)

    def signature_problem(self, cert: _Cert) -> str | None:
        return _signature_problem(
            self.signed_data, self.signer, self.signed_bytes, cert, self.econtent
        )


def _token_checks(
    token: _Cms,
    info: TokenInfo,
    pool: list[_Cert],
    roots: list[_Cert],
    expected_digest: bytes,
    expected_nonce: int | None,
    expected_policy: str | None,
) -> tuple[list[Check], list[_Cert] | None]:
    """The checks that depend on the token and the trust given, not on any record's time;
    and the chain found."""
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
        checks.append(_NO_NONCE)
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
        checks.append(_NO_POLICY)
    else:
        checks.append(
            _judge(
                "policy",
                None if info.policy == expected_policy else f"policy {info.policy}",
                Reason.POLICY_MISMATCH,
            )
        )

    cert = token.find_signer(pool)
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
        return checks, None
    checks.append(
        _judge(
            "signer_certificate",
            token.ess_problem(cert),
            Reason.SIGNER_CERT_MISMATCH,
            subject_text(cert.der),
        )
    )
    sig_problem = token.signature_problem(cert)
    checks.append(_judge("signature", sig_problem, Reason.SIGNATURE_INVALID))
    chain = _chain(cert, pool, roots)
    checks.append(
        _judge(
            "chain",
            None if chain else "no path from the TSA certificate to a trusted root",
            Reason.TSA_UNTRUSTED,
            " > ".join(subject_text(c.der) for c in chain or []),
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
    return checks, chain


def _time_checks(
    info: TokenInfo,
    recorded_at: dt.datetime | None,
    requested_at: dt.datetime | None,
    tolerance: dt.timedelta,
) -> list[Check]:
    """The token's time against the record's (``recorded_time``) and the request's."""
    checks: list[Check] = []
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
    from evidence.core.rfc3161 import TimeStampResp

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

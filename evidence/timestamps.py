"""RFC 3161 time-stamp tokens: obtaining them (external TSAs over HTTP, then the local TSA) and
verifying them into a report with one check per concern and named reasons.

The verification core is pure: bytes and certificates in, a ``TokenReport`` out. Only
``ExternalTSA.exchange`` does I/O (HTTP with timeouts). Tokens are kept as the bare
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
import hashlib
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import httpx
import rfc3161_client
from asn1crypto import cms, core, parser, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID
from rfc3161_client import _rust

from evidence.errors import BrokenEnvironment, DalelError, VerificationFailed
from evidence.tsa import HASH_LENGTHS, LocalTSA, TimeStampResp, utc_now

#: How far a token's time may lie after the custody entry that records it.
DEFAULT_TOLERANCE = dt.timedelta(minutes=5)
#: Largest TimeStampResp accepted from a TSA over HTTP.
MAX_RESPONSE_BYTES = 1 << 20
_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512,
}


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


class CheckStatus(enum.StrEnum):
    """Outcome of one check; SKIPPED means the caller did not ask for it."""

    PASSED = "PASSED"
    FAILED = "FAILED"
    INDETERMINATE = "INDETERMINATE"
    SKIPPED = "SKIPPED"


@dataclass(frozen=True)
class Check:
    """One verification step."""

    id: str
    """Stable name of the check (``imprint``, ``signature``, ``chain``, ...)."""
    status: CheckStatus
    """PASSED, FAILED, INDETERMINATE (could not be decided) or SKIPPED (not requested)."""
    reason: Reason | None = None
    """Why it did not pass; None when it passed or was skipped."""
    detail: str = ""
    """Words for people; never matched on."""


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


@dataclass(frozen=True)
class TokenReport:
    """Every check made on one token; ``ok`` is the bottom line."""

    checks: tuple[Check, ...]
    """One entry per concern, in the order they were made."""
    info: TokenInfo | None
    """What the token says (None when it could not be parsed)."""

    @property
    def ok(self) -> bool:
        """True when every requested check passed."""
        return all(c.status in (CheckStatus.PASSED, CheckStatus.SKIPPED) for c in self.checks)

    @property
    def reasons(self) -> tuple[Reason, ...]:
        """The reasons of all checks that did not pass."""
        return tuple(c.reason for c in self.checks if c.reason is not None)

    def check(self, check_id: str) -> Check:
        """The check named ``check_id``."""
        return next(c for c in self.checks if c.id == check_id)


class MalformedTokenError(DalelError):
    """Bytes that are not an RFC 3161 token or granted response (exit code 1)."""


class TokenVerificationError(VerificationFailed):
    """Raised by ``verify_or_raise``; carries the full report (exit code 1)."""

    def __init__(self, report: TokenReport) -> None:
        super().__init__("time-stamp token refused: " + ", ".join(report.reasons))
        self.report = report


class TimestampUnavailableError(BrokenEnvironment):
    """No source, not even the local TSA, produced a token that verifies (exit code 4)."""

    def __init__(self, attempts: Sequence[Attempt]) -> None:
        tried = "; ".join(f"{a.source}: {','.join(a.reasons)}" for a in attempts) or "none"
        super().__init__(
            f"no time-stamp could be obtained (tried {tried})",
            fix="check the local TSA (`dalel init` creates it) and the TSA URLs in the config",
        )
        self.attempts = tuple(attempts)


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


_HASH_NAMES = {"2.16.840.1.101.3.4.2.1": "sha256", "2.16.840.1.101.3.4.2.2": "sha384",
               "2.16.840.1.101.3.4.2.3": "sha512", "1.3.14.3.2.26": "sha1"}


def _read_info(tst: tsp.TSTInfo) -> TokenInfo:
    """TokenInfo from asn1crypto's TSTInfo (lenient: reads BER too)."""
    accuracy = None
    if tst["accuracy"].native is not None:
        acc = tst["accuracy"].native
        accuracy = dt.timedelta(seconds=acc.get("seconds") or 0,
                                milliseconds=acc.get("millis") or 0,
                                microseconds=acc.get("micros") or 0)
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
        accuracy=None if acc is None else dt.timedelta(
            seconds=acc.seconds or 0, milliseconds=acc.millis or 0, microseconds=acc.micros or 0),
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


@dataclass(frozen=True)
class _Cert:
    der: bytes
    crypto: x509.Certificate
    asn1: asn1_x509.Certificate


@functools.lru_cache(maxsize=256)
def _load_cert(der: bytes) -> _Cert:
    """A certificate in both libraries' forms; cached (pure: same bytes, same value), as every
    token of a TSA carries the same certificate."""
    cert = x509.load_der_x509_certificate(der)
    _ = cert.extensions  # parsed lazily otherwise: altered bytes must fail while loading
    return _Cert(der, cert, asn1_x509.Certificate.load(der))


def _pool(signed_data: cms.SignedData, extra: Iterable[x509.Certificate]) -> list[_Cert]:
    certs = []
    for choice in signed_data["certificates"] or []:
        if choice.name == "certificate":
            certs.append(_load_cert(choice.chosen.dump()))
    certs += [_load_cert(c.public_bytes(serialization.Encoding.DER)) for c in extra]
    return certs


def _find_signer(sid: cms.SignerIdentifier, pool: list[_Cert]) -> _Cert | None:
    for cert in pool:
        if sid.name == "issuer_and_serial_number":
            issuer = sid.chosen["issuer"]
            if cert.crypto.serial_number == sid.chosen["serial_number"].native and (
                cert.asn1.issuer.dump() == issuer.dump() or cert.asn1.issuer == issuer
            ):
                return cert
        elif cert.asn1.key_identifier == sid.chosen.native:
            return cert
    return None


def _ess_problem(signed_attrs: cms.CMSAttributes, cert: _Cert) -> str | None:
    """Does the ESS signing-certificate(-v2) attribute name this certificate?"""
    der = cert.crypto.public_bytes(serialization.Encoding.DER)
    for attr in signed_attrs:
        kind = attr["type"].native
        if kind == "signing_certificate_v2":
            ess = attr["values"][0]["certs"][0]
            hash_name = ess["hash_algorithm"]["algorithm"].native
            expected = hashlib.new(hash_name, der).digest()
        elif kind == "signing_certificate":
            ess = attr["values"][0]["certs"][0]
            expected = hashlib.sha1(der).digest()
        else:
            continue
        if ess["cert_hash"].native != expected:
            return "the ESS signing-certificate attribute names another certificate"
        return None
    return "no ESS signing-certificate attribute binds the signer certificate"


def _signature_problem(
    signed_data: cms.SignedData, signer: cms.SignerInfo, data: bytes, cert: _Cert, econtent: bytes
) -> str | None:
    """Check the CMS signature over the signed attributes and the content digest in them."""
    attrs = signer["signed_attrs"]
    digest_name = signer["digest_algorithm"]["algorithm"].native
    if digest_name not in _HASHES:
        return f"unsupported digest algorithm {digest_name}"
    listed = {a["algorithm"].native for a in signed_data["digest_algorithms"]}
    if listed != {digest_name}:
        return "SignedData digestAlgorithms does not match the signer's"
    if signed_data["version"].native != "v3" or signer["version"].native not in ("v1", "v3"):
        return "unexpected SignedData/SignerInfo version"
    if isinstance(attrs, core.Void) or len(attrs) == 0:
        return "no signed attributes"
    values = {a["type"].native: a["values"] for a in attrs}
    if values.get("content_type") is None or values["content_type"][0].native != "tst_info":
        return "content-type attribute is not id-ct-TSTInfo"
    if values.get("message_digest") is None:
        return "no message-digest attribute"
    if values["message_digest"][0].native != hashlib.new(digest_name, econtent).digest():
        return "the TSTInfo does not match the signed message digest"
    sig_alg = signer["signature_algorithm"]
    algo = sig_alg.signature_algo
    try:
        hash_name = sig_alg.hash_algo
    except ValueError:
        hash_name = digest_name
    signature = signer["signature"].native
    key = cert.crypto.public_key()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey) and algo == "ecdsa":
            key.verify(signature, data, ec.ECDSA(_HASHES[hash_name]()))
        elif isinstance(key, rsa.RSAPublicKey) and algo == "rsassa_pkcs1v15":
            key.verify(signature, data, padding.PKCS1v15(), _HASHES[hash_name]())
        elif isinstance(key, rsa.RSAPublicKey) and algo == "rsassa_pss":
            params = sig_alg["parameters"]
            pss_hash = _HASHES[params["hash_algorithm"]["algorithm"].native]()
            pss = padding.PSS(padding.MGF1(pss_hash), params["salt_length"].native)
            key.verify(signature, data, pss, pss_hash)
        elif isinstance(key, ed25519.Ed25519PublicKey) and algo == "ed25519":
            key.verify(signature, data)
        else:
            return f"signature algorithm {algo} does not fit the certificate's key"
    except (InvalidSignature, KeyError, ValueError) as exc:
        return f"signature does not verify ({type(exc).__name__})"
    return None


def _issued_by(cert: _Cert, issuer: _Cert) -> bool:
    return _issued_by_der(cert.der, issuer.der)


@functools.lru_cache(maxsize=1024)
def _issued_by_der(cert_der: bytes, issuer_der: bytes) -> bool:
    """Is ``cert`` signed by ``issuer``'s key under its name? Cached by the two DER encodings."""
    try:
        _load_cert(cert_der).crypto.verify_directly_issued_by(_load_cert(issuer_der).crypto)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _is_ca(cert: _Cert) -> bool:
    try:
        return bool(cert.crypto.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _chain(leaf: _Cert, pool: list[_Cert], roots: list[_Cert]) -> list[_Cert] | None:
    """Leaf .. trusted root, each signed by the next; None when no trusted root is reached."""
    root_ders = {r.der for r in roots}
    path = [leaf]
    for _ in range(8):
        current = path[-1]
        if current.der in root_ders:
            return path
        for root in roots:
            if _is_ca(root) and _issued_by(current, root):
                return path + [root]
        ders = {c.der for c in path}
        nxt = [c for c in pool
               if c.der not in ders and _is_ca(c) and _issued_by(current, c)]
        if not nxt:
            return None
        path.append(nxt[0])
    return None


def _validity_problem(certs: list[_Cert], when: dt.datetime) -> str | None:
    for c in certs:
        if not c.crypto.not_valid_before_utc <= when <= c.crypto.not_valid_after_utc:
            return (
                f"{when.isoformat()} is outside {c.crypto.subject.rfc4514_string()}'s validity "
                f"{c.crypto.not_valid_before_utc.isoformat()} .. "
                f"{c.crypto.not_valid_after_utc.isoformat()}"
            )
    return None


def _eku_problem(cert: _Cert) -> str | None:
    try:
        ext = cert.crypto.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        return "the TSA certificate has no extended key usage"
    if not ext.critical or ExtendedKeyUsageOID.TIME_STAMPING not in ext.value:
        return "the TSA certificate lacks a critical id-kp-timeStamping EKU"
    return None


def _passed(check_id: str, detail: str = "") -> Check:
    return Check(check_id, CheckStatus.PASSED, None, detail)


def _judge(check_id: str, problem: str | None, reason: Reason, ok_detail: str = "") -> Check:
    if problem is None:
        return _passed(check_id, ok_detail)
    return Check(check_id, CheckStatus.FAILED, reason, problem)


def _undecided(check_id: str, reason: Reason, detail: str) -> Check:
    return Check(check_id, CheckStatus.INDETERMINATE, reason, detail)


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
        return TokenReport((Check("well_formed", CheckStatus.FAILED, Reason.MALFORMED, str(exc)),),
                           None)
    try:
        checks = _token_checks(
            raw_token, signed_data, signer, signed_bytes, econtent, info, pool, roots,
            expected_digest, recorded_at, tolerance, expected_nonce, expected_policy, requested_at,
        )
    except Exception as exc:
        checks = [Check("well_formed", CheckStatus.FAILED, Reason.MALFORMED, str(exc))]
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
        checks.append(Check("imprint", CheckStatus.FAILED, Reason.UNSUPPORTED_HASH, info.hash_name))
    else:
        checks.append(_judge(
            "imprint",
            None if secrets.compare_digest(info.imprint, expected_digest) else
            f"token covers {info.imprint.hex()}, expected {expected_digest.hex()}",
            Reason.IMPRINT_MISMATCH,
        ))
    if expected_nonce is None:
        checks.append(Check("nonce", CheckStatus.SKIPPED))
    else:
        checks.append(_judge("nonce", None if info.nonce == expected_nonce else
                             f"nonce {info.nonce} echoed, {expected_nonce} sent",
                             Reason.NONCE_MISMATCH))
    if expected_policy is None:
        checks.append(Check("policy", CheckStatus.SKIPPED))
    else:
        checks.append(_judge("policy", None if info.policy == expected_policy else
                             f"policy {info.policy}", Reason.POLICY_MISMATCH))

    cert = _find_signer(signer["sid"], pool)
    if cert is None:
        checks.append(Check("signer_certificate", CheckStatus.FAILED, Reason.SIGNER_CERT_MISSING,
                            "the signer's certificate is neither in the token nor given"))
        for cid, reason in (("signature", Reason.SIGNATURE_INVALID),
                            ("chain", Reason.TSA_UNTRUSTED), ("eku", Reason.EKU_MISSING),
                            ("cert_validity", Reason.TIME_OUTSIDE_CERT_VALIDITY)):
            checks.append(_undecided(cid, reason, "no signer certificate"))
        chain: list[_Cert] | None = None
    else:
        checks.append(_judge("signer_certificate", _ess_problem(signer["signed_attrs"], cert),
                             Reason.SIGNER_CERT_MISMATCH, cert.crypto.subject.rfc4514_string()))
        sig_problem = _signature_problem(signed_data, signer, signed_bytes, cert, econtent)
        checks.append(_judge("signature", sig_problem, Reason.SIGNATURE_INVALID))
        chain = _chain(cert, pool, roots)
        checks.append(_judge(
            "chain", None if chain else "no path from the TSA certificate to a trusted root",
            Reason.TSA_UNTRUSTED,
            " > ".join(c.crypto.subject.rfc4514_string() for c in chain or []),
        ))
        checks.append(_judge("eku", _eku_problem(cert), Reason.EKU_MISSING))
        checks.append(_judge("cert_validity", _validity_problem(chain or [cert], info.gen_time),
                             Reason.TIME_OUTSIDE_CERT_VALIDITY))

    if recorded_at is None:
        checks.append(Check("recorded_time", CheckStatus.SKIPPED))
    else:
        earliest = info.gen_time - (info.accuracy or dt.timedelta(0))
        checks.append(_judge(
            "recorded_time",
            None if earliest <= recorded_at + tolerance else
            f"token time {info.gen_time.isoformat()} is after the record "
            f"{recorded_at.isoformat()} by more than {tolerance}",
            Reason.TIME_AFTER_RECORD,
        ))
    if requested_at is None:
        checks.append(Check("request_time", CheckStatus.SKIPPED))
    else:
        latest = info.gen_time + (info.accuracy or dt.timedelta(0))
        checks.append(_judge(
            "request_time",
            None if latest >= requested_at - tolerance else
            f"token time {info.gen_time.isoformat()} is before the request "
            f"{requested_at.isoformat()} by more than {tolerance}",
            Reason.TIME_BEFORE_REQUEST,
        ))

    if all(c.status in (CheckStatus.PASSED, CheckStatus.SKIPPED) for c in checks) and chain:
        checks.append(_library_check(raw_token, expected_digest, expected_nonce, chain))
    else:
        checks.append(Check("rfc3161_client", CheckStatus.SKIPPED, None,
                            "not run: other checks already failed"))
    return checks


def _library_check(
    token_der: bytes, digest: bytes, nonce: int | None, chain: list[_Cert]
) -> Check:
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
        return Check("rfc3161_client", CheckStatus.FAILED, Reason.LIBRARY_REJECTED, str(exc))
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
        return TokenReport((Check("status", CheckStatus.FAILED, Reason.MALFORMED,
                                  f"not a TimeStampResp: {exc}"),), None)
    if status not in ("granted", "granted_with_mods"):
        return TokenReport((Check("status", CheckStatus.FAILED, Reason.STATUS_NOT_GRANTED,
                                  f"{status}: {text}"),), None)
    report = verify_token(
        response_der, expected_digest=expected_digest, trusted_roots=trusted_roots,
        recorded_at=recorded_at, tolerance=tolerance, expected_nonce=expected_nonce,
        certificates=certificates, requested_at=requested_at,
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
    report = verify_token(token_der, expected_digest=expected_digest,
                          trusted_roots=trusted_roots, recorded_at=recorded_at,
                          tolerance=tolerance, certificates=certificates)
    if not report.ok or report.info is None:
        raise TokenVerificationError(report)
    return report.info


# ---------------------------------------------------------------------------------------------
# sources (I/O) and choosing among them


class SourceUnavailable(Exception):
    """A source gave no answer to check; ``reason`` names why."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class TimestampSource(Protocol):
    """Something that answers DER TimeStampReqs."""

    @property
    def name(self) -> str:
        """Shown in results and refusals."""
        ...

    @property
    def kind(self) -> Literal["external", "local"]:
        """``external`` or ``local``."""
        ...

    @property
    def trusted_roots(self) -> tuple[x509.Certificate, ...]:
        """The roots its tokens must chain to."""
        ...

    @property
    def certificates(self) -> tuple[x509.Certificate, ...]:
        """Extra certificates (intermediates, the TSA's own) its tokens may not carry."""
        ...

    def exchange(self, request_der: bytes) -> bytes:
        """Send a request, return the raw answer; raise ``SourceUnavailable`` if none came."""
        ...


@functools.lru_cache(maxsize=1)
def _shared_client() -> httpx.Client:
    """One HTTP client for all external TSAs: creating one costs ~60 ms (TLS setup)."""
    return httpx.Client(follow_redirects=False)


@dataclass(frozen=True)
class ExternalTSA:
    """An RFC 3161 TSA over HTTP, trusted only through its own configured roots."""

    name: str
    url: str
    trusted_roots: tuple[x509.Certificate, ...]
    timeout: float = 10.0
    certificates: tuple[x509.Certificate, ...] = ()
    kind: Literal["external", "local"] = "external"
    client: httpx.Client | None = field(default=None, compare=False, repr=False)

    def exchange(self, request_der: bytes) -> bytes:
        """POST the request (RFC 3161 §3.4) and return the body of a 200 answer."""
        headers = {"Content-Type": "application/timestamp-query",
                   "Accept": "application/timestamp-reply"}
        client = self.client or _shared_client()
        try:
            with client.stream("POST", self.url, content=request_der, headers=headers,
                               timeout=httpx.Timeout(self.timeout)) as r:
                if r.status_code != 200:
                    raise SourceUnavailable(Reason.HTTP_ERROR, f"HTTP {r.status_code}")
                body = b""
                for chunk in r.iter_bytes():
                    body += chunk
                    if len(body) > MAX_RESPONSE_BYTES:
                        raise SourceUnavailable(Reason.HTTP_ERROR, "answer too large")
                return body
        except httpx.TimeoutException as exc:
            raise SourceUnavailable(Reason.TSA_TIMEOUT, f"no answer within {self.timeout} s "
                                    f"({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise SourceUnavailable(Reason.TSA_UNREACHABLE,
                                    f"{type(exc).__name__}: {exc}") from exc


@dataclass(frozen=True)
class LocalSource:
    """The store's own TSA as a source (always last: the fallback)."""

    tsa: LocalTSA
    name: str = "local"
    kind: Literal["external", "local"] = "local"
    certificates: tuple[x509.Certificate, ...] = ()

    @property
    def trusted_roots(self) -> tuple[x509.Certificate, ...]:
        """The local TSA's own root."""
        return (self.tsa.root_certificate,)

    def exchange(self, request_der: bytes) -> bytes:
        """Answer in-process."""
        return self.tsa.respond(request_der)


@dataclass(frozen=True)
class Attempt:
    """A source that was tried and refused."""

    source: str
    """The source's name."""
    kind: str
    """``external`` or ``local``."""
    reasons: tuple[Reason, ...]
    """Why its answer was refused (or why there was none)."""
    detail: str = ""
    """Words for people."""


@dataclass(frozen=True)
class TimestampResult:
    """A verified token and where it came from."""

    token: bytes
    """The bare TimeStampToken (DER ContentInfo), as stored."""
    source: str
    """Name of the source that produced it."""
    kind: str
    """``external`` or ``local``."""
    info: TokenInfo
    """genTime, serial, TSA name... of the token."""
    report: TokenReport
    """The verification made on receipt."""
    refused: tuple[Attempt, ...] = field(default=())
    """Sources tried before it, and why each was refused."""


def _try_source(
    source: TimestampSource, digest: bytes, hash_name: str, clock: Callable[[], dt.datetime],
    tolerance: dt.timedelta,
) -> TimestampResult | Attempt:
    nonce = secrets.randbits(63) | 1
    request = build_request(digest, nonce=nonce, cert_req=True, hash_name=hash_name)
    sent_at = clock()
    try:
        answer = source.exchange(request)
    except SourceUnavailable as exc:
        return Attempt(source.name, source.kind, (exc.reason,), exc.detail)
    report = verify_response(
        answer, expected_digest=digest, trusted_roots=source.trusted_roots,
        expected_nonce=nonce, recorded_at=clock(), tolerance=tolerance,
        certificates=source.certificates, requested_at=sent_at,
    )
    if not report.ok or report.info is None:
        detail = "; ".join(c.detail for c in report.checks if c.reason is not None)
        return Attempt(source.name, source.kind, report.reasons, detail)
    return TimestampResult(token_from_response(answer), source.name, source.kind, report.info,
                           report)


def obtain_timestamp(
    digest: bytes,
    sources: Sequence[TimestampSource],
    *,
    hash_name: str = "sha256",
    clock: Callable[[], dt.datetime] = utc_now,
    tolerance: dt.timedelta = DEFAULT_TOLERANCE,
) -> TimestampResult:
    """Try ``sources`` in order (external TSAs first, the local TSA last) and return the first
    token that verifies, with the refusals before it. Raises ``TimestampUnavailableError``."""
    refused: list[Attempt] = []
    for source in sources:
        outcome = _try_source(source, digest, hash_name, clock, tolerance)
        if isinstance(outcome, TimestampResult):
            return TimestampResult(outcome.token, outcome.source, outcome.kind, outcome.info,
                                   outcome.report, tuple(refused))
        refused.append(outcome)
    raise TimestampUnavailableError(refused)


def obtain_timestamps(
    digests: Sequence[bytes],
    sources: Sequence[TimestampSource],
    *,
    clock: Callable[[], dt.datetime] = utc_now,
    tolerance: dt.timedelta = DEFAULT_TOLERANCE,
    verify_local: Literal["each", "first"] = "each",
) -> list[TimestampResult]:
    """``obtain_timestamp`` for many SHA-256 digests. An external source that was unreachable or
    timed out is not asked again in this call (offline: one timeout, not one per item); the
    local TSA signs what is left in one batch. ``verify_local="each"`` verifies each local
    token in full; ``"first"`` verifies the first in full and, for the others (same key, same
    certificate, same code), reads them back and checks their imprint only (the other checks
    are SKIPPED, said so in their detail); ``audit`` verifies every token in full later."""
    results: list[TimestampResult | None] = [None] * len(digests)
    refused: list[list[Attempt]] = [[] for _ in digests]
    for source in sources:
        pending = [i for i, r in enumerate(results) if r is None]
        if not pending:
            break
        if isinstance(source, LocalSource):
            answers = source.tsa.timestamp_batch([digests[i] for i in pending])
            first: TokenReport | None = None
            for i, answer in zip(pending, answers, strict=True):
                if verify_local == "each" or first is None:
                    report = verify_response(
                        answer, expected_digest=digests[i], trusted_roots=source.trusted_roots,
                        recorded_at=clock(), tolerance=tolerance)
                    first = report
                else:
                    report = _read_back(answer, digests[i], first)
                if report.ok and report.info is not None:
                    results[i] = TimestampResult(token_from_response(answer), source.name,
                                                 source.kind, report.info, report,
                                                 tuple(refused[i]))
                else:
                    refused[i].append(Attempt(source.name, source.kind, report.reasons))
            continue
        dead: Attempt | None = None
        for i in pending:
            if dead is not None:
                refused[i].append(Attempt(source.name, source.kind,
                                          (Reason.SKIPPED_AFTER_FAILURE,) + dead.reasons,
                                          dead.detail))
                continue
            outcome = _try_source(source, digests[i], "sha256", clock, tolerance)
            if isinstance(outcome, TimestampResult):
                results[i] = TimestampResult(outcome.token, outcome.source, outcome.kind,
                                             outcome.info, outcome.report, tuple(refused[i]))
            else:
                refused[i].append(outcome)
                if {Reason.TSA_UNREACHABLE, Reason.TSA_TIMEOUT} & set(outcome.reasons):
                    dead = outcome
    missing = [i for i, r in enumerate(results) if r is None]
    if missing:
        raise TimestampUnavailableError(refused[missing[0]])
    return [r for r in results if r is not None]


def _read_back(answer: bytes, digest: bytes, first: TokenReport) -> TokenReport:
    """The light check of a local batch token after the batch's first one was verified."""
    if not first.ok:
        return first
    try:
        info = read_token(answer)
    except MalformedTokenError as exc:
        return TokenReport((Check("well_formed", CheckStatus.FAILED, Reason.MALFORMED,
                                  str(exc)),), None)
    skipped = tuple(Check(c.id, CheckStatus.SKIPPED, None, "verified in full on the first "
                          "token of this local batch") for c in first.checks
                    if c.id not in ("status", "well_formed", "imprint"))
    imprint = _judge("imprint", None if info.imprint == digest else "another digest",
                     Reason.IMPRINT_MISMATCH)
    return TokenReport((_passed("well_formed"), imprint) + skipped, info)


def response_callable(sources: Sequence[TimestampSource]) -> Callable[[bytes], bytes]:
    """``digest -> DER TimeStampResp`` through ``obtain_timestamp``: the form
    ``evidence.pdfsign.CallableTimeStamper`` takes for the dossier's PAdES timestamp."""
    return lambda digest: response_from_token(obtain_timestamp(digest, sources).token)


def load_certificates(pem: bytes) -> tuple[x509.Certificate, ...]:
    """All certificates in a PEM bundle (for a TSA's configured trusted roots)."""
    return tuple(x509.load_pem_x509_certificates(pem))

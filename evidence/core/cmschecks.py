"""Certificate and CMS checks behind token verification: find the signer, check the
ESS binding, the signature, the chain to a trusted root, validity and EKU. Pure functions."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

if TYPE_CHECKING:  # asn1crypto loads only for a token the fast reader leaves to it
    from asn1crypto import cms
    from asn1crypto import x509 as asn1_x509

_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


@dataclass(frozen=True)
class _Cert:
    der: bytes
    crypto: x509.Certificate

    @functools.cached_property
    def asn1(self) -> asn1_x509.Certificate:
        """asn1crypto's reading (its outer header; the rest when read), for the
        asn1crypto path."""
        from asn1crypto import x509 as asn1_x509

        return asn1_x509.Certificate.load(self.der)


@functools.lru_cache(maxsize=256)
def _load_cert(der: bytes) -> _Cert:
    """A certificate in both libraries' forms; cached (pure: same bytes, same value), as every
    token of a TSA carries the same certificate."""
    cert = x509.load_der_x509_certificate(der)
    _ = cert.extensions  # parsed lazily otherwise: altered bytes must fail while loading
    return _Cert(der, cert)


@functools.lru_cache(maxsize=256)
def _der_of(cert: x509.Certificate) -> bytes:
    """A certificate's DER (cached: the same roots are given for every token)."""
    return cert.public_bytes(serialization.Encoding.DER)


def _pool(signed_data: cms.SignedData, extra: Iterable[x509.Certificate]) -> list[_Cert]:
    certs = []
    for choice in signed_data["certificates"] or []:
        if choice.name == "certificate":
            certs.append(_load_cert(choice.chosen.dump()))
    certs += [_load_cert(_der_of(c)) for c in extra]
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
    for attr in signed_attrs:
        kind = attr["type"].native
        if kind == "signing_certificate_v2":
            ess = attr["values"][0]["certs"][0]
            hash_name = ess["hash_algorithm"]["algorithm"].native
            expected = _cert_hash(hash_name, cert.der)
        elif kind == "signing_certificate":
            ess = attr["values"][0]["certs"][0]
            expected = _cert_hash("sha1", cert.der)
        else:
            continue
        if ess["cert_hash"].native != expected:
            return "the ESS signing-certificate attribute names another certificate"
        return None
    return "no ESS signing-certificate attribute binds the signer certificate"


@functools.lru_cache(maxsize=256)
def _cert_hash(hash_name: str, der: bytes) -> bytes:
    """A certificate's hash (every token of a TSA names the same certificate)."""
    return hashlib.new(hash_name, der).digest()


@functools.lru_cache(maxsize=256)
def subject_text(der: bytes) -> str:
    """A certificate's subject as RFC 4514 text (cached: the same few for every token)."""
    return _load_cert(der).crypto.subject.rfc4514_string()


def _signature_problem(
    signed_data: cms.SignedData, signer: cms.SignerInfo, data: bytes, cert: _Cert, econtent: bytes
) -> str | None:
    """Check the CMS signature over the signed attributes and the content digest in them."""
    from asn1crypto import core

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
        nxt = [c for c in pool if c.der not in ders and _is_ca(c) and _issued_by(current, c)]
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

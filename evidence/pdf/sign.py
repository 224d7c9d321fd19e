"""Organization signing identity, PAdES B-T signing and verification of signed dossiers.

- :func:`create_org_identity` makes the organization's signing key and certificate
  (an organization CA and a signing certificate issued by it) for ``dalel init``.
- :func:`load_org_identity` / :func:`load_pkcs12_identity` give a :class:`SigningIdentity`.
- :func:`sign_pdf` signs PAdES B-T (CMS signature + RFC 3161 timestamp token) with pyHanko.
- :class:`CallableTimeStamper` turns any ``(sha256 digest) -> DER TimeStampResp`` callable
  (the store's local TSA, an external one) into a pyHanko ``TimeStamper``.
- :func:`verify_dossier` checks a signed dossier and returns a :class:`DossierReport` with
  one entry per check and named reasons; it never stops at the first failure.

Signing and verification take and return bytes; only identity creation and loading touch
files. This module knows the dossier's manifest format (:data:`MANIFEST_NAME`) so that a
dossier can be verified without the rest of Dalel.
"""

from __future__ import annotations

import asyncio
import json
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

from asn1crypto import cms, keys, tsp
from asn1crypto import pkcs12 as asn1_pkcs12
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from base.errors import BrokenEnvironment, DalelError, UsageError
from base.fsio import atomic_write
from evidence.timestamping.tsa import X509_NAME_MAX, fits_cryptography, name_attribute

MANIFEST_NAME = "dalel-manifest.json"
"""Name of the JSON hash manifest attached to every dossier (AFRelationship Data)."""
MANIFEST_FORMAT = "dalel-dossier-manifest/1"
"""Value of the manifest's ``format`` field."""
EXHIBIT_DEST_PREFIX = "exhibit-"
"""Each exhibit section of a dossier is a named destination ``exhibit-<sha256>``."""

ORG_KEY_FILE = "org-signing-key.pem"
ORG_CA_KEY_FILE = "org-ca-key.pem"
ORG_CERT_FILE = "org-signing-cert.pem"
ORG_CA_CERT_FILE = "org-ca-cert.pem"
TRUST_BUNDLE_FILE = "trust-bundle.pem"
"""In a store's ``public/``: one PEM with every root a verifier of its dossiers needs (the
organization CA and the TSA roots), for ``dalel dossier verify X.pdf --trust``."""
ORG_NAME_MAX = X509_NAME_MAX
"""The longest organization name, in characters: it goes whole into the certificates' O
and the signing certificate's CN (X.509 ``ub-organization-name``, ``ub-common-name``)."""


# --------------------------------------------------------------------------- errors


class PdfSignError(DalelError):
    """Base class of signing errors; ``exit_code`` is what the CLI exits with (1 here)."""


class Pkcs12Unreadable(UsageError, PdfSignError):
    """The PKCS#12 file cannot be read or is not PKCS#12 (exit code 2)."""


class WrongPassword(UsageError, PdfSignError):
    """The PKCS#12 file is fine but the password does not open it (exit code 2)."""


class IdentityMissing(BrokenEnvironment, PdfSignError):
    """No organization identity in the store: run ``dalel init`` (exit code 4)."""


class IdentityExists(UsageError, PdfSignError):
    """An organization identity already exists; it is never overwritten (exit code 2)."""


class OrgNameInvalid(UsageError, PdfSignError):
    """The organization name is empty or longer than a certificate holds (exit code 2)."""


class TimestampFailed(BrokenEnvironment, PdfSignError):
    """The time-stamping authority did not give a usable token (exit code 4)."""


class SigningFailed(PdfSignError):
    """pyHanko could not sign the document (exit code 1)."""


# --------------------------------------------------------------------------- identity


@dataclass(frozen=True)
class OrgIdentityFiles:
    """Where :func:`create_org_identity` put the organization's keys and certificates."""

    key_path: Path
    """Signing private key (PEM, mode 0600, under keys/)."""
    cert_path: Path
    """Signing certificate (PEM, under public/)."""
    ca_key_path: Path
    """Organization CA private key (PEM, mode 0600, under keys/)."""
    ca_cert_path: Path
    """Organization CA certificate (PEM, under public/): what an auditor trusts."""


@dataclass(frozen=True)
class SigningIdentity:
    """A key and certificate chain ready to sign with."""

    signer: Any
    """The pyHanko ``SimpleSigner``."""
    subject: str
    """Human-readable subject of the signing certificate."""
    certificate_pem: bytes
    """Signing certificate, PEM."""


def check_org_name(org_name: str) -> str:
    """The organization name as the certificates carry it (trimmed), or
    :class:`OrgNameInvalid` when it is empty or over :data:`ORG_NAME_MAX` characters: a name
    is refused, never cut."""
    name = org_name.strip()
    if not name:
        raise OrgNameInvalid("the organization's name is empty", fix='give it with --org "NAME"')
    if len(name) > ORG_NAME_MAX:
        raise OrgNameInvalid(
            f"the organization's name is {len(name)} characters long; a certificate holds at "
            f"most {ORG_NAME_MAX} (X.509 ub-organization-name), and the name is never cut",
            fix=f"give a name of at most {ORG_NAME_MAX} characters with --org (the short name "
            "the organization is registered or known by)",
        )
    return name


def _name(org_name: str, common_name: str) -> x509.Name:
    return x509.Name(
        [
            name_attribute(NameOID.COMMON_NAME, common_name),
            name_attribute(NameOID.ORGANIZATION_NAME, org_name),
        ]
    )


def certificate_subject(cert: x509.Certificate) -> str:
    """The certificate's subject as RFC 4514 text, read without ``cryptography``'s warning
    about a common name over 64 UTF-8 bytes (X.509 allows 64 characters: see
    :func:`~evidence.timestamping.tsa.name_attribute`)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cert.subject.rfc4514_string()


def create_org_identity(
    keys_dir: Path, public_dir: Path, org_name: str, *, now: datetime | None = None
) -> OrgIdentityFiles:
    """Create the organization CA and signing certificate (RSA 3072) for ``dalel init``.

    Private keys go to ``keys_dir`` (mode 0600), certificates to ``public_dir``.
    Raises :class:`IdentityExists` rather than overwrite an existing identity.
    """
    keys_dir, public_dir = Path(keys_dir), Path(public_dir)
    files = OrgIdentityFiles(
        keys_dir / ORG_KEY_FILE,
        public_dir / ORG_CERT_FILE,
        keys_dir / ORG_CA_KEY_FILE,
        public_dir / ORG_CA_CERT_FILE,
    )
    for path in (files.key_path, files.cert_path, files.ca_key_path, files.ca_cert_path):
        if path.exists():
            raise IdentityExists(f"{path} already exists; the organization identity is kept")
    org_name = check_org_name(org_name)
    start = (now or datetime.now(UTC)) - timedelta(minutes=5)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    # The CA's CN names the organization when that fits every reader (its O always does).
    ca_cn = f"{org_name} - Dalel CA"
    ca_name = _name(org_name, ca_cn if fits_cryptography(ca_cn) else "Dalel CA")
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=365 * 20))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(org_name, org_name))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=365 * 10))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem_key = serialization.Encoding.PEM
    private = serialization.PrivateFormat.PKCS8
    none = serialization.NoEncryption()
    keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    public_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(files.ca_key_path, ca_key.private_bytes(pem_key, private, none), mode=0o600)
    atomic_write(files.key_path, key.private_bytes(pem_key, private, none), mode=0o600)
    atomic_write(files.ca_cert_path, ca_cert.public_bytes(pem_key), mode=0o644)
    atomic_write(files.cert_path, cert.public_bytes(pem_key), mode=0o644)
    return files


def _to_asn1_cert(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _signer_class() -> type:
    """pyHanko's ``SimpleSigner`` that signs RSA PKCS#1 v1.5 with the key already loaded.

    ``SimpleSigner`` loads its key from DER again for every signature it makes, three for a
    dossier; checking a 3072-bit RSA key on each load took about 0.13 s. Other mechanisms
    (PSS, ECDSA, a PKCS#12's other keys) sign as pyHanko does."""
    from pyhanko.sign import signers
    from pyhanko_certvalidator.util import get_pyca_cryptography_hash

    class LoadedKeySigner(signers.SimpleSigner):  # type: ignore[misc]
        loaded_key: Any = None

        def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
            mechanism = self.get_signature_mechanism_for_digest(digest_algorithm)
            try:
                algorithm = mechanism.signature_algo
            except ValueError:
                algorithm = mechanism["algorithm"].native
            key = self.loaded_key
            if algorithm == "rsassa_pkcs1v15" and isinstance(key, rsa.RSAPrivateKey):
                return bytes(
                    key.sign(data, padding.PKCS1v15(), get_pyca_cryptography_hash(digest_algorithm))
                )
            return bytes(super().sign_raw(data, digest_algorithm))

    return LoadedKeySigner


def _identity(
    key: Any, cert: x509.Certificate, chain: Iterable[x509.Certificate]
) -> SigningIdentity:
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    key_info = keys.PrivateKeyInfo.load(
        key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    store = SimpleCertificateStore.from_certs([_to_asn1_cert(c) for c in chain])
    signer = _signer_class()(
        signing_cert=_to_asn1_cert(cert), signing_key=key_info, cert_registry=store
    )
    signer.loaded_key = key
    return SigningIdentity(
        signer=signer,
        subject=certificate_subject(cert),
        certificate_pem=cert.public_bytes(serialization.Encoding.PEM),
    )


def load_org_identity(keys_dir: Path, public_dir: Path) -> SigningIdentity:
    """Load the identity :func:`create_org_identity` made; :class:`IdentityMissing` if none."""
    key_path, cert_path = Path(keys_dir) / ORG_KEY_FILE, Path(public_dir) / ORG_CERT_FILE
    ca_path = Path(public_dir) / ORG_CA_CERT_FILE
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        ca = x509.load_pem_x509_certificate(ca_path.read_bytes())
    except FileNotFoundError as exc:
        raise IdentityMissing(
            f"no organization signing identity ({exc.filename}); restore keys/ and public/ from "
            "a backup of the store, or sign with --sign FILE.p12 (`dalel init --org NAME` "
            "makes an identity for a new store only)"
        ) from exc
    except ValueError as exc:
        raise IdentityMissing(f"organization identity is unreadable: {exc}") from exc
    return _identity(key, cert, [ca])


def load_pkcs12_identity(data: bytes, password: bytes | str | None) -> SigningIdentity:
    """Load a PKCS#12 (.p12/.pfx) key and chain from bytes.

    Raises :class:`Pkcs12Unreadable` when the bytes are not PKCS#12 at all, and
    :class:`WrongPassword` when they are but the password does not open them.
    """
    try:
        pfx = asn1_pkcs12.Pfx.load(data, strict=True)
        _ = pfx["auth_safe"]["content_type"].native
    except (ValueError, TypeError, KeyError) as exc:
        raise Pkcs12Unreadable("the file is not a PKCS#12 (.p12/.pfx) archive") from exc
    pw = password.encode("utf-8") if isinstance(password, str) else password
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, pw or None)
    except ValueError as exc:
        raise WrongPassword("the password does not open this PKCS#12 file") from exc
    if key is None or cert is None:
        raise Pkcs12Unreadable("the PKCS#12 file holds no private key with its certificate")
    return _identity(key, cert, extra or [])


def read_pkcs12_file(path: Path, password: bytes | str | None) -> SigningIdentity:
    """:func:`load_pkcs12_identity` on a file; :class:`Pkcs12Unreadable` if it cannot be read."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise Pkcs12Unreadable(f"cannot read {path}: {exc.strerror}") from exc
    return load_pkcs12_identity(data, password)


# --------------------------------------------------------------------------- timestamps

TsaCallable = Callable[[bytes], bytes]
"""``(sha256 digest) -> DER TimeStampResp``: the shape of the store's TSA."""


def _base_timestamper() -> type:
    from pyhanko.sign.timestamps.api import TimeStamper

    return TimeStamper


class CallableTimeStamper(_base_timestamper()):  # type: ignore[misc]
    """pyHanko ``TimeStamper`` over a ``(digest) -> DER TimeStampResp`` callable (SHA-256 only).

    The callable builds its own request (so no nonce is checked here); the response's
    status and message imprint are checked before the token is used.
    """

    def __init__(self, tsa: TsaCallable) -> None:
        super().__init__(include_nonce=False)
        self._tsa = tsa

    async def async_timestamp(self, message_digest: bytes, md_algorithm: str) -> cms.ContentInfo:
        """Ask the callable for a token over ``message_digest``."""
        if md_algorithm.lower() not in ("sha256", "sha-256"):
            raise TimestampFailed(f"the TSA callable takes SHA-256 digests, not {md_algorithm}")
        try:
            resp = tsp.TimeStampResp.load(self._tsa(bytes(message_digest)))
            status = resp["status"]["status"].native
        except TimestampFailed:
            raise
        except Exception as exc:
            raise TimestampFailed(f"time-stamping authority failed: {exc}") from exc
        if status not in ("granted", "granted_with_mods"):
            raise TimestampFailed(f"time-stamping authority refused the request: {status}")
        token = resp["time_stamp_token"]
        imprint = token["content"]["encap_content_info"]["content"].parsed["message_imprint"]
        if imprint["hashed_message"].native != bytes(message_digest):
            raise TimestampFailed("time-stamping authority stamped a different digest")
        return token


def tsa_callable_from_timestamper(timestamper: Any) -> TsaCallable:
    """Wrap any pyHanko ``TimeStamper`` (e.g. ``HTTPTimeStamper``) as a TSA callable."""

    def call(digest: bytes) -> bytes:
        _nonce, req = timestamper.request_cms(digest, "sha256")
        resp = asyncio.run(timestamper.async_request_tsa_response(req))
        return bytes(resp.dump())

    return call


# --------------------------------------------------------------------------- signing


def sign_pdf(
    pdf: bytes,
    identity: SigningIdentity,
    timestamper: Any,
    *,
    reason: str = "",
    location: str = "",
    field_name: str = "DalelSignature",
) -> bytes:
    """Sign ``pdf`` PAdES B-T: an invisible signature with an RFC 3161 timestamp token.

    ``timestamper`` is a pyHanko ``TimeStamper`` (e.g. :class:`CallableTimeStamper`).
    Returns the signed PDF bytes (the input plus one incremental update).
    """
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers

    if timestamper is None:
        raise TimestampFailed("PAdES B-T needs a timestamper")
    meta = signers.PdfSignatureMetadata(
        field_name=field_name,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=reason or None,
        location=location or None,
    )
    try:
        writer = IncrementalPdfFileWriter(BytesIO(pdf), strict=False)
        out = signers.PdfSigner(meta, signer=identity.signer, timestamper=timestamper).sign_pdf(
            writer
        )
    except PdfSignError:
        raise
    except Exception as exc:
        cause: BaseException = exc
        while cause.__cause__ is not None:
            if isinstance(cause.__cause__, PdfSignError):
                raise cause.__cause__ from exc
            cause = cause.__cause__
        raise SigningFailed(f"signing failed: {exc}") from exc
    return bytes(out.getvalue())


# --------------------------------------------------------------------------- manifest


def make_manifest(
    *,
    case_id: str,
    edition: str,
    language: str,
    exhibits: Sequence[Mapping[str, Any]],
    derivatives: Sequence[Mapping[str, Any]] = (),
) -> bytes:
    """The dossier's JSON hash manifest (sorted keys, UTF-8).

    Each exhibit mapping has ``sha256``, ``original_name``, ``media_type``, ``size`` and
    ``attachment`` (the embedded file's name, or None when not embedded).
    """
    doc = {
        "format": MANIFEST_FORMAT,
        "case_id": case_id,
        "edition": edition,
        "language": language,
        "exhibits": [dict(e) for e in exhibits],
        "derivatives": [dict(d) for d in derivatives],
    }
    return json.dumps(doc, ensure_ascii=False, sort_keys=True, indent=1).encode("utf-8")

"""The store's own RFC 3161 time-stamping authority (the "local TSA").

At a polling station where the internet was cut off, no independent TSA is reachable. The
local TSA still issues RFC 3161 tokens, so that every item gets a token at once and an
external one can be added later (``dalel timestamp --upgrade``). Its tokens are ordinary
RFC 3161 tokens: ``openssl ts -verify -CAfile public/tsa-root.pem -untrusted public/tsa.pem``
accepts them.

Choices, and why:

- ECDSA P-256 with SHA-256. Ed25519 was tried first, but OpenSSL 3.0's ``ts`` (PKCS#7 code)
  answers "signing not supported for this key type", so auditors with a stock OpenSSL could
  not check such tokens.
- ``genTime`` has whole seconds and the token states an accuracy of one second.
- Serial numbers come from a counter file under ``state_dir`` guarded by an exclusive
  ``flock``. A block is reserved (written and fsynced) *before* any serial of it is used, so
  two processes never issue the same serial and a crash only leaves an unused gap.

The signing core (``LocalTSA``) takes a key, certificates, a serial allocator and a clock;
files are read and written only by ``create_local_tsa``, ``LocalTSA.load`` and
``FileSerialAllocator``.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import threading
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from base.errors import BrokenEnvironment, StoreCorrupt, UsageError
from base.fsio import atomic_write
from evidence.core.rfc3161 import TimeStampResp
from evidence.core.tokenread import HASH_LENGTHS

#: Default TSA policy: a UUID-based OID (ITU-T X.667, arc 2.25), needs no registration.
DEFAULT_POLICY_OID = "2.25." + str(uuid.UUID("6f1d8a52-3c1e-4a47-9a2b-d41e1a7c0b3e").int)

ROOT_CERT_FILE = "tsa-root.pem"
TSA_CERT_FILE = "tsa.pem"
ROOT_KEY_FILE = "tsa-root.key"
TSA_KEY_FILE = "tsa.key"
SERIAL_FILE = "tsa-serial"
CONFIG_FILE = "tsa.json"


Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    """The current time in UTC (the default clock)."""
    return dt.datetime.now(dt.UTC)


class LocalTSAMissing(BrokenEnvironment):
    """The local TSA's files are missing or unreadable (exit code 4)."""


class LocalTSAExists(UsageError):
    """``create_local_tsa`` refuses to replace an existing TSA (exit code 2)."""


# ---------------------------------------------------------------------------------------------
# serial numbers


class SerialAllocator(Protocol):
    """Hands out serial numbers that are never handed out again."""

    def reserve(self, count: int) -> range:
        """Reserve ``count`` fresh serial numbers and return them."""
        ...


class MemorySerialAllocator:
    """Serial numbers kept in memory only: for tests and throw-away servers."""

    def __init__(self, start: int = 1) -> None:
        self._next = start
        self._lock = threading.Lock()  # (a server's threads sign at once)

    def reserve(self, count: int) -> range:
        """Reserve ``count`` fresh serial numbers."""
        if count < 1:
            raise ValueError("count must be positive")
        with self._lock:
            first = self._next
            self._next += count
        return range(first, first + count)


class FileSerialAllocator:
    """A persistent counter: the last reserved serial, in a file, under an exclusive flock.

    The new high-water mark is written to a temporary file, fsynced and renamed over the old
    one while the lock is held, before the serials are returned. Two processes therefore get
    disjoint ranges, and after a crash the counter is at or beyond every serial ever issued.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock_path = self.path.with_name(self.path.name + ".lock")

    def reserve(self, count: int) -> range:
        """Reserve ``count`` fresh serial numbers, persisting the reservation first."""
        if count < 1:
            raise ValueError("count must be positive")
        with open(self._lock_path, "a+b") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                last = self.last()
                new_last = last + count
                atomic_write(self.path, f"{new_last}\n".encode(), mode=0o600)
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
        return range(last + 1, new_last + 1)

    def last(self) -> int:
        """The highest serial reserved so far (0 when none)."""
        try:
            text = self.path.read_text().strip()
        except FileNotFoundError:
            return 0
        if not text.isdigit():
            raise StoreCorrupt(
                f"serial counter {self.path} is corrupt: {text[:40]!r}",
                fix="restore it from a backup or set it above the highest serial ever issued",
            )
        return int(text)


# ---------------------------------------------------------------------------------------------
# certificates


X509_NAME_MAX = 64
"""RFC 5280's upper bound on an organization or common name (``ub-organization-name``,
``ub-common-name``): 64 *characters* of a UTF8String (X.680 counts a UTF8String's size in
characters), so a Cyrillic or Kazakh name of 64 letters fits although it takes 128 bytes."""


def fit_x509(text: str, limit: int = X509_NAME_MAX) -> str:
    """``text`` cut to at most ``limit`` characters (the X.509 upper bound). ``dalel init``
    refuses a longer organisation name, so an organisation's name is never cut."""
    return text.strip()[:limit].strip()


def fits_cryptography(text: str) -> bool:
    """True when the ``cryptography`` library takes ``text`` as a common name as it is: it
    checks a CN's length in UTF-8 *bytes* (at most 64), stricter than X.509's 64 characters,
    and warns on every later read of a certificate whose CN is longer."""
    return 0 < len(text.encode("utf-8")) <= X509_NAME_MAX


def name_attribute(oid: x509.ObjectIdentifier, value: str) -> x509.NameAttribute[str]:
    """A UTF8String name attribute of at most :data:`X509_NAME_MAX` characters, kept whole.

    ``cryptography`` refuses a common name over 64 UTF-8 bytes; X.509 allows 64 characters.
    Its own parser builds such attributes unchecked (``_validate=False``, as for a
    certificate read from elsewhere): so does this, once the length in characters is
    checked here. A longer value is a ``ValueError``, never cut."""
    if not 0 < len(value) <= X509_NAME_MAX:
        raise ValueError(f"an X.509 name holds 1 to {X509_NAME_MAX} characters, not {len(value)}")
    if fits_cryptography(value):
        return x509.NameAttribute(oid, value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return x509.NameAttribute(oid, value, _validate=False)


def labelled(label: str, org_name: str) -> str:
    """``"label: org"`` when it fits a common name that every reader takes without a warning
    (:func:`fits_cryptography`), else ``label`` alone: the organisation's whole name is in
    the certificate's O, never a cut copy of it in the CN."""
    full = f"{label}: {org_name.strip()}"
    return full if fits_cryptography(full) else label


def _name(org_name: str, common_name: str) -> x509.Name:
    return x509.Name(
        [
            name_attribute(NameOID.ORGANIZATION_NAME, fit_x509(org_name)),
            name_attribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def make_root_certificate(
    key: ec.EllipticCurvePrivateKey,
    org_name: str,
    *,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> x509.Certificate:
    """A self-signed CA certificate that issues the TSA certificate."""
    name = _name(org_name, labelled("Dalel TSA Root", org_name))
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def issue_tsa_certificate(
    root_key: ec.EllipticCurvePrivateKey,
    root_cert: x509.Certificate,
    tsa_public_key: ec.EllipticCurvePublicKey,
    org_name: str,
    *,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> x509.Certificate:
    """A TSA certificate: critical EKU id-kp-timeStamping only, signed by ``root_key``."""
    return (
        x509.CertificateBuilder()
        .subject_name(_name(org_name, labelled("Dalel TSA", org_name)))
        .issuer_name(root_cert.subject)
        .public_key(tsa_public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
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
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(tsa_public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(
                root_cert.public_key()  # type: ignore[arg-type]
            ),
            critical=False,
        )
        .sign(root_key, hashes.SHA256())
    )


# ---------------------------------------------------------------------------------------------
# the authority


@dataclass(frozen=True)
class LocalTSAPaths:
    """Where ``create_local_tsa`` put the local TSA's files."""

    root_certificate: Path
    """``public/tsa-root.pem``: the trust anchor auditors give to ``openssl ts -CAfile``."""
    tsa_certificate: Path
    """``public/tsa.pem``: the signing certificate (``openssl ts -untrusted``)."""
    root_key: Path
    """The root's private key (mode 0600), kept to re-issue the TSA certificate."""
    tsa_key: Path
    """The TSA's signing key (mode 0600)."""
    serial_counter: Path
    """The persistent serial counter."""
    config: Path
    """Policy OID and accuracy, as JSON."""


class LocalTSA:
    """An RFC 3161 TSA signing with an in-memory key; pure apart from the serial allocator.

    ``timestamp`` and ``timestamp_batch`` return DER ``TimeStampResp`` structures with status
    ``granted``; ``respond`` answers a DER ``TimeStampReq`` as an HTTP TSA would.
    """

    def __init__(
        self,
        *,
        private_key: ec.EllipticCurvePrivateKey,
        certificate: x509.Certificate,
        root_certificate: x509.Certificate,
        serials: SerialAllocator,
        policy_oid: str = DEFAULT_POLICY_OID,
        accuracy_seconds: int = 1,
        clock: Clock = utc_now,
        reserve_block: int = 64,
    ) -> None:
        self._key = private_key
        self.certificate = certificate
        self.root_certificate = root_certificate
        self.policy_oid = policy_oid
        self.accuracy_seconds = accuracy_seconds
        self._serials = serials
        self._clock = clock
        self._reserve_block = reserve_block
        self._pool: Iterator[int] = iter(())
        # Every part that does not change between tokens is DER-encoded once, with asn1crypto;
        # each token is then assembled from bytes (``_der``), 10x faster than building it
        # with asn1crypto. tests/evidence/test_tsa.py checks the result is strict DER.
        cert_asn1 = asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))
        self._cert_der = cert_asn1.dump()
        self._ess_attr = _signing_certificate_v2(cert_asn1).dump()
        self._content_type_attr = cms.CMSAttribute(
            {"type": "content_type", "values": ["tst_info"]}
        ).dump()
        general_name = asn1_x509.GeneralName(name="directory_name", value=cert_asn1.subject)
        self._tsa_field = _tlv(0xA0, general_name.dump())  # tsa [0] EXPLICIT GeneralName
        self._sid = cms.SignerIdentifier(
            name="issuer_and_serial_number",
            value={"issuer": cert_asn1.issuer, "serial_number": cert_asn1.serial_number},
        ).dump()
        self._policy = core.ObjectIdentifier(policy_oid).dump()
        self._accuracy = tsp.Accuracy({"seconds": accuracy_seconds}).dump()

    @classmethod
    def load(
        cls,
        keys_dir: Path,
        public_dir: Path,
        state_dir: Path,
        *,
        clock: Clock = utc_now,
        reserve_block: int = 64,
    ) -> LocalTSA:
        """Load the TSA written by ``create_local_tsa``; raises ``LocalTSAMissing`` if missing."""
        keys_dir, public_dir, state_dir = Path(keys_dir), Path(public_dir), Path(state_dir)
        try:
            key = serialization.load_pem_private_key(
                (keys_dir / TSA_KEY_FILE).read_bytes(), password=None
            )
            cert = x509.load_pem_x509_certificate((public_dir / TSA_CERT_FILE).read_bytes())
            root = x509.load_pem_x509_certificate((public_dir / ROOT_CERT_FILE).read_bytes())
            config = json.loads((state_dir / CONFIG_FILE).read_text())
            policy_oid, accuracy = str(config["policy_oid"]), int(config["accuracy_seconds"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise LocalTSAMissing(
                f"cannot load the local TSA: {exc}",
                fix="restore keys/tsa.key, public/tsa.pem, public/tsa-root.pem and tsa/ from a "
                "backup of the store (`dalel init` makes them for a new store only)",
            ) from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise LocalTSAMissing(
                "the TSA key is not an ECDSA key",
                fix="restore keys/tsa.key from a backup of the store",
            )
        return cls(
            private_key=key,
            certificate=cert,
            root_certificate=root,
            serials=FileSerialAllocator(state_dir / SERIAL_FILE),
            policy_oid=policy_oid,
            accuracy_seconds=accuracy,
            clock=clock,
            reserve_block=reserve_block,
        )

    def _next_serial(self) -> int:
        serial = next(self._pool, None)
        if serial is None:
            self._pool = iter(self._serials.reserve(self._reserve_block))
            serial = next(self._pool)
        return serial

    def timestamp(
        self,
        digest: bytes,
        *,
        nonce: int | None = None,
        cert_req: bool = True,
        hash_name: str = "sha256",
    ) -> bytes:
        """A DER TimeStampResp (granted) whose token covers ``digest``.

        Serials are taken from a block reserved in advance (``reserve_block``); unused serials of
        a block are skipped when the process ends, never reused.
        """
        _check_digest(digest, hash_name)
        return self._sign(digest, hash_name, self._next_serial(), nonce, cert_req)

    def timestamp_batch(
        self, digests: Sequence[bytes], *, cert_req: bool = True, hash_name: str = "sha256"
    ) -> list[bytes]:
        """One TimeStampResp per digest, in order, with a single serial reservation for all."""
        for digest in digests:
            _check_digest(digest, hash_name)
        if not digests:
            return []
        serials = self._serials.reserve(len(digests))
        return [
            self._sign(digest, hash_name, serial, None, cert_req)
            for digest, serial in zip(digests, serials, strict=True)
        ]

    def respond(self, request_der: bytes) -> bytes:
        """Answer a DER TimeStampReq with a DER TimeStampResp (a rejection if it is invalid)."""
        try:
            request = tsp.TimeStampReq.load(request_der, strict=True)
            imprint = request["message_imprint"]
            hash_name = imprint["hash_algorithm"]["algorithm"].native
            digest = imprint["hashed_message"].native
            nonce = request["nonce"].native
            cert_req = bool(request["cert_req"].native)
            policy = request["req_policy"].native
        except (ValueError, TypeError, KeyError):
            return rejection_response("bad_data_format", "request is not a DER TimeStampReq")
        if hash_name not in HASH_LENGTHS:
            return rejection_response("bad_alg", f"hash algorithm {hash_name} not accepted")
        if len(digest) != HASH_LENGTHS[hash_name]:
            return rejection_response("bad_data_format", "imprint length does not fit its hash")
        if policy is not None and policy != self.policy_oid:
            return rejection_response("unaccepted_policy", f"policy {policy} not offered")
        return self.timestamp(digest, nonce=nonce, cert_req=cert_req, hash_name=hash_name)

    def _sign(
        self, digest: bytes, hash_name: str, serial: int, nonce: int | None, cert_req: bool
    ) -> bytes:
        gen_time = self._clock().astimezone(dt.UTC)
        tst_info = _tlv(
            0x30,
            b"".join(
                (
                    _VERSION_1,
                    self._policy,
                    _tlv(
                        0x30, _DIGEST_ALGORITHMS[hash_name] + _tlv(0x04, digest)
                    ),  # messageImprint
                    _integer(serial),
                    _tlv(0x18, gen_time.strftime("%Y%m%d%H%M%SZ").encode()),  # whole seconds
                    self._accuracy,
                    b"" if nonce is None else _integer(nonce),
                    self._tsa_field,
                )
            ),
        )
        message_digest = _tlv(
            0x30, _MESSAGE_DIGEST_OID + _tlv(0x31, _tlv(0x04, hashlib.sha256(tst_info).digest()))
        )
        # SET OF in DER: members sorted by their encodings
        attributes = b"".join(sorted((self._content_type_attr, message_digest, self._ess_attr)))
        signature = self._key.sign(_tlv(0x31, attributes), ec.ECDSA(hashes.SHA256()))
        signer_info = _tlv(
            0x30,
            b"".join(
                (
                    _VERSION_1,
                    self._sid,
                    _DIGEST_ALGORITHMS["sha256"],
                    _tlv(0xA0, attributes),
                    _ECDSA_SHA256,
                    _tlv(0x04, signature),
                )
            ),
        )
        signed_data = _tlv(
            0x30,
            b"".join(
                (
                    _VERSION_3,
                    _tlv(0x31, _DIGEST_ALGORITHMS["sha256"]),
                    _tlv(0x30, _TST_INFO_OID + _tlv(0xA0, _tlv(0x04, tst_info))),
                    _tlv(0xA0, self._cert_der) if cert_req else b"",
                    _tlv(0x31, signer_info),
                )
            ),
        )
        token = _tlv(0x30, _SIGNED_DATA_OID + _tlv(0xA0, signed_data))
        return _tlv(0x30, _GRANTED + token)


def _tlv(tag: int, content: bytes) -> bytes:
    """One DER element: tag, definite length, content."""
    n = len(content)
    if n < 0x80:
        return bytes((tag, n)) + content
    length = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(length))) + length + content


def _integer(n: int) -> bytes:
    """A DER INTEGER (minimal two's complement)."""
    size = ((n if n >= 0 else ~n).bit_length() + 8) // 8
    return _tlv(0x02, n.to_bytes(size, "big", signed=True))


_VERSION_1 = _integer(1)
_VERSION_3 = _integer(3)
_GRANTED = _tlv(0x30, _integer(0))  # PKIStatusInfo { status granted }
_DIGEST_ALGORITHMS = {
    name: algos.DigestAlgorithm({"algorithm": name}).dump()
    for name in ("sha256", "sha384", "sha512")
}
_ECDSA_SHA256 = algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}).dump()
_TST_INFO_OID = cms.ContentType("tst_info").dump()
_SIGNED_DATA_OID = cms.ContentType("signed_data").dump()
_MESSAGE_DIGEST_OID = cms.CMSAttributeType("message_digest").dump()


def _check_digest(digest: bytes, hash_name: str) -> None:
    expected = HASH_LENGTHS.get(hash_name)
    if expected is None:
        raise ValueError(f"unsupported hash algorithm {hash_name!r}")
    if not isinstance(digest, bytes) or len(digest) != expected:
        raise ValueError(f"a {hash_name} digest is {expected} bytes")


def _signing_certificate_v2(cert: asn1_x509.Certificate) -> cms.CMSAttribute:
    """The ESS signing-certificate-v2 attribute (RFC 5816) naming ``cert`` by its SHA-256."""
    ess_id = tsp.ESSCertIDv2(
        {
            "cert_hash": hashlib.sha256(cert.dump()).digest(),
            "issuer_serial": {
                "issuer": [asn1_x509.GeneralName(name="directory_name", value=cert.issuer)],
                "serial_number": cert.serial_number,
            },
        }
    )
    return cms.CMSAttribute({"type": "signing_certificate_v2", "values": [{"certs": [ess_id]}]})


def rejection_response(fail_info: str, text: str) -> bytes:
    """A DER TimeStampResp with status ``rejection`` and the given PKIFailureInfo bit."""
    return TimeStampResp(
        {"status": {"status": "rejection", "status_string": [text], "fail_info": {fail_info}}}
    ).dump()


# ---------------------------------------------------------------------------------------------
# files


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def create_local_tsa(
    keys_dir: Path,
    public_dir: Path,
    state_dir: Path,
    org_name: str,
    *,
    policy_oid: str = DEFAULT_POLICY_OID,
    accuracy_seconds: int = 1,
    root_years: int = 30,
    tsa_years: int = 20,
    now: dt.datetime | None = None,
) -> LocalTSAPaths:
    """Create the store's TSA: root and TSA certificates in ``public_dir``, keys (0600) in
    ``keys_dir``, serial counter and config in ``state_dir``. Refuses to overwrite a TSA."""
    keys_dir, public_dir, state_dir = Path(keys_dir), Path(public_dir), Path(state_dir)
    paths = LocalTSAPaths(
        root_certificate=public_dir / ROOT_CERT_FILE,
        tsa_certificate=public_dir / TSA_CERT_FILE,
        root_key=keys_dir / ROOT_KEY_FILE,
        tsa_key=keys_dir / TSA_KEY_FILE,
        serial_counter=state_dir / SERIAL_FILE,
        config=state_dir / CONFIG_FILE,
    )
    for existing in (paths.root_certificate, paths.tsa_certificate, paths.tsa_key):
        if existing.exists():
            raise LocalTSAExists(
                f"a local TSA already exists ({existing})",
                fix="keep it: its certificates verify the tokens already issued",
            )
    x509.ObjectIdentifier(policy_oid)  # raises ValueError on a malformed OID
    for directory, mode in ((keys_dir, 0o700), (public_dir, 0o755), (state_dir, 0o755)):
        directory.mkdir(parents=True, exist_ok=True, mode=mode)
    start = (now or utc_now()).astimezone(dt.UTC) - dt.timedelta(hours=1)
    root_key = ec.generate_private_key(ec.SECP256R1())
    tsa_key = ec.generate_private_key(ec.SECP256R1())
    root = make_root_certificate(
        root_key, org_name, not_before=start, not_after=start + dt.timedelta(days=365 * root_years)
    )
    cert = issue_tsa_certificate(
        root_key,
        root,
        tsa_key.public_key(),
        org_name,
        not_before=start,
        not_after=start + dt.timedelta(days=365 * tsa_years),
    )
    atomic_write(paths.root_key, _key_pem(root_key), mode=0o600)
    atomic_write(paths.tsa_key, _key_pem(tsa_key), mode=0o600)
    config = {"policy_oid": policy_oid, "accuracy_seconds": accuracy_seconds, "org": org_name}
    atomic_write(paths.config, json.dumps(config, sort_keys=True).encode() + b"\n", mode=0o644)
    atomic_write(paths.root_certificate, root.public_bytes(serialization.Encoding.PEM), mode=0o644)
    atomic_write(paths.tsa_certificate, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return paths

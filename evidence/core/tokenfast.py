"""A fast reader of the time-stamp tokens most TSAs write: strict DER, one signer named by
issuer and serial, ECDSA, an ESS signing-certificate attribute.

asn1crypto, which :mod:`evidence.core.tokens` reads tokens with, builds an object for every
field it meets: most of an audit's time went there. This module walks the token's DER once
and keeps only what the checks read. It gives the same answers as the asn1crypto path or none
at all: whatever it does not know for certain (BER, another kind of signer or key, an
algorithm not in its tables, an issuer spelt differently from its certificate's, anything
malformed) raises :class:`_NotFast`, and the asn1crypto path decides, with its own messages.
A test compares the two on every byte of a token flipped.

Pure: bytes in, values out.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec

from evidence.core.cmschecks import _HASHES, _Cert, _cert_hash
from evidence.core.tokenread import TokenInfo, _name_text


class _NotFast(Exception):
    """The token is outside what this reader knows for certain: the asn1crypto path decides."""


_SIGNED_DATA = "1.2.840.113549.1.7.2"
_TST_INFO = "1.2.840.113549.1.9.16.1.4"
_CONTENT_TYPE = "1.2.840.113549.1.9.3"
_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
_SIGNING_CERTIFICATE = "1.2.840.113549.1.9.16.2.12"
_SIGNING_CERTIFICATE_V2 = "1.2.840.113549.1.9.16.2.47"

#: Digest algorithms by OID, under asn1crypto's names for them.
_DIGESTS = {
    "1.3.14.3.2.26": "sha1",
    "2.16.840.1.101.3.4.2.4": "sha224",
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}
#: ECDSA signature algorithms by OID, with their hash (asn1crypto's ``hash_algo``).
_ECDSA = {
    "1.2.840.10045.4.1": "sha1",
    "1.2.840.10045.4.3.2": "sha256",
    "1.2.840.10045.4.3.3": "sha384",
    "1.2.840.10045.4.3.4": "sha512",
}
#: The attributes of a Name this reader spells, as asn1crypto's ``human_friendly`` does.
_NAME_FIELDS = {
    "2.5.4.3": "Common Name",
    "2.5.4.6": "Country",
    "2.5.4.7": "Locality",
    "2.5.4.8": "State/Province",
    "2.5.4.9": "Street Address",
    "2.5.4.10": "Organization",
    "2.5.4.11": "Organizational Unit",
}
_NAME_STRINGS = {0x0C: "utf-8", 0x13: "latin1"}
"""UTF8String and PrintableString, decoded as asn1crypto decodes them."""
_GENERALIZED_TIME = re.compile(
    rb"([0-9]{4})([0-9]{2})" + rb"([0-9]{2})" * 4 + rb"(?:\.([0-9]{1,6}))?Z"
)
"""YYYYMMDDhhmmss[.ffffff]Z: what DER allows, fractions of at most a microsecond."""

_SIGNER_SHAPE = [0x02, 0x30, 0x30, 0xA0, 0x30, 0x04]
"""SignerInfo: version, issuer and serial, digest, [0] signed attributes, algorithm,
signature (then [1] unsigned attributes, optional)."""

_Tlv = tuple[int, int, int, int]
"""A DER element: its tag byte, where it starts (header), where its contents start and end."""


def _tlv(data: bytes, pos: int, end: int) -> _Tlv:
    """The element at ``pos`` (which must end by ``end``): single-byte tag, definite and
    minimal length."""
    if pos + 2 > end:
        raise _NotFast("cut short")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise _NotFast("multi-byte tag")
    first = data[pos + 1]
    start = pos + 2
    if first < 0x80:
        length = first
    else:
        n = first & 0x7F
        if n == 0 or n > 4 or start + n > end or data[start] == 0:
            raise _NotFast("indefinite or non-minimal length")
        length = int.from_bytes(data[start : start + n], "big")
        if length < 0x80:
            raise _NotFast("non-minimal length")
        start += n
    if start + length > end:
        raise _NotFast("length beyond the enclosing element")
    return tag, pos, start, start + length


def _children(data: bytes, element: _Tlv) -> list[_Tlv]:
    """The elements a constructed element holds, in order, filling it exactly."""
    if not element[0] & 0x20:
        raise _NotFast("primitive where constructed expected")
    out = []
    pos, end = element[2], element[3]
    while pos < end:
        child = _tlv(data, pos, end)
        out.append(child)
        pos = child[3]
    return out


def _expect(element: _Tlv, tag: int) -> _Tlv:
    if element[0] != tag:
        raise _NotFast(f"tag {element[0]:#x} where {tag:#x} expected")
    return element


def _fields(data: bytes, element: _Tlv, *tags: int) -> list[_Tlv]:
    """The children of ``element``, which must be exactly of ``tags`` in order."""
    kids = _children(data, element)
    if len(kids) != len(tags):
        raise _NotFast("unexpected number of fields")
    return [_expect(k, t) for k, t in zip(kids, tags, strict=True)]


def _int(data: bytes, element: _Tlv) -> int:
    _expect(element, 0x02)
    body = data[element[2] : element[3]]
    if not body or (len(body) > 1 and body[0] in (0, 0xFF) and (body[0] ^ body[1]) & 0x80 == 0):
        raise _NotFast("empty or non-minimal integer")
    return int.from_bytes(body, "big", signed=True)


def _oid(data: bytes, element: _Tlv) -> str:
    _expect(element, 0x06)
    return _dotted(data[element[2] : element[3]])


@functools.lru_cache(maxsize=1024)
def _dotted(body: bytes) -> str:
    """An OBJECT IDENTIFIER's contents as dotted text (cached: every token has the same)."""
    if not body or body[-1] & 0x80:
        raise _NotFast("bad object identifier")
    arcs: list[int] = []
    value = 0
    for i, b in enumerate(body):
        if value == 0 and b == 0x80 and (i == 0 or not body[i - 1] & 0x80):
            raise _NotFast("non-minimal arc")
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            arcs.append(value)
            value = 0
    first = arcs[0]
    head = [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
    return ".".join(map(str, head + arcs[1:]))


def _octets(data: bytes, element: _Tlv) -> bytes:
    _expect(element, 0x04)
    return data[element[2] : element[3]]


def _raw(data: bytes, element: _Tlv) -> bytes:
    return data[element[1] : element[3]]


def _algorithm(data: bytes, element: _Tlv) -> str:
    """The OID of an AlgorithmIdentifier (its parameters, if any, are not read)."""
    kids = _children(data, _expect(element, 0x30))
    if not 1 <= len(kids) <= 2:
        raise _NotFast("bad algorithm identifier")
    return _oid(data, kids[0])


def _digest_name(oid: str) -> str:
    name = _DIGESTS.get(oid)
    if name is None:
        raise _NotFast(f"digest algorithm {oid}")
    return name


def split(data: bytes) -> bytes:
    """The bare token's DER, from a bare token or a granted TimeStampResp of the form
    :func:`~evidence.core.tokenread._wrap` writes (status only)."""
    whole = _tlv(data, 0, len(data))
    if whole[0] != 0x30 or whole[3] != len(data):
        raise _NotFast("not one SEQUENCE")
    kids = _children(data, whole)
    if kids and kids[0][0] == 0x06:
        if _oid(data, kids[0]) != _SIGNED_DATA:
            raise _NotFast("not a SignedData ContentInfo")
        return data
    if len(kids) != 2:
        raise _NotFast("not a bare token nor a response with a token")
    status = _fields(data, _expect(kids[0], 0x30), 0x02)
    if _int(data, status[0]) not in (0, 1):
        raise _NotFast("not granted")
    return _raw(data, _expect(kids[1], 0x30))


@dataclass(frozen=True)
class Attribute:
    """A signed attribute: its type and the DER elements of its values."""

    type: str
    values: tuple[_Tlv, ...]


@dataclass(frozen=True)
class FastToken:
    """What the checks read of a token, found by walking its DER once."""

    data: bytes
    """The bare token (the element positions below are into it)."""
    info: TokenInfo
    econtent: bytes
    """The encapsulated TSTInfo, as signed."""
    certificates: tuple[bytes, ...]
    """DER of the certificates it carries."""
    version: int
    digest_algorithms: tuple[str, ...]
    signer_version: int
    sid_issuer: bytes
    sid_serial: int
    digest_oid: str
    signed_bytes: bytes
    """The signed attributes as the SET OF that is signed."""
    attributes: tuple[Attribute, ...]
    signature_oid: str
    signature: bytes

    # -- the three checks of :func:`evidence.core.tokens._token_checks` that read the CMS ---
    def find_signer(self, pool: Iterable[_Cert]) -> _Cert | None:
        """The signer's certificate among ``pool`` (the first with its serial and issuer)."""
        for cert in pool:
            if cert.crypto.serial_number == self.sid_serial:
                if _issuer_der(cert.der) != self.sid_issuer:
                    raise _NotFast("the same serial under an issuer spelt otherwise")
                return cert
        return None

    def ess_problem(self, cert: _Cert) -> str | None:
        """Does the (first) ESS signing-certificate(-v2) attribute name ``cert``?"""
        d = self.data
        for attr in self.attributes:
            if attr.type not in (_SIGNING_CERTIFICATE, _SIGNING_CERTIFICATE_V2):
                continue
            if not attr.values:
                raise _NotFast("an attribute without values")
            certs = _children(d, _expect(_children(d, _expect(attr.values[0], 0x30))[0], 0x30))
            ess = _children(d, _expect(certs[0], 0x30))
            if attr.type == _SIGNING_CERTIFICATE_V2 and ess[0][0] == 0x30:
                hash_name, cert_hash = _digest_name(_algorithm(d, ess[0])), _octets(d, ess[1])
            else:
                hash_name, cert_hash = (
                    "sha256" if attr.type == _SIGNING_CERTIFICATE_V2 else "sha1",
                    _octets(d, ess[0]),
                )
            if cert_hash != _cert_hash(hash_name, cert.der):
                return "the ESS signing-certificate attribute names another certificate"
            return None
        return "no ESS signing-certificate attribute binds the signer certificate"

    def signature_problem(self, cert: _Cert) -> str | None:
        """The CMS signature over the signed attributes, and the content digest in them."""
        digest_name = _digest_name(self.digest_oid)
        if digest_name not in _HASHES:
            raise _NotFast(f"digest {digest_name}")
        if {_digest_name(o) for o in self.digest_algorithms} != {digest_name}:
            return "SignedData digestAlgorithms does not match the signer's"
        if self.version != 3 or self.signer_version not in (1, 3):
            return "unexpected SignedData/SignerInfo version"
        if not self.attributes:
            return "no signed attributes"
        values = {a.type: a.values for a in self.attributes}  # the last of a type, as before
        content_type = values.get(_CONTENT_TYPE)
        if content_type is None or _first_oid(self.data, content_type) != _TST_INFO:
            return "content-type attribute is not id-ct-TSTInfo"
        digest = values.get(_MESSAGE_DIGEST)
        if digest is None:
            return "no message-digest attribute"
        if not digest:
            raise _NotFast("a message-digest attribute without a value")
        if _octets(self.data, digest[0]) != hashlib.new(digest_name, self.econtent).digest():
            return "the TSTInfo does not match the signed message digest"
        hash_name = _ECDSA.get(self.signature_oid)
        if hash_name is None:
            raise _NotFast(f"signature algorithm {self.signature_oid}")
        key = cert.crypto.public_key()
        if not isinstance(key, ec.EllipticCurvePublicKey):
            return "signature algorithm ecdsa does not fit the certificate's key"
        try:
            key.verify(self.signature, self.signed_bytes, ec.ECDSA(_HASHES[hash_name]()))
        except (InvalidSignature, KeyError, ValueError) as exc:
            return f"signature does not verify ({type(exc).__name__})"
        return None


def _first_oid(data: bytes, values: tuple[_Tlv, ...]) -> str:
    if not values:
        raise _NotFast("an attribute without values")
    return _oid(data, values[0])


@functools.lru_cache(maxsize=256)
def _issuer_der(cert_der: bytes) -> bytes:
    """The DER of a certificate's issuer Name (every token of a TSA names the same)."""
    cert = _expect(_tlv(cert_der, 0, len(cert_der)), 0x30)
    tbs = _children(cert_der, _expect(_children(cert_der, cert)[0], 0x30))
    at = 1 if tbs[0][0] == 0xA0 else 0  # [0] EXPLICIT version, then serial and signature
    return _raw(cert_der, _expect(tbs[at + 2], 0x30))


def read(token: bytes) -> FastToken:
    """Every part of a bare token the checks read; :class:`_NotFast` when it is not of the
    kind this reader knows for certain."""
    d = token
    whole = _tlv(d, 0, len(d))
    oid, content = _fields(d, whole, 0x06, 0xA0)
    if whole[0] != 0x30 or whole[3] != len(d) or _oid(d, oid) != _SIGNED_DATA:
        raise _NotFast("not a SignedData ContentInfo")
    (sd,) = _fields(d, content, 0x30)
    kids = _children(d, sd)
    tags = [k[0] for k in kids]
    if tags not in ([0x02, 0x31, 0x30, 0xA0, 0x31], [0x02, 0x31, 0x30, 0x31]):
        raise _NotFast("a SignedData of another shape")
    version = _int(d, kids[0])
    digest_algorithms = tuple(_algorithm(d, a) for a in _children(d, kids[1]))
    etype, econtent_wrap = _fields(d, kids[2], 0x06, 0xA0)
    if _oid(d, etype) != _TST_INFO:
        raise _NotFast("not a TSTInfo")
    econtent = _octets(d, _fields(d, econtent_wrap, 0x04)[0])
    certificates: tuple[bytes, ...] = ()
    if len(kids) == 5:
        certificates = tuple(_raw(d, _expect(c, 0x30)) for c in _children(d, kids[3]))
    signers = _children(d, kids[-1])
    if len(signers) != 1:
        raise _NotFast("not one signer")
    si = _children(d, _expect(signers[0], 0x30))
    if [k[0] for k in si] not in (_SIGNER_SHAPE, [*_SIGNER_SHAPE, 0xA1]):
        raise _NotFast("a SignerInfo of another shape")
    issuer, serial = _fields(d, si[1], 0x30, 0x02)
    attributes = []
    for attr in _children(d, si[3]):
        atype, values = _fields(d, _expect(attr, 0x30), 0x06, 0x31)
        attributes.append(Attribute(_oid(d, atype), tuple(_children(d, values))))
    return FastToken(
        data=d,
        info=_info(econtent),
        econtent=econtent,
        certificates=certificates,
        version=version,
        digest_algorithms=digest_algorithms,
        signer_version=_int(d, si[0]),
        sid_issuer=_raw(d, issuer),
        sid_serial=_int(d, serial),
        digest_oid=_algorithm(d, si[2]),
        signed_bytes=b"\x31" + _raw(d, si[3])[1:],
        attributes=tuple(attributes),
        signature_oid=_algorithm(d, si[4]),
        signature=_octets(d, si[5]),
    )


def _info(tst: bytes) -> TokenInfo:
    """What a TSTInfo says (:func:`evidence.core.tokenread._read_info`'s reading of it)."""
    whole = _tlv(tst, 0, len(tst))
    if whole[0] != 0x30 or whole[3] != len(tst):
        raise _NotFast("not one TSTInfo")
    kids = _children(tst, whole)
    if len(kids) < 5:
        raise _NotFast("a TSTInfo without its fields")
    _int(tst, kids[0])
    policy = _oid(tst, kids[1])
    algorithm, hashed = _fields(tst, _expect(kids[2], 0x30), 0x30, 0x04)
    serial = _int(tst, kids[3])
    gen_time = _time(tst, _expect(kids[4], 0x18))
    accuracy = nonce = tsa_name = None
    rest = kids[5:]
    if rest and rest[0][0] == 0x30:
        accuracy = _accuracy(tst, rest.pop(0))
    if rest and rest[0][0] == 0x01:
        ordering = rest.pop(0)
        if ordering[3] - ordering[2] != 1:
            raise _NotFast("a BOOLEAN of another length")
    if rest and rest[0][0] == 0x02:
        nonce = _int(tst, rest.pop(0))
    if rest and rest[0][0] == 0xA0:
        (general,) = _fields(tst, rest.pop(0), 0xA4)
        (name,) = _fields(tst, general, 0x30)
        tsa_name = name_text(_raw(tst, name))
    if rest and rest[0][0] == 0xA1:
        rest.pop(0)
    if rest:
        raise _NotFast("a TSTInfo of another shape")
    return TokenInfo(
        gen_time=gen_time,
        serial=serial,
        tsa_name=tsa_name,
        policy=policy,
        hash_name=_digest_name(_algorithm(tst, algorithm)),
        imprint=_octets(tst, hashed),
        nonce=nonce,
        accuracy=accuracy,
    )


@functools.lru_cache(maxsize=64)
def name_text(name_der: bytes) -> str:
    """A DER Name as text (``Common Name: ..., Organization: ...``), as
    :func:`evidence.core.tokenread._name_text` (asn1crypto's ``human_friendly``) writes it;
    by that function for a name of other attributes or strings. Cached: one per TSA."""
    try:
        return _name_text_fast(name_der)
    except (_NotFast, ValueError):  # (a bad UTF-8 string, a pair not of two)
        return _name_text(name_der)


def _name_text_fast(der: bytes) -> str:
    whole = _expect(_tlv(der, 0, len(der)), 0x30)
    if whole[3] != len(der):
        raise _NotFast("not one Name")
    fields: dict[str, str] = {}
    last = None
    for rdn in _children(der, whole):
        for pair in _children(der, _expect(rdn, 0x31)):
            kind, value = _children(der, _expect(pair, 0x30))
            field = _NAME_FIELDS.get(_oid(der, kind))
            encoding = _NAME_STRINGS.get(value[0])
            if field is None or encoding is None or field in fields:
                raise _NotFast("a name of other attributes, strings or repeats")
            fields[field] = der[value[2] : value[3]].decode(encoding)
            last = field
    keys = list(fields)
    if last == "Country":
        keys.reverse()
    parts = [f"{k}: {fields[k]}" for k in keys]
    separator = "; " if any("," in p for p in parts) else ", "
    return separator.join(parts[::-1])


def _time(data: bytes, element: _Tlv) -> dt.datetime:
    m = _GENERALIZED_TIME.fullmatch(data[element[2] : element[3]])
    if m is None or m[1] == b"0000":
        raise _NotFast("a time of another form")
    y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
    micro = int(m[7].ljust(6, b"0")) if m[7] else 0
    return dt.datetime(y, mo, d, h, mi, s, micro, tzinfo=dt.UTC)


def _accuracy(data: bytes, element: _Tlv) -> dt.timedelta:
    parts = {0x02: 0, 0x80: 0, 0x81: 0}
    last = -1
    for kid in _children(data, element):
        order = (0x02, 0x80, 0x81).index(kid[0]) if kid[0] in parts else -1
        if order <= last:
            raise _NotFast("an accuracy of another shape")
        last = order
        parts[kid[0]] = _int(data, (0x02, *kid[1:]))
    return dt.timedelta(seconds=parts[0x02], milliseconds=parts[0x80], microseconds=parts[0x81])

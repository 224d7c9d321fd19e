"""Reading RFC 3161 time-stamp tokens without verifying them: what a token says
(:class:`TokenInfo`), the bare token inside a TimeStampResp and back, and requests.

Pure: bytes in, values out. Verification is :mod:`evidence.core.tokens`, which re-exports
everything public here.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import rfc3161_client
from cryptography import x509

from base.errors import DalelError

if TYPE_CHECKING:  # asn1crypto loads when a token needs it: the fast reader reads most
    from asn1crypto import cms, tsp

#: Hash algorithms accepted in a request's message imprint, with their digest lengths.
HASH_LENGTHS = {"sha256": 32, "sha384": 48, "sha512": 64}


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


class MalformedTokenError(DalelError):
    """Bytes that are not an RFC 3161 token or granted response (exit code 1)."""


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
    from asn1crypto import cms, core

    from evidence.core.rfc3161 import TimeStampResp

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
    from asn1crypto import tsp

    encap = token["content"]["encap_content_info"]
    if encap["content_type"].native != "tst_info":
        raise ValueError("encapsulated content is not a TSTInfo")
    return tsp.TSTInfo.load(encap["content"].contents, strict=True)


@functools.lru_cache(maxsize=64)
def _name_text(name_der: bytes) -> str:
    """A DER Name as text (``Common Name: ..., Organization: ...``); cached per TSA."""
    from asn1crypto import x509 as asn1_x509

    return str(asn1_x509.Name.load(name_der).human_friendly)


_HASH_NAMES = {
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
    "1.3.14.3.2.26": "sha1",
}


def _read_info(tst: tsp.TSTInfo) -> TokenInfo:
    """TokenInfo from asn1crypto's TSTInfo (lenient: reads BER too)."""
    from asn1crypto import core, parser

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
    from asn1crypto import tsp
    from rfc3161_client import _rust

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

"""The fast token reader (evidence.core.tokenfast) gives the verdict the asn1crypto path
gives, on good tokens, on every kind of bad one and on every byte of a token flipped; and it
is the one that reads the tokens a TSA of ours writes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from evidence.core import tokenfast, tokenread, tokens
from evidence.timestamping.tsa import LocalTSA
from tests.evidence.test_timestamps import DAY, NOW, memory_tsa, sha, token_for


@pytest.fixture(scope="module")
def tsa() -> LocalTSA:
    return memory_tsa()


def _slow(*args: Any, **kw: Any) -> tokens.TokenVerdict:
    raise tokenfast._NotFast("asked for the asn1crypto path")


def _seen(v: tokens.TokenVerdict) -> tuple[Any, ...]:
    return (
        v.info,
        v.checks,
        v.final,
        v.carried,
        tuple(c.der for c in v.chain),
        v.token,
        v.digest,
        v.nonce,
    )


def both(
    monkeypatch: pytest.MonkeyPatch, token: bytes, tsa: LocalTSA, data: bytes = b"x", **kw: Any
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """The verdict through the fast reader (when it takes the token) and through asn1crypto."""
    kw.setdefault("trusted_roots", [tsa.root_certificate])
    kw.setdefault("expected_digest", sha(data))
    fast = tokens.token_verdict(token, **kw)
    with monkeypatch.context() as m:
        m.setattr(tokens, "_fast_verdict", _slow)
        slow = tokens.token_verdict(token, **kw)
    return _seen(fast), _seen(slow)


def test_the_tokens_of_our_tsa_are_read_by_the_fast_reader(tsa, monkeypatch):
    """No asn1crypto reading at all for a token our TSA wrote (bare or in a response)."""
    for token in (token_for(tsa, b"x", nonce=7), tsa.timestamp(sha(b"x"))):
        fast = tokenfast.read(tokenfast.split(token))
        assert fast.info == tokens.read_token(token)
        with monkeypatch.context() as m:
            m.setattr(tokens, "_split", _slow)  # the asn1crypto path would fail
            report = tokens.verify_token(
                token, expected_digest=sha(b"x"), trusted_roots=[tsa.root_certificate]
            )
        assert report.ok, report.reasons


@pytest.mark.parametrize("hash_name", ["sha256", "sha384", "sha512"])
def test_a_good_token_gets_the_same_verdict(tsa, monkeypatch, hash_name):
    digest = {"sha256": sha(b"x")}.get(hash_name)
    if digest is None:
        h = hashes.SHA384() if hash_name == "sha384" else hashes.SHA512()
        ctx = hashes.Hash(h)
        ctx.update(b"x")
        digest = ctx.finalize()
    token = tokens.token_from_response(tsa.timestamp(digest, hash_name=hash_name, nonce=3))
    fast, slow = both(monkeypatch, token, tsa, expected_digest=digest, expected_nonce=3)
    assert fast == slow and all(c.passed or c.status.value == "SKIPPED" for c in fast[1])


def test_every_kind_of_bad_token_gets_the_same_verdict(tsa, monkeypatch):
    token = token_for(tsa, b"x", nonce=10)
    bare = token_for(tsa, b"x", cert_req=False)
    rogue = memory_tsa("Rogue")
    expired = memory_tsa(not_before=NOW - 900 * DAY, not_after=NOW - 500 * DAY)
    root_key = ec.generate_private_key(ec.SECP256R1())
    impostor = (
        x509.CertificateBuilder()
        .subject_name(tsa.certificate.subject)
        .issuer_name(tsa.root_certificate.subject)
        .public_key(root_key.public_key())
        .serial_number(tsa.certificate.serial_number)
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + DAY)
        .sign(root_key, hashes.SHA256())
    )
    cases: list[tuple[bytes, LocalTSA, dict[str, Any]]] = [
        (token, tsa, {"expected_digest": sha(b"y")}),
        (token, tsa, {"expected_nonce": 11}),
        (token, tsa, {"expected_policy": "1.2.3"}),
        (token, tsa, {"trusted_roots": []}),
        (token, tsa, {"certificates": [tsa.certificate]}),
        (tokens.response_from_token(token), tsa, {}),
        (bare, tsa, {}),
        (bare, tsa, {"certificates": [tsa.certificate]}),
        (bare, tsa, {"certificates": [impostor]}),
        (bare, tsa, {"certificates": [impostor, tsa.certificate]}),
        (token_for(rogue, b"x"), tsa, {}),
        (token_for(expired, b"x"), expired, {}),
        (b"", tsa, {}),
        (b"\x30\x80\x00\x00", tsa, {}),
        (token + b"\x00", tsa, {}),
        (token[:-1], tsa, {}),
    ]
    for bad, which, kw in cases:
        fast, slow = both(monkeypatch, bad, which, **kw)
        assert fast == slow, (kw, fast[1], slow[1])


@pytest.mark.parametrize("mask", [0x01, 0x80, 0xFF])
def test_every_byte_flipped_gets_the_same_verdict(tsa, monkeypatch, mask):
    """Whatever byte is altered, the two readers agree on every check and its message (the
    fast one gives way where it is not certain)."""
    token = token_for(tsa, b"stored item", nonce=99)
    for i in range(len(token)):
        flipped = bytearray(token)
        flipped[i] ^= mask
        fast, slow = both(monkeypatch, bytes(flipped), tsa, b"stored item", expected_nonce=99)
        assert fast == slow, (i, fast[1], slow[1])


def test_times_and_accuracies_are_read_alike():
    """genTime with a fraction of a second, other accuracies: the same TokenInfo."""
    from asn1crypto import core, tsp

    for when, accuracy in (
        (dt.datetime(2026, 3, 1, 8, 0, 5, 120000, tzinfo=dt.UTC), {"millis": 500}),
        (dt.datetime(2026, 3, 1, 8, 0, 5, 1, tzinfo=dt.UTC), {"seconds": 2, "micros": 7}),
        (dt.datetime(2026, 3, 1, 8, 0, 5, tzinfo=dt.UTC), None),
    ):
        fields: dict[str, Any] = {} if accuracy is None else {"accuracy": accuracy}
        tst = tsp.TSTInfo(
            {
                **fields,
                "version": "v1",
                "policy": "1.2.3.4",
                "message_imprint": {
                    "hash_algorithm": {"algorithm": "sha256"},
                    "hashed_message": b"\x01" * 32,
                },
                "serial_number": 5,
                "gen_time": core.GeneralizedTime(when),
                "nonce": 12345678901234567890,
            }
        ).dump()
        assert tokenfast._info(tst) == tokens._read_info(tsp.TSTInfo.load(tst))


def _name(*pairs: tuple[Any, str, Any]) -> bytes:
    rdns = [
        x509.RelativeDistinguishedName(
            [x509.NameAttribute(oid, value, _type) if _type else x509.NameAttribute(oid, value)]
        )
        for oid, value, _type in pairs
    ]
    return x509.Name(rdns).public_bytes()


@pytest.mark.parametrize(
    "pairs",
    [
        [(NameOID.ORGANIZATION_NAME, "Dalel", None), (NameOID.COMMON_NAME, "Dalel TSA: x", None)],
        [(NameOID.COUNTRY_NAME, "KZ", None), (NameOID.COMMON_NAME, "Қазақстан ТСА", None)],
        [(NameOID.COMMON_NAME, "TSA", None), (NameOID.COUNTRY_NAME, "KZ", None)],
        [(NameOID.COMMON_NAME, "Acme, Inc.", None), (NameOID.LOCALITY_NAME, "Almaty", None)],
        [
            (NameOID.ORGANIZATIONAL_UNIT_NAME, "Unit", None),
            (NameOID.STATE_OR_PROVINCE_NAME, "Astana", None),
            (NameOID.STREET_ADDRESS, "1 Main St", None),
        ],
        [(NameOID.COMMON_NAME, "printable", x509.name._ASN1Type.PrintableString)],
        [(NameOID.COMMON_NAME, "a", None), (NameOID.COMMON_NAME, "b", None)],  # repeated
        [(NameOID.EMAIL_ADDRESS, "tsa@example.kz", None), (NameOID.COMMON_NAME, "TSA", None)],
        [(NameOID.COMMON_NAME, "teletex", x509.name._ASN1Type.T61String)],
        [],
    ],
)
def test_a_tsa_name_is_spelt_as_asn1crypto_spells_it(pairs):
    der = _name(*pairs)
    tokenfast.name_text.cache_clear()
    assert tokenfast.name_text(der) == tokenread._name_text(der)


def test_a_name_with_a_multi_valued_rdn_is_spelt_alike():
    rdn = x509.RelativeDistinguishedName(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "TSA"),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "KZ"),
        ]
    )
    der = x509.Name([rdn]).public_bytes()
    assert tokenfast.name_text(der) == tokenread._name_text(der)

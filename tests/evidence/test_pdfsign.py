"""Organization identity, PAdES B-T signing, and verification of signed dossiers.

Real pieces only: keys made here, pyHanko's DummyTimeStamper as a real RFC 3161 TSA,
WeasyPrint for the PDF, poppler's pdfsig for an independent opinion.
"""

from __future__ import annotations

import hashlib
import stat
import subprocess
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path

import pytest
import weasyprint
from asn1crypto import keys as asn1_keys
from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

from evidence.pdf.sign import (
    EXHIBIT_DEST_PREFIX,
    MANIFEST_NAME,
    CallableTimeStamper,
    IdentityExists,
    IdentityMissing,
    Pkcs12Unreadable,
    TimestampFailed,
    WrongPassword,
    create_org_identity,
    load_org_identity,
    load_pkcs12_identity,
    make_manifest,
    read_pkcs12_file,
    sign_pdf,
    tsa_callable_from_timestamper,
)
from evidence.pdf.verify import (
    DossierVerificationFailed,
    Reason,
    Status,
    verify_dossier,
    verify_or_raise,
)

ORIGINAL = b"\xff\xd8\xff\xe0 original photo bytes \x00\x01\x02" * 50
ORIGINAL_SHA = hashlib.sha256(ORIGINAL).hexdigest()


def _self_signed(name: str, *, tsa: bool = False) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
    )
    if tsa:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
        )
    else:
        builder = builder.add_extension(
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
    return key, builder.sign(key, hashes.SHA256())


class Tsa:
    """A real RFC 3161 TSA (pyHanko's DummyTimeStamper with a key made here)."""

    def __init__(self) -> None:
        key, cert = _self_signed("Test TSA", tsa=True)
        self.cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        self.dummy = DummyTimeStamper(
            tsa_cert=asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)),
            tsa_key=asn1_keys.PrivateKeyInfo.load(
                key.private_bytes(
                    serialization.Encoding.DER,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            ),
        )
        self.calls = 0

    def __call__(self, digest: bytes) -> bytes:
        self.calls += 1
        req = tsp.TimeStampReq(
            {
                "version": 1,
                "cert_req": True,
                "message_imprint": {
                    "hash_algorithm": {"algorithm": "sha256"},
                    "hashed_message": digest,
                },
            }
        )
        return bytes(self.dummy.request_tsa_response(req).dump())


def _dossier_like_pdf(*, listed_sha: str = ORIGINAL_SHA, printed_sha: str = ORIGINAL_SHA) -> bytes:
    manifest = make_manifest(
        case_id="C-1",
        edition="court",
        language="ru",
        exhibits=[
            {
                "index": 1,
                "sha256": listed_sha,
                "original_name": "IMG_1.jpg",
                "media_type": "image/jpeg",
                "size": len(ORIGINAL),
                "attachment": "E01-IMG_1.jpg",
            }
        ],
    )
    html = (
        f'<html lang="kk"><body><h1>Шағым әғқңөұүһі</h1>'
        f'<a href="#{EXHIBIT_DEST_PREFIX}{printed_sha}">1-қосымша</a>'
        f'<section id="{EXHIBIT_DEST_PREFIX}{printed_sha}"><h2>1</h2></section></body></html>'
    )
    return bytes(
        weasyprint.HTML(string=html).write_pdf(
            pdf_variant="pdf/a-3b",
            attachments=[
                weasyprint.Attachment(string=ORIGINAL, name="E01-IMG_1.jpg", relationship="Source"),
                weasyprint.Attachment(string=manifest, name=MANIFEST_NAME, relationship="Data"),
            ],
        )
    )


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("store")
    create_org_identity(base / "keys", base / "public", "«Адал сайлау» қоғамдық бірлестігі")
    return base / "keys", base / "public"


@pytest.fixture(scope="module")
def tsa() -> Tsa:
    return Tsa()


@pytest.fixture(scope="module")
def trust(org: tuple[Path, Path]) -> list[bytes]:
    return [(org[1] / "org-ca-cert.pem").read_bytes()]


@pytest.fixture(scope="module")
def signed(org: tuple[Path, Path], tsa: Tsa) -> bytes:
    identity = load_org_identity(*org)
    return sign_pdf(_dossier_like_pdf(), identity, CallableTimeStamper(tsa), reason="test")


def _verify(pdf: bytes, trust: list[bytes], tsa: Tsa, **kw: object):  # type: ignore[no-untyped-def]
    return verify_dossier(pdf, trust, tsa_certs=[tsa.cert_pem], **kw)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- identity


def test_org_identity_files_permissions_and_chain(org: tuple[Path, Path]) -> None:
    keys_dir, public_dir = org
    for name in ("org-signing-key.pem", "org-ca-key.pem"):
        assert stat.S_IMODE((keys_dir / name).stat().st_mode) == 0o600
    ca = x509.load_pem_x509_certificate((public_dir / "org-ca-cert.pem").read_bytes())
    leaf = x509.load_pem_x509_certificate((public_dir / "org-signing-cert.pem").read_bytes())
    leaf.verify_directly_issued_by(ca)
    assert "Адал сайлау" in leaf.subject.rfc4514_string()
    assert leaf.extensions.get_extension_for_class(x509.KeyUsage).value.content_commitment
    assert not (public_dir / "org-signing-key.pem").exists()


def test_org_identity_is_never_overwritten(org: tuple[Path, Path]) -> None:
    before = (org[0] / "org-signing-key.pem").read_bytes()
    with pytest.raises(IdentityExists) as err:
        create_org_identity(org[0], org[1], "Other")
    assert err.value.exit_code == 2
    assert (org[0] / "org-signing-key.pem").read_bytes() == before


def test_missing_identity_says_run_init(tmp_path: Path) -> None:
    with pytest.raises(IdentityMissing, match="dalel init") as err:
        load_org_identity(tmp_path / "keys", tmp_path / "public")
    assert err.value.exit_code == 4


# --------------------------------------------------------------------------- signing


def test_signed_dossier_passes_every_check(signed: bytes, trust: list[bytes], tsa: Tsa) -> None:
    report = _verify(signed, trust, tsa, known_hashes=[ORIGINAL_SHA])
    assert report.ok, report.failures
    names = {c.check for c in report.checks}
    assert {
        "signature",
        "signature.signer",
        "signature.timestamp",
        "coverage",
        "manifest",
        "attachment:E01-IMG_1.jpg",
        "exhibit-list",
        f"known:{ORIGINAL_SHA}",
    } <= names
    assert "Адал сайлау" in report.signer
    assert report.signed_at is not None
    assert abs(report.signed_at - datetime.now(UTC)) < timedelta(minutes=10)
    assert report.exit_code == 0
    assert verify_or_raise(signed, trust, tsa_certs=[tsa.cert_pem]).ok


def test_the_org_key_is_loaded_once_not_for_each_signature(
    org: tuple[Path, Path], tsa: Tsa, trust: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Speed: pyHanko's SimpleSigner loads the key from DER for every signature it makes
    (about 0.13 s for the 3072-bit RSA key, three times a dossier); ours signs with the key
    loaded with the identity, and the signature still verifies."""
    from pyhanko.sign import signers

    identity = load_org_identity(*org)

    def reloads(self: object, data: bytes, digest_algorithm: str) -> bytes:
        raise AssertionError("the key was loaded again to sign")

    monkeypatch.setattr(signers.SimpleSigner, "sign_raw", reloads)
    pdf = sign_pdf(_dossier_like_pdf(), identity, CallableTimeStamper(tsa), reason="test")
    monkeypatch.undo()
    report = _verify(pdf, trust, tsa, known_hashes=[ORIGINAL_SHA])
    assert report.ok, report.failures


def test_pdfsig_calls_the_signature_valid_and_whole(signed: bytes, tmp_path: Path) -> None:
    path = tmp_path / "signed.pdf"
    path.write_bytes(signed)
    out = subprocess.run(
        ["pdfsig", str(path)], check=False, capture_output=True, text=True, timeout=60
    )
    assert "Signature is Valid." in out.stdout, out.stdout
    assert "Total document signed" in out.stdout, out.stdout
    assert "ETSI.CAdES.detached" in out.stdout  # PAdES


def test_signature_carries_an_rfc3161_timestamp_from_the_callable(
    org: tuple[Path, Path], trust: list[bytes]
) -> None:
    fresh = Tsa()
    pdf = sign_pdf(_dossier_like_pdf(), load_org_identity(*org), CallableTimeStamper(fresh))
    assert fresh.calls >= 1
    report = verify_dossier(pdf, trust, tsa_certs=[fresh.cert_pem])
    assert report.ok, report.failures


def test_unknown_tsa_and_unknown_signer_are_named(
    signed: bytes, trust: list[bytes], tsa: Tsa
) -> None:
    other_tsa = Tsa()
    report = verify_dossier(signed, trust, tsa_certs=[other_tsa.cert_pem])
    assert report.reasons == {Reason.TSA_UNTRUSTED}
    _, stranger = _self_signed("Stranger CA")
    report = verify_dossier(
        signed, [stranger.public_bytes(serialization.Encoding.PEM)], tsa_certs=[tsa.cert_pem]
    )
    assert report.reasons == {Reason.SIGNER_UNTRUSTED}


def test_tsa_failures_are_clear_errors(org: tuple[Path, Path], tmp_path: Path) -> None:
    identity = load_org_identity(*org)

    def broken(digest: bytes) -> bytes:
        raise ConnectionError("TSA unreachable")

    with pytest.raises(TimestampFailed) as err:
        sign_pdf(_dossier_like_pdf(), identity, CallableTimeStamper(broken))
    assert err.value.exit_code == 4

    good = Tsa()

    def wrong_digest(digest: bytes) -> bytes:
        return good(hashlib.sha256(b"something else").digest())

    with pytest.raises(TimestampFailed, match="different digest"):
        sign_pdf(_dossier_like_pdf(), identity, CallableTimeStamper(wrong_digest))


def test_any_pyhanko_timestamper_can_serve_as_the_callable(tsa: Tsa) -> None:
    call = tsa_callable_from_timestamper(tsa.dummy)
    digest = hashlib.sha256(b"x").digest()
    resp = tsp.TimeStampResp.load(call(digest))
    assert resp["status"]["status"].native == "granted"
    imprint = resp["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed[
        "message_imprint"
    ]
    assert imprint["hashed_message"].native == digest


# --------------------------------------------------------------------------- PKCS#12


def _p12(password: bytes | None) -> tuple[bytes, x509.Certificate]:
    key, cert = _self_signed("Сарсенбаева Айгуль (НУЦ РК test)")
    enc = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return pkcs12.serialize_key_and_certificates(b"signer", key, cert, None, enc), cert


def test_pkcs12_signing_verifies_with_its_certificate(tsa: Tsa, tmp_path: Path) -> None:
    data, cert = _p12(b"s3cret")
    path = tmp_path / "national.p12"
    path.write_bytes(data)
    identity = read_pkcs12_file(path, "s3cret")
    pdf = sign_pdf(_dossier_like_pdf(), identity, CallableTimeStamper(tsa))
    report = verify_dossier(
        pdf, [cert.public_bytes(serialization.Encoding.PEM)], tsa_certs=[tsa.cert_pem]
    )
    assert report.ok, report.failures
    assert "Сарсенбаева" in report.signer


def test_wrong_password_and_unreadable_pkcs12_are_distinct(tmp_path: Path) -> None:
    data, _ = _p12(b"right")
    with pytest.raises(WrongPassword) as err:
        load_pkcs12_identity(data, "wrong")
    assert err.value.exit_code == 2
    with pytest.raises(Pkcs12Unreadable, match="not a PKCS#12"):
        load_pkcs12_identity(b"-----BEGIN CERTIFICATE-----\ngarbage", "right")
    with pytest.raises(Pkcs12Unreadable, match="cannot read"):
        read_pkcs12_file(tmp_path / "absent.p12", "right")


# --------------------------------------------------------------------------- tampering


def _contents_span(pdf: bytes) -> tuple[int, int]:
    start = pdf.rindex(b"/Contents <") + len(b"/Contents <")
    return start, pdf.index(b">", start)


@pytest.mark.parametrize(
    "where", [0.02, 0.2, 0.4, 0.6, 0.8, 0.97, "contents-der", "contents-padding", "last"]
)
def test_a_byte_changed_anywhere_is_caught(
    signed: bytes, trust: list[bytes], tsa: Tsa, where: object
) -> None:
    data = bytearray(signed)
    start, end = _contents_span(signed)
    if where == "contents-der":
        pos = start + 200
    elif where == "contents-padding":
        pos = end - 10
        assert data[pos : pos + 1] == b"0"
    elif where == "last":
        pos = len(data) - 2
    else:
        pos = int(len(data) * float(where))  # type: ignore[arg-type]
    original = data[pos]
    data[pos] = (
        ord("1")
        if original == ord("0")
        else (ord("0") if chr(original) in "0123456789abcdefABCDEF" else original ^ 0x01)
    )
    report = _verify(bytes(data), trust, tsa)
    assert not report.ok
    assert report.exit_code == 1
    assert report.reasons <= {
        Reason.SIGNATURE_INVALID,
        Reason.SIGNATURE_CONTENTS_ALTERED,
        Reason.PDF_UNREADABLE,
        Reason.NO_SIGNATURE,
        Reason.TIMESTAMP_INVALID,
        Reason.SIGNER_UNTRUSTED,
        Reason.UPDATED_AFTER_SIGNING,
        Reason.HASH_MISMATCH,
        Reason.MANIFEST_INVALID,
        Reason.MANIFEST_MISSING,
        Reason.EXHIBIT_LIST_MISMATCH,
    }, report.failures
    with pytest.raises(DossierVerificationFailed) as err:
        verify_or_raise(bytes(data), trust, tsa_certs=[tsa.cert_pem])
    assert err.value.exit_code == 1


@pytest.mark.slow
def test_a_byte_changed_anywhere_in_the_signature_structure_is_caught(
    signed: bytes, trust: list[bytes], tsa: Tsa
) -> None:
    """The CMS carries parts the signature does not cover (certificates, versions,
    digestAlgorithms, lengths); a sweep over it finds no change that still verifies."""
    start, end = _contents_span(signed)
    der_hex_len = 2 * (len(bytes.fromhex(signed[start:end].decode()).rstrip(b"\x00")) + 1)
    missed = []
    for offset in range(0, der_hex_len, 263):
        data = bytearray(signed)
        pos = start + offset
        data[pos] = ord("1") if data[pos] != ord("1") else ord("2")
        if _verify(bytes(data), trust, tsa).ok:
            missed.append(offset)
    assert der_hex_len > 4000
    assert missed == []


def test_padding_byte_in_signature_contents_is_named(
    signed: bytes, trust: list[bytes], tsa: Tsa
) -> None:
    data = bytearray(signed)
    _, end = _contents_span(signed)
    data[end - 4] = ord("7")
    report = _verify(bytes(data), trust, tsa)
    assert Reason.SIGNATURE_CONTENTS_ALTERED in report.reasons


def test_a_length_stretched_over_the_padding_is_named(
    signed: bytes, trust: list[bytes], tsa: Tsa
) -> None:
    start, _ = _contents_span(signed)
    header = signed[start : start + 8].decode()
    assert header.startswith("3082")  # SEQUENCE with a two-byte length
    longer = f"3082{int(header[4:8], 16) + 16:04x}".encode()
    data = signed[:start] + longer + signed[start + 8 :]
    report = _verify(data, trust, tsa)
    assert Reason.SIGNATURE_CONTENTS_ALTERED in report.reasons


def test_signed_byte_changed_is_signature_invalid(
    signed: bytes, trust: list[bytes], tsa: Tsa
) -> None:
    data = bytearray(signed)
    pos = data.index(b"/Producer")  # inside the signed range, harmless to parsing
    data[pos + 2] = ord("X")
    report = _verify(bytes(data), trust, tsa)
    assert Reason.SIGNATURE_INVALID in report.reasons


def _append_update(pdf: bytes, mutate) -> bytes:  # type: ignore[no-untyped-def]
    writer = IncrementalPdfFileWriter(BytesIO(pdf), strict=False)
    mutate(writer)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def test_update_appended_after_signing_is_named(
    signed: bytes, trust: list[bytes], tsa: Tsa, tmp_path: Path
) -> None:
    def add_info(writer: IncrementalPdfFileWriter) -> None:
        info = writer.trailer["/Info"].get_object() if "/Info" in writer.trailer else None
        if info is None:
            info = generic.DictionaryObject()
            writer.trailer["/Info"] = writer.add_object(info)
        info[generic.NameObject("/Title")] = generic.TextStringObject("changed later")
        writer.update_container(info)

    tampered = _append_update(signed, add_info)
    assert tampered.startswith(signed)
    report = _verify(tampered, trust, tsa)
    assert Reason.UPDATED_AFTER_SIGNING in report.reasons
    path = tmp_path / "appended.pdf"
    path.write_bytes(tampered)
    out = subprocess.run(
        ["pdfsig", str(path)], check=False, capture_output=True, text=True, timeout=60
    )
    assert "Total document signed" not in out.stdout


def _replace_attachment(writer: IncrementalPdfFileWriter, name: str, data: bytes) -> None:
    names = writer.root["/Names"]["/EmbeddedFiles"]["/Names"]
    for i in range(0, len(names), 2):
        if str(names[i]) == name or str(names[i + 1].get_object().get("/UF")) == name:
            spec = names[i + 1].get_object()
            stream = generic.StreamObject(
                {generic.NameObject("/Type"): generic.NameObject("/EmbeddedFile")}, stream_data=data
            )
            spec["/EF"][generic.NameObject("/F")] = writer.add_object(stream)
            writer.update_container(spec)
            return
    raise AssertionError(f"no attachment {name}")


def test_attachment_replaced_after_signing_is_named(
    signed: bytes, trust: list[bytes], tsa: Tsa
) -> None:
    forged = b"a different photo"
    tampered = _append_update(signed, lambda w: _replace_attachment(w, "E01-IMG_1.jpg", forged))
    report = _verify(tampered, trust, tsa)
    assert Reason.HASH_MISMATCH in report.reasons
    assert Reason.UPDATED_AFTER_SIGNING in report.reasons
    mismatch = [c for c in report.failures if c.reason is Reason.HASH_MISMATCH]
    assert hashlib.sha256(forged).hexdigest() in mismatch[0].detail


def test_attachment_replaced_before_signing_fails_the_manifest(
    org: tuple[Path, Path], trust: list[bytes], tsa: Tsa
) -> None:
    unsigned = _append_update(
        _dossier_like_pdf(), lambda w: _replace_attachment(w, "E01-IMG_1.jpg", b"swapped")
    )
    pdf = sign_pdf(unsigned, load_org_identity(*org), CallableTimeStamper(tsa))
    report = _verify(pdf, trust, tsa)
    assert report.reasons == {Reason.HASH_MISMATCH}


def test_manifest_and_printed_exhibit_list_must_agree(
    org: tuple[Path, Path], trust: list[bytes], tsa: Tsa
) -> None:
    other = "ab" * 32
    pdf = sign_pdf(
        _dossier_like_pdf(printed_sha=other), load_org_identity(*org), CallableTimeStamper(tsa)
    )
    report = _verify(pdf, trust, tsa)
    assert report.reasons == {Reason.EXHIBIT_LIST_MISMATCH}


def test_unknown_hash_is_named_when_known_hashes_given(
    signed: bytes, trust: list[bytes], tsa: Tsa
) -> None:
    report = _verify(signed, trust, tsa, known_hashes=["00" * 32])
    assert report.reasons == {Reason.HASH_UNKNOWN}
    bad = [c for c in report.checks if c.status is Status.FAILED]
    assert bad[0].check == f"known:{ORIGINAL_SHA}"


def test_unsigned_and_non_pdf_inputs_are_reported_not_raised(trust: list[bytes], tsa: Tsa) -> None:
    report = _verify(_dossier_like_pdf(), trust, tsa)
    assert Reason.NO_SIGNATURE in report.reasons
    report = _verify(b"this is not a PDF", trust, tsa)
    assert report.reasons == {Reason.PDF_UNREADABLE}


def test_the_stores_local_tsa_plugs_in_as_the_callable(
    org: tuple[Path, Path], trust: list[bytes], tmp_path: Path
) -> None:
    from evidence.timestamping import tsa as local_tsa

    local_tsa.create_local_tsa(
        tmp_path / "keys", tmp_path / "public", tmp_path / "state", "«Адал сайлау»"
    )
    stamper = local_tsa.LocalTSA.load(tmp_path / "keys", tmp_path / "public", tmp_path / "state")
    pdf = sign_pdf(
        _dossier_like_pdf(), load_org_identity(*org), CallableTimeStamper(stamper.timestamp)
    )
    root = stamper.root_certificate.public_bytes(serialization.Encoding.PEM)
    report = verify_dossier(pdf, trust, tsa_certs=[root])
    assert report.ok, report.failures
    assert Reason.TSA_UNTRUSTED in verify_dossier(pdf, trust, tsa_certs=trust).reasons

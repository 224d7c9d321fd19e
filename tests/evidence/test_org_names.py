"""The organisation's name goes whole into its certificates (X.509 allows 64 characters, not
64 bytes), a longer one is refused before anything is made, and the store publishes one trust
bundle with every root a verifier of its dossiers needs."""

from __future__ import annotations

import subprocess
import warnings
from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from evidence.core.tokens import load_certificates
from evidence.pdf import sign as pdfsign
from evidence.provision import init_store, write_trust_bundle
from evidence.timestamping.tsa import X509_NAME_MAX, name_attribute

# 60 characters, 114 bytes in UTF-8: the old code cut it to "… наблюда" (64 bytes).
LONG_NAME = "Демонстрационная коалиция наблюдателей за выборами Казахстан"
TOO_LONG = "Республиканская демонстрационная коалиция независимых наблюдателей 2026"


def test_the_names_used_here_are_what_they_claim():
    assert len(LONG_NAME) == 60 and len(LONG_NAME.encode()) > 64
    assert len(TOO_LONG) == 71


def _subject(pem_path: Path) -> dict[str, str]:
    """The subject as asn1crypto reads it (as pyHanko does): no length check, no warning."""
    der = x509.load_pem_x509_certificate(pem_path.read_bytes()).public_bytes(Encoding.DER)
    return dict(asn1_x509.Certificate.load(der).subject.native)


def test_64_characters_fit_whatever_their_bytes_and_65_are_refused():
    attr = name_attribute(NameOID.COMMON_NAME, "Ә" * X509_NAME_MAX)  # 128 bytes
    assert attr.value == "Ә" * 64
    with pytest.raises(ValueError, match="1 to 64 characters, not 65"):
        name_attribute(NameOID.ORGANIZATION_NAME, "a" * 65)
    with pytest.raises(ValueError):
        name_attribute(NameOID.COMMON_NAME, "")


@pytest.fixture(scope="module")
def long_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("long") / "store"
    init_store(root, org=LONG_NAME)
    return root


def test_every_certificate_carries_the_whole_name(long_store):
    public = long_store / "public"
    signing = _subject(public / pdfsign.ORG_CERT_FILE)
    assert signing == {"common_name": LONG_NAME, "organization_name": LONG_NAME}
    for name in (pdfsign.ORG_CA_CERT_FILE, "tsa-root.pem", "tsa.pem"):
        subject = _subject(public / name)
        assert subject["organization_name"] == LONG_NAME, name
        # a CN never holds a cut copy of the name: the name whole, or a label alone
        assert LONG_NAME in subject["common_name"] or "наблюда" not in subject["common_name"]


def test_openssl_reads_the_whole_name_and_trusts_the_bundle(long_store):
    public = long_store / "public"
    out = subprocess.run(
        ["openssl", "x509", "-in", public / pdfsign.ORG_CERT_FILE, "-noout", "-subject",
         "-nameopt", "utf8,sep_comma_plus"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert f"CN={LONG_NAME},O={LONG_NAME}" in out
    for cert in (pdfsign.ORG_CERT_FILE, "tsa.pem"):
        r = subprocess.run(
            ["openssl", "verify", "-CAfile", public / pdfsign.TRUST_BUNDLE_FILE, public / cert],
            capture_output=True,
            text=True,
        )
        assert r.returncode == 0 and r.stdout.strip().endswith("OK"), r.stderr


def test_loading_the_identity_names_it_whole_without_a_warning(long_store):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        identity = pdfsign.load_org_identity(long_store / "keys", long_store / "public")
        # the TSA certificates' CNs fit cryptography's byte check: reading them never warns
        for name in ("tsa-root.pem", "tsa.pem", pdfsign.ORG_CA_CERT_FILE):
            cert = x509.load_pem_x509_certificate((long_store / "public" / name).read_bytes())
            assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == (
                LONG_NAME
            )
    assert identity.subject == f"O={LONG_NAME},CN={LONG_NAME}"


@pytest.mark.parametrize(
    ("org", "words"),
    [(TOO_LONG, ["71 characters", "at most 64"]), ("   ", ["empty"])],
)
def test_a_name_a_certificate_cannot_hold_is_refused_before_anything_is_made(tmp_path, org, words):
    root = tmp_path / "store"
    with pytest.raises(pdfsign.OrgNameInvalid) as caught:
        init_store(root, org=org)
    assert caught.value.exit_code == 2
    for word in words:
        assert word in caught.value.message
    assert caught.value.fix and "--org" in caught.value.fix
    assert not root.exists()
    with pytest.raises(pdfsign.OrgNameInvalid):
        pdfsign.create_org_identity(tmp_path / "k", tmp_path / "p", TOO_LONG)
    assert not (tmp_path / "k").exists() and not (tmp_path / "p").exists()


def test_the_trust_bundle_holds_the_org_ca_and_every_tsa_root(long_store, tmp_path):
    public = long_store / "public"
    bundle = load_certificates((public / pdfsign.TRUST_BUNDLE_FILE).read_bytes())
    expected = [
        *load_certificates((public / pdfsign.ORG_CA_CERT_FILE).read_bytes()),
        *load_certificates((public / "tsa-root.pem").read_bytes()),
    ]
    assert list(bundle) == expected
    # an external TSA's roots join it when it is added
    from app import timestamps
    from evidence.storage.store import Store

    other = init_store(tmp_path / "other", org="Other TSA")
    roots = (other.public_dir / "tsa-root.pem").read_bytes()
    timestamps.add_tsa(Store.open(long_store), "ext-tsa", "https://tsa.example/", roots, 5.0)
    text = (public / pdfsign.TRUST_BUNDLE_FILE).read_text()
    assert list(load_certificates(text.encode())) == [*expected, *load_certificates(roots)]
    assert "# External TSA ext-tsa root" in text
    # written again whole, never appended to
    write_trust_bundle(public)
    assert (public / pdfsign.TRUST_BUNDLE_FILE).read_text() == text

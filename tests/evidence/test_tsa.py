"""The local TSA: its files, its tokens (checked by real openssl), its serial numbers."""

from __future__ import annotations

import datetime as dt
import hashlib
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import rfc3161_client
from asn1crypto import tsp
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from hypothesis import given, settings
from hypothesis import strategies as st

from base.errors import StoreCorrupt
from evidence.timestamping import timestamps
from evidence.timestamping.tsa import (
    DEFAULT_POLICY_OID,
    FileSerialAllocator,
    LocalTSA,
    LocalTSAExists,
    LocalTSAMissing,
    MemorySerialAllocator,
    TimeStampResp,
    create_local_tsa,
    issue_tsa_certificate,
    make_root_certificate,
)

ROOT = Path(__file__).resolve().parents[2]


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def make_tsa(base: Path, **kw) -> tuple[Path, LocalTSA]:
    create_local_tsa(base / "keys", base / "public", base / "state", "Test Coalition", **kw)
    return base, LocalTSA.load(base / "keys", base / "public", base / "state")


@pytest.fixture(scope="module")
def local(tmp_path_factory) -> tuple[Path, LocalTSA]:
    return make_tsa(tmp_path_factory.mktemp("tsa"))


def openssl_verify(
    base: Path, response: bytes, digest: bytes, tmp: Path
) -> subprocess.CompletedProcess:
    """The command from the issue, verbatim: openssl ts -verify -digest HEX -sha256 -in OUT.tsr."""
    out = tmp / "OUT.tsr"
    out.write_bytes(response)
    return subprocess.run(
        [
            "openssl",
            "ts",
            "-verify",
            "-digest",
            digest.hex(),
            "-sha256",
            "-in",
            str(out),
            "-CAfile",
            str(base / "public" / "tsa-root.pem"),
            "-untrusted",
            str(base / "public" / "tsa.pem"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_create_writes_certificates_and_private_keys(tmp_path):
    base, tsa = make_tsa(tmp_path)
    for key in ("tsa.key", "tsa-root.key"):
        assert stat.S_IMODE((base / "keys" / key).stat().st_mode) == 0o600
    cert = x509.load_pem_x509_certificate((base / "public" / "tsa.pem").read_bytes())
    root = x509.load_pem_x509_certificate((base / "public" / "tsa-root.pem").read_bytes())
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    cert.verify_directly_issued_by(root)
    assert b"PRIVATE" not in (base / "public" / "tsa.pem").read_bytes()
    assert tsa.certificate == cert and tsa.root_certificate == root


def test_create_refuses_to_replace_an_existing_tsa(local, tmp_path):
    base, _ = local
    before = (base / "public" / "tsa.pem").read_bytes()
    with pytest.raises(LocalTSAExists) as err:
        create_local_tsa(base / "keys", base / "public", base / "state", "Other")
    assert err.value.exit_code == 2
    assert (base / "public" / "tsa.pem").read_bytes() == before


def test_load_without_tsa_names_the_fix(tmp_path):
    with pytest.raises(LocalTSAMissing) as err:
        LocalTSA.load(tmp_path / "keys", tmp_path / "public", tmp_path / "state")
    assert err.value.exit_code == 4 and "dalel init" in (err.value.fix or "")


def test_single_tokens_pass_openssl_ts_verify(local, tmp_path):
    base, tsa = local
    digest = sha(b"protocol photo")
    for response in (
        tsa.timestamp(digest, nonce=424242, cert_req=True),
        tsa.timestamp(digest, nonce=None, cert_req=False),
    ):
        result = openssl_verify(base, response, digest, tmp_path)
        assert result.returncode == 0 and "Verification: OK" in result.stdout, result.stderr


def test_openssl_refuses_a_token_for_another_digest(local, tmp_path):
    base, tsa = local
    response = tsa.timestamp(sha(b"item A"))
    result = openssl_verify(base, response, sha(b"item B"), tmp_path)
    assert result.returncode != 0 and "Verification: OK" not in result.stdout


def test_batch_tokens_pass_openssl_and_cover_their_own_digest(local, tmp_path):
    base, tsa = local
    digests = [sha(b"photo %d" % i) for i in range(12)]
    responses = tsa.timestamp_batch(digests)
    assert len(responses) == len(digests)
    for digest, response in zip(digests, responses, strict=True):
        result = openssl_verify(base, response, digest, tmp_path)
        assert result.returncode == 0, result.stderr
        assert timestamps.read_token(response).imprint == digest


def test_token_states_nonce_accuracy_policy_and_tsa_name(tmp_path):
    _, tsa = make_tsa(tmp_path, policy_oid="1.2.3.4.5.6", accuracy_seconds=2)
    info = timestamps.read_token(tsa.timestamp(sha(b"x"), nonce=987654321))
    assert info.nonce == 987654321
    assert info.policy == "1.2.3.4.5.6" and info.policy != DEFAULT_POLICY_OID
    assert info.accuracy == dt.timedelta(seconds=2)
    assert info.tsa_name is not None and "Dalel TSA: Test Coalition" in info.tsa_name
    assert info.hash_name == "sha256"
    now = dt.datetime.now(dt.UTC)
    assert abs(info.gen_time - now) < dt.timedelta(seconds=30)


def test_serials_are_unique_and_continue_after_reload(tmp_path):
    base, tsa = make_tsa(tmp_path)
    first = [timestamps.read_token(r).serial for r in tsa.timestamp_batch([sha(b"a")] * 5)]
    single = timestamps.read_token(tsa.timestamp(sha(b"b"))).serial
    again = LocalTSA.load(base / "keys", base / "public", base / "state")
    later = [timestamps.read_token(r).serial for r in again.timestamp_batch([sha(b"c")] * 5)]
    serials = first + [single] + later
    assert len(set(serials)) == len(serials)
    assert min(later) > max(first + [single])


_WORKER = """
import hashlib, sys
from pathlib import Path
sys.path.insert(0, {root!r})
from evidence.timestamping.tsa import LocalTSA
from evidence.timestamping.timestamps import read_token
b = Path({base!r})
tsa = LocalTSA.load(b / "keys", b / "public", b / "state", reserve_block=3)
for i in range(40):
    if i % 2:
        print(read_token(tsa.timestamp(hashlib.sha256(b"%d" % i).digest())).serial)
    else:
        for r in tsa.timestamp_batch([hashlib.sha256(b"%d" % i).digest()] * 2):
            print(read_token(r).serial)
    sys.stdout.flush()
"""


def test_two_processes_at_once_never_share_a_serial(tmp_path):
    base, _ = make_tsa(tmp_path)
    code = _WORKER.format(root=str(ROOT), base=str(base))
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    serials = [int(line) for out in outputs for line in out.split()]
    assert len(serials) == 2 * 60
    assert len(set(serials)) == len(serials)


_RESERVER = """
import sys
from pathlib import Path
sys.path.insert(0, {root!r})
from evidence.timestamping.tsa import FileSerialAllocator
allocator = FileSerialAllocator(Path({counter!r}))
print(" ".join(str(allocator.reserve(1)[0]) for _ in range(150)))
"""


def test_concurrent_reservations_are_disjoint(tmp_path):
    """Three processes race on the counter file (without the flock this gives duplicates:
    450 reservations, 174 distinct values, when tried)."""
    code = _RESERVER.format(root=str(ROOT), counter=str(tmp_path / "tsa-serial"))
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    serials = [int(x) for p in procs for x in p.communicate(timeout=120)[0].split()]
    assert all(p.returncode == 0 for p in procs)
    assert len(serials) == 450 and len(set(serials)) == 450
    assert FileSerialAllocator(tmp_path / "tsa-serial").last() == 450


def test_a_crash_after_reserving_never_reissues_those_serials(tmp_path):
    base, _ = make_tsa(tmp_path)
    crash = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
        "import os, hashlib\nfrom pathlib import Path\n"
        "from evidence.timestamping.tsa import LocalTSA\n"
        f"b = Path({str(base)!r})\n"
        "tsa = LocalTSA.load(b / 'keys', b / 'public', b / 'state', reserve_block=50)\n"
        "from evidence.timestamping.timestamps import read_token\n"
        "print(read_token(tsa.timestamp(hashlib.sha256(b'x').digest())).serial, flush=True)\n"
        "os._exit(9)  # dies holding 49 reserved, unused serials\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", crash], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 9
    issued_before_crash = int(proc.stdout)
    tsa = LocalTSA.load(base / "keys", base / "public", base / "state")
    after = timestamps.read_token(tsa.timestamp(sha(b"y"))).serial
    assert after > issued_before_crash + 49


def test_corrupt_serial_counter_is_refused(tmp_path):
    counter = tmp_path / "tsa-serial"
    counter.write_text("12x\n")
    with pytest.raises(StoreCorrupt):
        FileSerialAllocator(counter).reserve(1)


def _fail_info(response: bytes) -> tuple[str, set[str]]:
    status = TimeStampResp.load(response)["status"]
    return status["status"].native, set(status["fail_info"].native or ())


def test_respond_answers_requests_and_rejects_bad_ones(local):
    _, tsa = local
    digest = sha(b"over http")
    good = timestamps.build_request(digest, nonce=77)
    info = timestamps.read_token(tsa.respond(good))
    assert info.imprint == digest and info.nonce == 77
    assert _fail_info(tsa.respond(b"\x30\x03junk")) == ("rejection", {"bad_data_format"})
    short = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {
                "hash_algorithm": {"algorithm": "sha256"},
                "hashed_message": b"\x01" * 20,
            },
        }
    ).dump()
    assert _fail_info(tsa.respond(short)) == ("rejection", {"bad_data_format"})
    md5 = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {
                "hash_algorithm": {"algorithm": "md5"},
                "hashed_message": b"\x01" * 16,
            },
        }
    ).dump()
    assert _fail_info(tsa.respond(md5)) == ("rejection", {"bad_alg"})
    policy = tsp.TimeStampReq(
        {
            "version": "v1",
            "req_policy": "1.2.3.999",
            "message_imprint": {
                "hash_algorithm": {"algorithm": "sha256"},
                "hashed_message": digest,
            },
        }
    ).dump()
    assert _fail_info(tsa.respond(policy)) == ("rejection", {"unaccepted_policy"})


def test_timestamp_refuses_a_digest_of_the_wrong_length(local):
    _, tsa = local
    with pytest.raises(ValueError):
        tsa.timestamp(b"\x00" * 31)
    with pytest.raises(ValueError):
        tsa.timestamp_batch([sha(b"ok"), b"short"])


@settings(max_examples=60, deadline=None)
@given(
    serial=st.integers(min_value=1, max_value=2**159),
    nonce=st.one_of(st.none(), st.integers(min_value=0, max_value=2**160)),
    digest=st.binary(min_size=32, max_size=32),
)
def test_tokens_are_strict_der_with_the_fields_asked_for(serial, nonce, digest):
    """The token is assembled from bytes; asn1crypto must read back the same fields and
    re-encode it to the very same bytes (canonical DER)."""
    tsa = _memory_tsa(serial)
    response = tsa.timestamp(digest, nonce=nonce)
    strict = rfc3161_client.decode_timestamp_response(response)  # rust-asn1: DER only
    assert strict.tst_info.serial_number == serial and strict.tst_info.nonce == nonce
    token = TimeStampResp.load(response, strict=True)["time_stamp_token"]
    tst = token["content"]["encap_content_info"]["content"].contents
    assert tsp.TSTInfo.load(tst).dump(force=True) == tst
    info = timestamps.read_token(response)
    assert (info.serial, info.nonce, info.imprint) == (serial, nonce, digest)


_KEYS: dict[str, object] = {}


def _memory_tsa(serial: int) -> LocalTSA:
    if not _KEYS:
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        root = make_root_certificate(key, "Org", not_before=now, not_after=now + dt.timedelta(9))
        _KEYS.update(
            key=key,
            root=root,
            cert=issue_tsa_certificate(
                key, root, key.public_key(), "Org", not_before=now, not_after=now + dt.timedelta(9)
            ),
        )
    return LocalTSA(
        private_key=_KEYS["key"],
        certificate=_KEYS["cert"],  # type: ignore[arg-type]
        root_certificate=_KEYS["root"],  # type: ignore[arg-type]
        serials=MemorySerialAllocator(serial),
    )

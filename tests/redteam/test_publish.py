"""Checkpoints leave the store: to a folder, an HTTP endpoint and a C2SP witness, each sent
once; a witness refuses a forked or rolled-back log, and a folder that holds a checkpoint the
log no longer extends refuses too."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import httpx
import pytest

from evidence.core import checkpoint as cp
from evidence.core import witness
from evidence.core.keys import PublicKey
from evidence.storage.store import Store
from testing.witness_server import LoopbackCollector, LoopbackWitness
from tests.conftest import VALID_IIN, make_photo
from tests.redteam.attacks import resign


def ingest(dalel, store: Path, tmp: Path, name: str) -> None:
    photo = make_photo(tmp / "more" / f"{name}.jpg", (len(name) * 20 % 255, 9, 99))
    r = dalel("--store", store, "ingest", photo, "--observer", VALID_IIN, "--precinct", "5")
    assert r.code == 0, r.err


def latest(store: Path) -> cp.SignedCheckpoint:
    head = Store.open(store).latest_checkpoint()
    assert head is not None
    return head


def publish(dalel, store: Path, *args: object):
    return dalel("--store", store, "checkpoint", "publish", "--json", *args)


def test_publish_to_a_folder_sends_each_checkpoint_once(filled_store, dalel, tmp_path):
    out = tmp_path / "elsewhere"
    r = publish(dalel, filled_store, "--to", out)
    assert r.code == 0, r.err
    (d,) = r.json()["destinations"]
    assert d["outcome"] == "PUBLISHED" and d["sent"] == 2
    names = sorted(p.name for p in out.glob("*.note"))
    assert names == sorted(p.name for p in (filled_store / "log/checkpoints").glob("*.note"))
    again = publish(dalel, filled_store, "--to", out)
    assert again.json()["destinations"][0]["outcome"] == "UP_TO_DATE"
    assert again.json()["destinations"][0]["sent"] == 0
    ingest(dalel, filled_store, tmp_path, "third")
    more = publish(dalel, filled_store, "--to", out)
    assert more.json()["destinations"][0]["sent"] == 1 and len(list(out.glob("*.note"))) == 3
    kept = sorted(out.glob("*.note"))[-1]
    assert kept.read_text() == latest(filled_store).text
    r = dalel("--store", filled_store, "audit", "--json", "--since", kept)
    assert r.code == 0


def test_a_folder_refuses_a_rolled_back_store(filled_store, dalel, tmp_path):
    backup = tmp_path / "backup"
    shutil.copytree(filled_store, backup)
    out = tmp_path / "elsewhere"
    ingest(dalel, filled_store, tmp_path, "later")
    assert publish(dalel, filled_store, "--to", out).code == 0
    shutil.rmtree(filled_store)
    shutil.copytree(backup, filled_store)
    r = publish(dalel, filled_store, "--to", out)
    assert r.code == 1 and r.json()["destinations"][0]["outcome"] == "REFUSED"
    assert "rolled back" in r.json()["destinations"][0]["detail"]


def test_publish_over_http(filled_store, dalel, tmp_path):
    with LoopbackCollector() as endpoint:
        r = publish(dalel, filled_store, "--url", endpoint.url)
        assert r.code == 0, r.err
        notes = [cp.parse(b.decode()) for b in endpoint.received]
        assert [n.checkpoint.size for n in notes] == sorted(n.checkpoint.size for n in notes)
        assert notes[-1].text == latest(filled_store).text
        assert (
            publish(dalel, filled_store, "--url", endpoint.url).json()["destinations"][0]["sent"]
            == 0
        )
        ingest(dalel, filled_store, tmp_path, "third")
        assert publish(dalel, filled_store, "--url", endpoint.url).code == 0
        assert len(endpoint.received) == len(notes) + 1
        endpoint.status = 500
        ingest(dalel, filled_store, tmp_path, "fourth")
        r = publish(dalel, filled_store, "--url", endpoint.url)
        assert r.code == 4 and r.json()["destinations"][0]["outcome"] == "UNREACHABLE"
        endpoint.status = 201
        assert publish(dalel, filled_store, "--url", endpoint.url).code == 0  # sent later


@pytest.fixture
def witnessed(filled_store):
    store = Store.open(filled_store)
    with LoopbackWitness({store.config.origin: store.public_key()}) as w:
        yield w


def witness_args(w: LoopbackWitness) -> tuple[str, ...]:
    return ("--witness", w.url, "--witness-key", w.key.vkey())


def test_a_witness_cosigns_and_the_cosignature_is_kept(filled_store, dalel, tmp_path, witnessed):
    r = publish(dalel, filled_store, *witness_args(witnessed))
    assert r.code == 0, r.out + r.err
    head = latest(filled_store)
    cosig = Path(r.json()["destinations"][0]["cosignature"])
    assert cosig.name == f"{head.checkpoint.size:012d}.cosig"
    (line,) = cosig.read_text().splitlines(keepends=True)
    assert witnessed.key.verify(line, head.checkpoint.body()) is not None
    # the cosigned note is a signed note any C2SP verifier reads: log signature + cosignature
    note = cp.parse(head.text + line)
    assert note.signed_by(Store.open(filled_store).public_key()) and len(note.signatures) == 2
    # the next checkpoint goes with a consistency proof from the one the witness cosigned
    ingest(dalel, filled_store, tmp_path, "third")
    r = publish(dalel, filled_store, *witness_args(witnessed))
    assert r.code == 0, r.out
    origin = Store.open(filled_store).config.origin
    assert witnessed.latest[origin][0] == latest(filled_store).checkpoint.size
    assert [s for s, _ in witnessed.answers] == [200, 200]
    # what the witness serves to monitors can be kept and audited against
    url = f"{witnessed.url}/{hashlib.sha256(origin.encode()).hexdigest()}/checkpoint"
    kept = tmp_path / "witnessed.note"
    kept.write_text(httpx.get(url).text)
    assert dalel("--store", filled_store, "audit", "--since", kept).code == 0


def test_a_witness_refuses_a_forked_history(filled_store, dalel, tmp_path, witnessed, backend):
    assert publish(dalel, filled_store, *witness_args(witnessed)).code == 0
    cosigned = tmp_path / "cosigned.note"
    cosigned.write_text(witnessed.latest[Store.open(filled_store).config.origin][2])
    resign(filled_store, same_key=True)  # the same key, another history
    if backend == "national":
        # the sequencer's head in the database names the real last entry: the forked log
        # takes no new line at all (tests/evidence/test_headlock.py)
        before = (filled_store / "log" / "custody.jsonl").read_bytes()
        photo = make_photo(tmp_path / "more" / "after-fork.jpg", (1, 9, 99))
        r = dalel("--store", filled_store, "ingest", photo, "--observer", VALID_IIN,
                  "--precinct", "5")  # fmt: skip
        assert r.code == 1 and "another machine has written to the log" in r.err
        assert (filled_store / "log" / "custody.jsonl").read_bytes() == before
        return
    ingest(dalel, filled_store, tmp_path, "after-fork")
    r = publish(dalel, filled_store, *witness_args(witnessed))
    assert r.code == 1 and r.json()["destinations"][0]["outcome"] == "REFUSED"  # by the state
    (filled_store / "publish.json").unlink()  # the attacker forgets what was published
    r = publish(dalel, filled_store, *witness_args(witnessed))
    assert r.code == 1 and r.json()["destinations"][0]["outcome"] == "REFUSED"
    assert 422 in [s for s, _ in witnessed.answers]  # the witness itself refused
    audit = dalel("--store", filled_store, "audit", "--json", "--since", cosigned)
    assert audit.code == 1
    assert "CONSISTENCY_INVALID" in {c["reason"] for c in audit.json()["checks"]}


def test_a_witness_refuses_a_rolled_back_store(filled_store, dalel, tmp_path, witnessed):
    backup = tmp_path / "backup"
    shutil.copytree(filled_store, backup)
    ingest(dalel, filled_store, tmp_path, "later")
    assert publish(dalel, filled_store, *witness_args(witnessed)).code == 0
    shutil.rmtree(filled_store)
    shutil.copytree(backup, filled_store)
    r = publish(dalel, filled_store, *witness_args(witnessed))
    assert r.code == 1 and r.json()["destinations"][0]["outcome"] == "REFUSED"
    assert 409 in [s for s, _ in witnessed.answers]


def test_the_witness_follows_tlog_witness(filled_store):
    store = Store.open(filled_store)
    head = latest(filled_store)
    tree = store.load_tree()
    with LoopbackWitness({store.config.origin: store.public_key()}) as w:
        post = lambda body: httpx.post(f"{w.url}/add-checkpoint", content=body)  # noqa: E731
        assert post(witness.add_checkpoint_body(0, [], head.text)).status_code == 200
        size = head.checkpoint.size
        again = post(witness.add_checkpoint_body(0, [], head.text))
        assert again.status_code == 409 and again.text == f"{size}\n"
        assert again.headers["content-type"] == "text/x.tlog.size"
        assert post(witness.add_checkpoint_body(size + 1, [], head.text)).status_code == 400
        assert post(witness.add_checkpoint_body(size, [], head.text)).status_code == 200
        bad_proof = [b"\0" * 32] * len(tree.consistency_proof(1, size))
        with LoopbackWitness({store.config.origin: store.public_key()}) as fresh:
            ok = httpx.post(
                f"{fresh.url}/add-checkpoint",
                content=witness.add_checkpoint_body(
                    0,
                    [],
                    cp.sign(cp.Checkpoint(store.config.origin, 1, tree.root(1)), store.log_key),
                ),
            )
            assert ok.status_code == 200
            r = httpx.post(
                f"{fresh.url}/add-checkpoint",
                content=witness.add_checkpoint_body(1, bad_proof, head.text),
            )
            assert r.status_code == 422
        other = cp.sign(head.checkpoint, type(store.log_key).generate(store.config.origin))
        assert post(witness.add_checkpoint_body(size, [], other)).status_code == 403
        stranger = cp.Checkpoint("example.com/other", 1, tree.root(1))
        foreign = cp.sign(stranger, type(store.log_key).generate("example.com/other"))
        assert post(witness.add_checkpoint_body(0, [], foreign)).status_code == 404
        assert post(b"not a request").status_code == 400


def test_a_cosignature_is_checked_against_the_witness_key():
    key = witness.CosigningKey.generate("witness.example/w1")
    body = b"example.com/log\n3\n" + b"A" * 43 + b"=\n"
    line = key.cosign(body, 1_700_000_000)
    assert key.public.verify(line, body) == 1_700_000_000
    assert key.public.verify(line, body.replace(b"3", b"4")) is None
    assert witness.CosignerKey.from_vkey(key.public.vkey()) == key.public
    other = witness.CosigningKey.generate("witness.example/w1").public
    assert other.verify(line, body) is None
    with pytest.raises(ValueError):
        witness.CosignerKey.from_vkey(PublicKey("x", b"\1" * 32).verifier())  # a log key
    plus = next(  # a key whose base64 holds a "+" (the separator) still reads back
        k.public
        for k in iter(lambda: witness.CosigningKey.generate("w.example/2"), None)
        if "+" in k.public.vkey().split("+", 2)[2]
    )
    assert witness.CosignerKey.from_vkey(plus.vkey()) == plus


def test_publish_usage_errors(filled_store, dalel, tmp_path):
    assert publish(dalel, filled_store).code == 2
    assert publish(dalel, filled_store, "--witness", "http://127.0.0.1:9").code == 2
    r = publish(dalel, filled_store, "--witness", "http://127.0.0.1:9", "--witness-key", "x+y")
    assert r.code == 2
    assert publish(dalel, filled_store, "--url", "ftp://example.com/").code == 2

"""Files handed in as streams (an upload) go in exactly as files from a path do."""

from __future__ import annotations

import io
import json

from evidence import audit
from pipeline import hooks
from pipeline.run import ingest_stream, run_batch
from pipeline.stages import Status, Submission
from tests.conftest import VALID_IIN, make_photo


class _OneShot(io.BytesIO):
    """A stream that can be read once, front to back (no seek), as an upload is."""

    def seek(self, *a, **k):
        raise io.UnsupportedOperation("not seekable")

    def seekable(self) -> bool:
        return False


def test_a_stream_is_stored_logged_stamped_and_receipted_like_a_path(store_dir, tmp_path):
    photo = make_photo(tmp_path / "in" / "protocol.jpg", (10, 120, 200))
    store = hooks.open_store(store_dir)
    from_path = run_batch(
        store, [photo], Submission(photo, "", VALID_IIN, "12", "protocol"), dedupe=False
    )
    from_stream = ingest_stream(
        store,
        _OneShot(photo.read_bytes()),
        "protocol.jpg",
        observer=VALID_IIN,
        precinct="12",
        kind="protocol",
    )
    a, b = from_path.of(Status.DONE)[0], from_stream.of(Status.DONE)[0]
    assert a.item == b.item  # same hash, size, media type, precinct, kind
    assert b.detail == "received again; stored once"
    [receipt] = from_stream.receipts.values()
    data = json.loads(receipt.read_bytes())
    history = store.index.history(a.item.sha256)
    ingests = [e for e in history if e["event"] == "ingest"]
    assert len(ingests) == 2

    def what_the_file_says(entry):  # all but our own clock's reading, a second apart or not
        meta = dict(entry["metadata"])
        meta["fields"] = {k: v for k, v in meta["fields"].items() if k != "received_at"}
        return meta

    assert "received_at" in ingests[0]["metadata"]["fields"]
    assert what_the_file_says(ingests[0]) == what_the_file_says(ingests[1])
    assert ingests[1]["name"] == "protocol.jpg" and ingests[1]["received_again"]
    assert "timestamp" in data  # the item's token, as for a path
    assert data["entry"]["item"]["sha256"] == a.item.sha256
    assert data["entry"]["seq"] == ingests[1]["seq"]
    assert audit.run(audit.StoreSource(store)).ok


def test_an_empty_or_refused_stream_is_quarantined_byte_for_byte(store_dir):
    store = hooks.open_store(store_dir)
    empty = ingest_stream(store, _OneShot(b""), "empty.jpg", observer=VALID_IIN, precinct="3")
    [r] = empty.refused
    assert r.data["reason"] == "EMPTY_FILE"
    bad_iin = ingest_stream(
        store, _OneShot(b"some bytes"), "x.jpg", observer="870412300417", precinct="3"
    )  # wrong check digit
    [r] = bad_iin.refused
    quarantined = store_dir / "quarantine"
    originals = sorted(p.read_bytes() for p in quarantined.glob("*/original"))
    assert b"some bytes" in originals
    assert audit.run(audit.StoreSource(store)).ok

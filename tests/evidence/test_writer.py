"""The long-lived writer: one open writer, many commits, the log never read again; the
persisted frontier, checked and rebuilt; hooks in order; every entry checked against its
kind's schema."""

from __future__ import annotations

import json

import pytest

from base.errors import StoreCorrupt
from evidence.core import checkpoint as cp
from evidence.core import events, merkle, receipts
from evidence.storage import log as logfile
from evidence.storage.store import Store
from evidence.storage.writer import Commit, Writer
from pipeline import hooks


def _ingest(store: Store, i: int) -> dict:
    stored = store.objects.put_bytes(f"photo {i}".encode())
    return {
        "event": events.INGEST,
        "actor": {"role": "observer", "id": "obs"},
        "item": {"sha256": stored.sha256, "size": stored.size, "media_type": "image/jpeg"},
        "name": f"{i}.jpg",
        "path": f"{i}.jpg",
        "precinct": "7",
        "kind": "protocol",
        "metadata": {},
    }


def _fill(store: Store, n: int) -> None:
    with store.writer() as w:
        for i in range(n):
            w.append(_ingest(store, i))


def _full_tree(store: Store) -> merkle.MerkleTree:
    return merkle.MerkleTree(merkle.leaf_hash(line) for line in store.log_lines())


class _Spy:
    """Counts every read of the custody log through the log module."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[str] = []
        for name in ("read_log_lines", "lines_after", "last_lines"):
            original = getattr(logfile, name)

            def spy(*a, _name=name, _original=original, **k):
                self.calls.append(_name)
                return _original(*a, **k)

            monkeypatch.setattr(logfile, name, spy)


def test_an_open_writer_commits_many_batches_without_reading_the_log(store_dir, monkeypatch):
    store = hooks.open_store(store_dir)
    _fill(store, 20)
    w = store.writer().open()
    try:
        spy = _Spy(monkeypatch)
        for batch in range(5):
            for i in range(3):
                w.append(_ingest(store, 100 + batch * 10 + i))
            result = w.commit()
            assert result.checkpoint is not None and len(result.receipts) == 3
        assert spy.calls == []
    finally:
        w.close()
    head = cp.parse(store.checkpoint_paths()[-1].read_text()).checkpoint
    assert _full_tree(store).root(head.size) == head.root


def test_a_writer_loads_the_tree_from_the_frontier(store_dir, monkeypatch):
    store = hooks.open_store(store_dir)
    _fill(store, 30)
    spy = _Spy(monkeypatch)
    with Writer(store) as w:
        assert w.tree.root() == _full_tree(store).root()
    assert "read_log_lines" not in spy.calls  # the whole log was not read


@pytest.mark.parametrize(
    "damage",
    ["flip-a-leaf", "flip-a-top-node", "drop-the-meta", "truncate-leaves", "meta-says-more"],
)
def test_a_damaged_saved_tree_is_rebuilt_from_the_log(store_dir, damage):
    store = hooks.open_store(store_dir)
    _fill(store, 12)
    frontier = logfile.Frontier(store.log_path)
    if damage == "flip-a-top-node":  # the node of leaves 0-7, on the checkpoint's own path
        level = frontier.level_path(3)
        data = bytearray(level.read_bytes())
        data[3] ^= 1
        level.write_bytes(bytes(data))
    elif damage == "drop-the-meta":
        frontier.meta_path.unlink()
    elif damage == "truncate-leaves":
        frontier.level_path(0).write_bytes(frontier.level_path(0).read_bytes()[:-40])
    else:
        m = json.loads(frontier.meta_path.read_bytes())
        m["size"] += 1
        frontier.meta_path.write_text(json.dumps(m))
    head = store.latest_checkpoint()
    assert head is not None
    signed = (head.checkpoint.size, head.checkpoint.root)
    loaded = frontier.load(signed)
    assert loaded.from_frontier is False
    assert loaded.tree.root() == _full_tree(store).root()
    again = logfile.Frontier(store.log_path).load(signed)
    assert again.from_frontier is True  # written anew
    assert again.tree.levels == _full_tree(store).levels


def test_lines_the_saved_tree_missed_are_read_from_its_offset(store_dir):
    """A crash between the log's fsync and the saved tree's update: the next writer hashes
    only the lines after what the saved tree covers."""
    store = hooks.open_store(store_dir)
    _fill(store, 10)
    frontier = logfile.Frontier(store.log_path)
    saved = {p: p.read_bytes() for p in [frontier.meta_path, *frontier.dir.iterdir()]}
    w = Store.open(store_dir).writer().open()
    for i in range(4):
        w.append(_ingest(store, 50 + i))
    w.flush()  # durable in the log; then the process dies before anything else
    w.close()
    for path, data in saved.items():
        path.write_bytes(data)
    head = store.latest_checkpoint()
    assert head is not None
    loaded = frontier.load((head.checkpoint.size, head.checkpoint.root))
    assert loaded.from_frontier is True
    assert loaded.tree.size == 10 + 4 + _stamp_entries(store)
    assert loaded.tree.levels == _full_tree(store).levels


def test_saved_leaves_after_the_checkpoint_are_hashed_again(store_dir):
    store = hooks.open_store(store_dir)
    _fill(store, 12)  # the checkpoint covers 12 entries; its timestamp entry comes after
    frontier = logfile.Frontier(store.log_path)
    leaves = bytearray(frontier.level_path(0).read_bytes())
    leaves[12 * 32] ^= 1
    frontier.level_path(0).write_bytes(bytes(leaves))
    head = store.latest_checkpoint()
    assert head is not None and head.checkpoint.size == 12
    loaded = frontier.load((head.checkpoint.size, head.checkpoint.root))
    assert loaded.from_frontier is True
    assert loaded.tree.levels == _full_tree(store).levels


def test_a_wrong_inner_node_never_reaches_a_receipt(store_dir):
    """A saved node off the checkpoint's own path is checked where it is used: a receipt
    whose proof needs it is verified before it is written, the command stops with a clear
    error, and the next writer, hashing the log again, writes the right receipt."""
    store = hooks.open_store(store_dir)
    _fill(store, 12)
    frontier = logfile.Frontier(store.log_path)
    level1 = frontier.level_path(1)  # node 1 of level 1 covers leaves 2-3: on leaf 0's path
    data = bytearray(level1.read_bytes())
    data[32 + 5] ^= 1
    level1.write_bytes(bytes(data))
    (store.receipts_dir / "00000000.json").unlink()
    (store.receipts_dir / ".upto").write_text("0")
    with pytest.raises(StoreCorrupt, match="does not prove its inclusion"):
        with store.writer():
            pass  # the commit on leaving owes receipt 0
    assert not (store.receipts_dir / "00000000.json").exists()
    w = store.writer().open()
    result = w.commit()
    w.close()
    assert 0 in result.receipts
    report = receipts.verify(json.loads(result.receipts[0].read_bytes()), store.public_key())
    assert report.ok, report.failures


def _stamp_entries(store: Store) -> int:
    return sum(1 for line in store.log_lines() if b'"event":"timestamp"' in line)


def test_hooks_run_in_order_on_open_and_on_every_commit(store_dir):
    store = Store.open(store_dir)
    calls: list[tuple[str, str, int]] = []

    class Hook:
        def __init__(self, name: str) -> None:
            self.name = name

        def on_open(self, writer: Writer) -> None:
            calls.append((self.name, "open", writer.size))

        def on_commit(self, writer: Writer, commit: Commit) -> None:
            calls.append((self.name, "commit", len(writer.committed)))

    store.add_hook(Hook("a"))
    store.add_hook(Hook("b"))
    with store.writer() as w:
        w.append(_ingest(store, 1))
        w.commit()
        w.append(_ingest(store, 2))
        w.append(_ingest(store, 3))
    assert calls == [
        ("a", "open", 0),
        ("b", "open", 0),
        ("a", "commit", 1),
        ("b", "commit", 1),
        ("a", "commit", 2),
        ("b", "commit", 2),
    ]


def test_a_writer_without_hooks_writes_no_receipts_and_the_next_one_pays_them(store_dir):
    bare = Store.open(store_dir)
    _fill(bare, 3)
    assert bare.receipt_paths() == []
    store = hooks.open_store(store_dir)
    w = store.writer().open()
    result = w.commit()  # appends nothing: only what the bare writer left owed
    w.close()
    assert sorted(result.receipts) == [0, 1, 2]
    assert len(store.receipt_paths()) == 3


def test_an_entry_that_breaks_its_schema_never_reaches_the_log(store_dir):
    store = hooks.open_store(store_dir)
    before = store.log_path.read_bytes()
    with pytest.raises(events.SchemaError, match="unknown event"):
        with store.writer() as w:
            w.append({"event": "invented"})
    bad = _ingest(store, 1)
    del bad["precinct"]
    with pytest.raises(events.SchemaError, match="precinct"):
        with store.writer() as w:
            w.append(bad)
    assert store.log_path.read_bytes() == before


def test_the_schema_names_every_problem():
    assert events.problems(
        {
            "event": events.CONFIRM,
            "subject": "a",
            "actor": {},
            "field": "x",
            "value": True,
            "reading_seq": 1,
        }
    ) == ["confirm: field 'value' must be int"]
    found = events.problems({"event": events.INGEST, "item": {"sha256": 1}})
    assert "ingest: field 'actor' must be object" in found
    assert "ingest: item.sha256 must be str" in found
    assert events.RECEIPTED == {events.INGEST}
    assert events.ITEM_EVENTS == {events.INGEST, events.DERIVE}


def test_the_index_catches_up_from_its_offset(store_dir, monkeypatch):
    store = hooks.open_store(store_dir)
    _fill(store, 8)
    bare = Store.open(store_dir)  # another process appends; this index has not seen it
    _fill(bare, 2)
    index = Store.open(store_dir).index
    spy = _Spy(monkeypatch)
    assert index.catch_up() == 2  # the two entries the hook-less writer left unindexed
    assert "read_log_lines" not in spy.calls
    assert index.last_seq() == sum(1 for _ in store.log_lines()) - 1

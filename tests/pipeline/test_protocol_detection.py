"""`dalel run` without ``--kind``: a protocol photo is read by its content; anything else is
never read as one, and the run says which photos were not read and how to read one anyway."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

import ocr
from app import items
from ocr.synth.generate import make_sample
from pipeline import figures as stage
from pipeline.stages import Item, StageResult, Status
from tests.conftest import VALID_IIN, make_photo

FORM = "kz-mazhilis-party-list-2023"


def _entries(store_dir: Path, event: str) -> list[dict]:
    lines = (store_dir / "log" / "custody.jsonl").read_bytes().splitlines()
    return [e for e in (json.loads(ln)["entry"] for ln in lines) if e["event"] == event]


def _ingested(store_dir: Path) -> dict[str, str]:
    """File name -> SHA-256 of what was handed in."""
    return {e["name"]: e["item"]["sha256"] for e in _entries(store_dir, "ingest")}


def _protocol(folder: Path, name: str, form_id: str = FORM) -> Path:
    s = make_sample(1, 5, form_id=form_id, tier="clean", script="typed", layout="table")
    path = folder / f"{name}.{s.ext}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(s.image)
    return path


def _scene(path: Path) -> Path:
    """A real photograph of a person (scikit-image's public-domain astronaut): no protocol."""
    from skimage import data

    buf = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buf, format="PNG")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return path


@pytest.mark.slow
def test_run_without_kind_reads_a_protocol_by_its_content_and_nothing_else(
    store_dir, tmp_path, dalel
):
    inbox = tmp_path / "inbox"
    _protocol(inbox, "protocol-12")
    _protocol(inbox, "maslikhat-protocol", "kz-maslikhat-party-list-2023")  # another form
    _scene(inbox / "scene.png")
    make_photo(inbox / "tiny.jpg")
    (inbox / "note.txt").write_text("the count began at 20:00\n")  # no photo: never looked at
    r = dalel("--store", store_dir, "run", inbox, "--observer", VALID_IIN, "--precinct", "12")
    assert r.code == 0, r.err
    sha = _ingested(store_dir)
    (reading,) = _entries(store_dir, "ocr")  # the one protocol of the store's form, only
    assert reading["subject"] == sha["protocol-12.png"]
    assert reading["form"] == FORM and reading["protocol_by"] == "content"
    accepted = [f for f in reading["figures"].values() if f["status"] == "accepted"]
    assert accepted, "a clean protocol read by its content gives figures"
    # the run says what it read and, plainly, what it did not and how to read one anyway
    assert "1 protocol photo(s) read (1 of them handed in without --kind" in r.out
    said = r.out[r.out.index("not read as protocols: ") :]
    assert said.startswith("not read as protocols: 3 photo(s) handed in as kind 'other'")
    for name, why in (
        ("maslikhat-protocol.png", "form_mismatch"),
        ("scene.png", "not_a_protocol"),
        ("tiny.jpg", "image_too_small"),
    ):
        at = said.index(f"{name}  sha256 {sha[name]}")
        assert why in said[at:].splitlines()[1]
    assert "fix: if one of them is a protocol, read it as one: dalel ocr --item SHA256" in r.out
    assert "note.txt" not in said
    # what `figures show` has is the protocol alone
    shown = dalel("--store", store_dir, "figures", "show", "--precinct", "12", "--json").json()
    assert [p["item"] for g in shown for p in g["photos"]] == [sha["protocol-12.png"]]
    # running again adds nothing and has nothing more to say
    again = dalel(
        "--store", store_dir, "run", inbox, "--observer", VALID_IIN, "--precinct", "12", "--json"
    )
    assert again.json()["summary"]["protocols"] == {
        "read": 0,
        "found_by_content": 0,
        "not_read_as_protocols": 0,
        "why_not": {},
        "fix": None,
    }


def test_a_photo_not_read_is_read_as_a_protocol_when_a_person_asks(store_dir, tmp_path, dalel):
    inbox = tmp_path / "inbox"
    make_photo(inbox / "tiny.jpg")
    r = dalel(
        "--store", store_dir, "run", inbox, "--observer", VALID_IIN, "--precinct", "5", "--json"
    )
    assert r.code == 0, r.err
    summary = r.json()["summary"]["protocols"]
    assert summary["not_read_as_protocols"] == 1 and summary["why_not"] == {"image_too_small": 1}
    assert summary["fix"] == items.NOT_READ_FIX
    (not_read,) = [x for x in r.json()["results"] if x["stage"] == "ocr"]
    assert not_read["status"] == "skipped" and not_read["not_a_protocol"] == "image_too_small"
    assert _entries(store_dir, "ocr") == []
    sha = _ingested(store_dir)["tiny.jpg"]
    # the fix the run gave works: the photo gets a reading, which says why it has no figures
    read = dalel("--store", store_dir, "ocr", "--item", sha[:12], "--json")
    assert read.code == 0, read.err
    assert [x["status"] for x in read.json()] == ["done"]
    (entry,) = _entries(store_dir, "ocr")
    assert entry["protocol_by"] == "request" and entry["problem"] == "image_too_small"
    assert all(f["status"] == "unreadable" for f in entry["figures"].values())
    # `figures show` says why, in text as in JSON
    shown = dalel("--store", store_dir, "figures", "show", "--precinct", "5", "--json").json()
    assert shown[0]["photos"][0]["problem"] == "image_too_small"
    text = dalel("--store", store_dir, "figures", "show", "--precinct", "5").out
    assert f"{sha[:10]} not read: image_too_small (the image is too small to read)" in text
    # and a person can now record the figures beside it
    confirm = dalel(
        "--store", store_dir, "figures", "confirm", "--item", sha[:12],
        "--field", "voters_voted", "--value", "5", "--by", "x",
    )  # fmt: skip
    assert confirm.code == 0, confirm.err
    both = dalel("--store", store_dir, "ocr", "--item", sha, "--precinct", "5")
    assert both.code == 2 and "fix:" in both.err


def test_a_declared_kind_is_taken_at_its_word(store_dir, tmp_path, dalel):
    """A file handed in as a violation is never looked at for a protocol (nor counted)."""
    inbox = tmp_path / "inbox"
    make_photo(inbox / "tiny.jpg")
    r = dalel(
        "--store", store_dir, "run", inbox, "--observer", VALID_IIN, "--precinct", "5",
        "--kind", "violation", "--json",
    )  # fmt: skip
    assert r.code == 0, r.err
    assert r.json()["summary"]["protocols"]["not_read_as_protocols"] == 0
    (result,) = [x for x in r.json()["results"] if x["stage"] == "ocr"]
    assert result["status"] == "skipped" and "not_a_protocol" not in result


def test_without_the_ocr_engine_a_run_goes_on_and_says_what_it_did_not_look_at(
    store_dir, tmp_path, dalel, monkeypatch
):
    def missing() -> dict:
        raise ocr.MissingDependency("tesseract is not installed")

    monkeypatch.setattr(ocr, "engine_versions", missing)
    inbox = tmp_path / "inbox"
    make_photo(inbox / "tiny.jpg")
    r = dalel(
        "--store", store_dir, "run", inbox, "--observer", VALID_IIN, "--precinct", "5", "--json"
    )
    assert r.code == 0, r.err
    protocols = r.json()["summary"]["protocols"]
    assert protocols["why_not"] == {stage.OCR_UNAVAILABLE: 1}


def _reading(problem: ocr.Reason | None, found: int, of: int = 14) -> ocr.ProtocolReading:
    fields = tuple(
        ocr.FieldReading(
            f"k{i}",
            None,
            ocr.Status.UNREADABLE,
            0.0,
            "",
            None,
            None,
            (),
            (0, 0, 0, 0),
            problem or (ocr.Reason.FIGURE_NOT_FOUND if i < found else ocr.Reason.LABEL_NOT_FOUND),
        )
        for i in range(of)
    )
    return ocr.ProtocolReading(FORM, "0" * 64, fields, (), 0.0, problem)


@pytest.mark.parametrize(
    ("problem", "found", "protocol"),
    [
        (None, 14, True),
        (None, 7, True),
        (None, 6, False),  # the reader takes 30% of the labels; a photo nobody called a
        (None, 0, False),  # protocol must show half of them
        (ocr.Reason.NOT_A_PROTOCOL, 0, False),
        (ocr.Reason.FORM_MISMATCH, 14, False),
        (ocr.Reason.TOO_SMALL, 0, False),
    ],
)
def test_what_reads_as_a_protocol(problem, found, protocol):
    assert stage.reads_as_protocol(_reading(problem, found)) is protocol


def test_the_summary_counts_what_the_ocr_stage_said():
    item = Item("a" * 64, "5", "other", "image/png", 1)
    results = [
        StageResult("intake", "x.png", Status.DONE, "stored", item),
        StageResult("ocr", "a" * 64, Status.DONE, "14/14", item, (3,), {"protocol_by": "content"}),
        StageResult("ocr", "b" * 64, Status.DONE, "14/14", item, (4,), {"accepted": 14}),
        StageResult("ocr", "c" * 64, Status.SKIPPED, "", item, (), {"not_a_protocol": "x"}),
        StageResult("ocr", "d" * 64, Status.SKIPPED, "not a protocol photo", item),
    ]
    p = items.protocols_read(results)
    assert (p.read, p.found, p.not_read) == (2, 1, (("c" * 64, "x"),))
    assert p.to_dict()["why_not"] == {"x": 1} and p.fix == items.NOT_READ_FIX

"""A reading with a reader's absurd string of digits is still recorded: found when a real
handwritten photo stopped `dalel ocr` (a row of ink read as an 18-digit figure, which
canonical JSON cannot carry exactly)."""

from __future__ import annotations

from evidence.core import custody
from ocr import decide
from ocr import figures as fig
from pipeline.figures import JSON_SAFE, _exact


def test_numbers_beyond_json_are_kept_as_strings_and_the_rest_untouched() -> None:
    reading = {"fields": {"a": {"value": 12, "candidates": [400648081010016100, 7], "ok": True}}}
    safe = _exact(reading)
    assert safe["fields"]["a"]["candidates"] == ["400648081010016100", 7]
    assert safe["fields"]["a"]["value"] == 12 and safe["fields"]["a"]["ok"] is True
    assert custody.canonical(safe)  # would raise on the raw number
    assert _exact(JSON_SAFE) == JSON_SAFE and _exact(-(JSON_SAFE + 1)) == str(-(JSON_SAFE + 1))


def test_a_reader_s_ten_digit_string_is_no_candidate() -> None:
    model = fig.ModelReading(None, 0.0, ())
    cands = decide._candidates([(400648081010016100, 0.9), (62, 0.5)], 62, model)
    assert cands == [62]

"""An IIN written with spaces, hyphens, dots or full-width digits is scrubbed like a plain one,
into the same pseudonym; twelve digits failing the check digit stay as they are."""

from __future__ import annotations

import pytest

from evidence.content import privacy
from tests.conftest import VALID_IIN

SECRET = b"s" * 32


@pytest.mark.parametrize(
    "written",
    [
        VALID_IIN,
        "870412 300416",
        "8704 1230 0416",
        "870-412-300-416",
        "870412.300416",
        "870412\u00a0300416",
        "".join(chr(0xFF10 + int(c)) for c in VALID_IIN),  # full-width digits
        "".join(chr(0x0660 + int(c)) for c in VALID_IIN),  # Arabic-Indic digits
    ],
)
def test_every_written_form_of_an_iin_is_scrubbed_to_one_pseudonym(written):
    text = f"протокол, наблюдатель {written}, участок 31.jpg"
    out = privacy.scrub(SECRET, text)
    assert out == f"протокол, наблюдатель [{privacy.pseudonym(SECRET, VALID_IIN)}], участок 31.jpg"


@pytest.mark.parametrize("text", ["870412 300417", "tel 8 701 234 56 78", "2026-12-03 10:15"])
def test_digits_that_are_not_an_iin_are_left(text):
    assert privacy.scrub(SECRET, text) == text

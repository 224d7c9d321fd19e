"""Observers' personal data: IIN checks, pseudonyms, and scrubbing IINs out of free text.

A Kazakh IIN (individual identification number) has 12 digits, the last a check digit:
the first eleven digits weighted 1..11, sum mod 11; if that is 10, weighted 3..11,1,2; if
it is 10 again the number is never issued. No IIN is stored in clear text anywhere: the
log holds an HMAC-SHA256 pseudonym under the store's secret.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from typing import Any

from base.errors import InvalidObserverId

_W1 = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
_W2 = (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)
_TWELVE_DIGITS = re.compile(r"(?<!\d)\d(?:[ \-.\u00a0\u2009\u202f\u2011]?\d){11}(?!\d)")
"""Twelve digits, of any script (full-width ones too), each pair perhaps split by one space,
hyphen or dot: how an IIN is written by hand or pasted."""


def iin_check_digit(first11: str) -> int | None:
    """The check digit for 11 digits, or None when no valid IIN starts with them."""
    digits = [int(c) for c in first11]
    s = sum(d * w for d, w in zip(digits, _W1, strict=False)) % 11
    if s == 10:
        s = sum(d * w for d, w in zip(digits, _W2, strict=False)) % 11
        if s == 10:
            return None
    return s


def is_valid_iin(text: str) -> bool:
    """True for 12 digits whose last is the right check digit."""
    if len(text) != 12 or not text.isascii() or not text.isdigit():
        return False
    return iin_check_digit(text[:11]) == int(text[11])


def looks_like_iin(text: str) -> bool:
    """An observer ID of exactly 12 digits is taken to be an IIN."""
    t = text.strip()
    return len(t) == 12 and t.isascii() and t.isdigit()


def pseudonym(secret: bytes, observer_id: str) -> str:
    """The stable pseudonym of an observer under the store's secret: ``obs-`` + 20 hex."""
    mac = hmac.new(secret, b"dalel-observer\x00" + observer_id.strip().encode(), hashlib.sha256)
    return "obs-" + mac.hexdigest()[:20]


def observer_pseudonym(secret: bytes, observer_id: str) -> str:
    """Check an observer ID and return its pseudonym.

    Every observer ID is pseudonymised; one that looks like an IIN must also pass the
    check digit, or it is refused (a typo would otherwise split one observer in two).
    """
    oid = observer_id.strip()
    if not oid:
        raise InvalidObserverId("the observer ID is empty", fix="pass --observer ID")
    if looks_like_iin(oid) and not is_valid_iin(oid):
        raise InvalidObserverId(
            "the observer ID has 12 digits like an IIN, but its check digit is wrong",
            fix="check the IIN for a typo and run the command again",
        )
    return pseudonym(secret, oid)


def scrub(secret: bytes, text: str) -> str:
    """Replace every valid IIN inside free text (file names, notes) by its pseudonym."""

    def replace(m: re.Match[str]) -> str:
        digits = "".join(str(unicodedata.digit(c)) for c in m.group() if c.isdigit())
        return f"[{pseudonym(secret, digits)}]" if is_valid_iin(digits) else m.group()

    return _TWELVE_DIGITS.sub(replace, text)


def scrub_all(secret: bytes, value: Any) -> Any:
    """:func:`scrub` every string inside ``value`` (dicts, lists, tuples; keys included), for
    what a file says about itself (EXIF text, libmagic's description) on its way into the log."""
    if isinstance(value, str):
        return scrub(secret, value)
    if isinstance(value, dict):
        return {scrub_all(secret, k): scrub_all(secret, v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub_all(secret, v) for v in value]
    return value

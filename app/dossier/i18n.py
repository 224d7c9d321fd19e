"""Translations of the dossier templates (``templates/i18n/<lang>.json``).

Every word a dossier shows comes from these files; Python only picks the key, the plural
form and fills in numbers, dates and names.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from importlib import resources
from zoneinfo import ZoneInfo

from base.errors import BrokenEnvironment

LANGUAGES: tuple[str, ...] = ("ru", "kk", "en")
"""Languages a dossier can be written in."""


class MissingTranslation(BrokenEnvironment, KeyError):
    """A template asked for a key that the language's file does not have (exit code 4)."""


def plural_category(language: str, n: int) -> str:
    """CLDR plural category of ``n`` in ``language`` (``one``, ``few``, ``many``, ``other``)."""
    n = abs(n)
    if language == "ru":
        if n % 10 == 1 and n % 100 != 11:
            return "one"
        if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
            return "few"
        return "many"
    if language == "en":
        return "one" if n == 1 else "other"
    return "other"


@dataclass(frozen=True)
class Translator:
    """The messages of one language."""

    language: str
    """Language code."""
    messages: Mapping[str, object]
    """Key to text, or to a mapping of plural category to text."""
    timezone: str = "Asia/Almaty"
    """Zone in which times are shown."""

    def has(self, key: str) -> bool:
        """True when ``key`` is translated."""
        return key in self.messages

    def t(self, key: str, **values: object) -> str:
        """The text of ``key`` with ``{placeholders}`` filled; raises MissingTranslation."""
        try:
            text = self.messages[key]
        except KeyError:
            raise MissingTranslation(f"{self.language}: no translation for {key!r}") from None
        if not isinstance(text, str):
            raise MissingTranslation(f"{self.language}: {key!r} is a plural message")
        return text.format(**values) if values else text

    def t_opt(self, key: str, fallback: str) -> str:
        """The text of ``key``, or ``fallback`` (data such as an unknown source key)."""
        text = self.messages.get(key)
        return text if isinstance(text, str) else fallback

    def plural(self, key: str, n: int) -> str:
        """The plural form of ``key`` for ``n``, with ``{n}`` filled."""
        forms = self.messages.get(key)
        if not isinstance(forms, Mapping):
            raise MissingTranslation(f"{self.language}: no plural message {key!r}")
        category = plural_category(self.language, n)
        text = forms.get(category) or forms.get("other") or forms.get("many")
        if not isinstance(text, str):
            raise MissingTranslation(f"{self.language}: {key!r} lacks form {category!r}")
        return text.format(n=self.fmt_int(n))

    def fmt_int(self, n: int | None) -> str:
        """An integer with the language's thousands separator; a dash for None."""
        if n is None:
            return "—"
        sep = self.t("format.thousands")
        return f"{n:,}".replace(",", sep)

    def fmt_date(self, d: date) -> str:
        """A date in the language's format."""
        return self.t("format.date", d=d.day, m=d.month, y=d.year)

    def fmt_dt_short(self, moment: datetime | None) -> str:
        """A time in the dossier's zone without seconds or offset (for tables)."""
        if moment is None:
            return "—"
        if moment.tzinfo is None:
            raise ValueError("times shown in a dossier must be timezone-aware")
        local = moment.astimezone(ZoneInfo(self.timezone))
        return self.t(
            "format.datetime_short",
            d=local.day,
            m=local.month,
            y=local.year,
            H=local.hour,
            M=local.minute,
        )

    def utc_offset(self, moment: datetime) -> str:
        """``+05:00``-style offset of the dossier's zone at ``moment``."""
        offset = moment.astimezone(ZoneInfo(self.timezone)).strftime("%z")
        return f"{offset[:3]}:{offset[3:]}"

    def fmt_dt(self, moment: datetime | None) -> str:
        """A timezone-aware time shown in the dossier's zone, with its UTC offset."""
        if moment is None:
            return "—"
        if moment.tzinfo is None:
            raise ValueError("times shown in a dossier must be timezone-aware")
        local = moment.astimezone(ZoneInfo(self.timezone))
        offset = local.strftime("%z")
        offset = f"{offset[:3]}:{offset[3:]}"
        return self.t(
            "format.datetime",
            d=local.day,
            m=local.month,
            y=local.year,
            H=local.hour,
            M=local.minute,
            S=local.second,
            offset=offset,
        )


def load_translator(language: str, timezone: str = "Asia/Almaty") -> Translator:
    """Load ``templates/i18n/<language>.json``."""
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}; use one of {', '.join(LANGUAGES)}")
    try:
        raw = resources.files("templates").joinpath(f"i18n/{language}.json").read_bytes()
    except OSError as exc:
        raise MissingTranslation(f"cannot read translations for {language}: {exc}") from exc
    return Translator(language=language, messages=json.loads(raw), timezone=timezone)

"""Numbers written in words ("прописью"), Russian and Kazakh, both ways.

``parse_number_words`` is strict: it returns an integer only for a well-formed
number phrase (every word known, in a valid order), tolerating a single OCR slip in
longer words and Kazakh letters read as their Russian look-alikes; else None.
"""

from __future__ import annotations

import re
from functools import lru_cache

_RU_UNITS_M = ["", "один", "два", "три", "четыре", "пять", "шесть", "семь", "восемь", "девять"]
_RU_UNITS_F = ["", "одна", "две", "три", "четыре", "пять", "шесть", "семь", "восемь", "девять"]
_RU_TEENS = [
    "десять",
    "одиннадцать",
    "двенадцать",
    "тринадцать",
    "четырнадцать",
    "пятнадцать",
    "шестнадцать",
    "семнадцать",
    "восемнадцать",
    "девятнадцать",
]
_RU_TENS = [
    "",
    "",
    "двадцать",
    "тридцать",
    "сорок",
    "пятьдесят",
    "шестьдесят",
    "семьдесят",
    "восемьдесят",
    "девяносто",
]
_RU_HUNDREDS = [
    "",
    "сто",
    "двести",
    "триста",
    "четыреста",
    "пятьсот",
    "шестьсот",
    "семьсот",
    "восемьсот",
    "девятьсот",
]
_RU_SCALES = [("тысяча", "тысячи", "тысяч"), ("миллион", "миллиона", "миллионов")]

_KK_UNITS = ["", "бір", "екі", "үш", "төрт", "бес", "алты", "жеті", "сегіз", "тоғыз"]
_KK_TENS = ["", "он", "жиырма", "отыз", "қырық", "елу", "алпыс", "жетпіс", "сексен", "тоқсан"]

#: Kazakh-specific letters (and ё) folded to the Russian look-alike OCR tends to give;
#: shared with :mod:`ocr.layout`, whose Latin look-alikes differ.
KAZAKH_AS_RUSSIAN = {
    "ә": "а",
    "ғ": "г",
    "қ": "к",
    "ң": "н",
    "ө": "о",
    "ұ": "у",
    "ү": "у",
    "һ": "х",
    "і": "и",
    "ё": "е",
}

_FOLD = str.maketrans(
    {
        **KAZAKH_AS_RUSSIAN,
        "i": "и",
        "a": "а",
        "e": "е",
        "o": "о",
        "p": "р",
        "c": "с",
        "x": "х",
        "y": "у",
        "k": "к",
        "m": "м",
        "t": "т",
        "b": "в",
        "h": "н",
    }
)


def _fold(word: str) -> str:
    return word.lower().translate(_FOLD)


def _ru_triple(n: int, feminine: bool) -> list[str]:
    units = _RU_UNITS_F if feminine else _RU_UNITS_M
    out = []
    h, rest = divmod(n, 100)
    if h:
        out.append(_RU_HUNDREDS[h])
    if 10 <= rest < 20:
        out.append(_RU_TEENS[rest - 10])
    else:
        t, u = divmod(rest, 10)
        if t:
            out.append(_RU_TENS[t])
        if u:
            out.append(units[u])
    return out


def _ru_scale_word(n: int, forms: tuple[str, str, str]) -> str:
    if 11 <= n % 100 <= 14:
        return forms[2]
    if n % 10 == 1:
        return forms[0]
    if 2 <= n % 10 <= 4:
        return forms[1]
    return forms[2]


def to_words_ru(n: int) -> str:
    """``n`` (0 <= n < 10**9) in Russian words, as a protocol writes it."""
    if not 0 <= n < 10**9:
        raise ValueError("out of range")
    if n == 0:
        return "ноль"
    millions, rest = divmod(n, 10**6)
    thousands, units = divmod(rest, 1000)
    words: list[str] = []
    if millions:
        words += _ru_triple(millions, False) + [_ru_scale_word(millions, _RU_SCALES[1])]
    if thousands:
        words += _ru_triple(thousands, True) + [_ru_scale_word(thousands, _RU_SCALES[0])]
    words += _ru_triple(units, False)
    return " ".join(words)


def _kk_triple(n: int) -> list[str]:
    out = []
    h, rest = divmod(n, 100)
    if h:
        out += ([] if h == 1 else [_KK_UNITS[h]]) + ["жүз"]
    t, u = divmod(rest, 10)
    if t:
        out.append(_KK_TENS[t])
    if u:
        out.append(_KK_UNITS[u])
    return out


def to_words_kk(n: int) -> str:
    """``n`` (0 <= n < 10**9) in Kazakh words."""
    if not 0 <= n < 10**9:
        raise ValueError("out of range")
    if n == 0:
        return "нөл"
    millions, rest = divmod(n, 10**6)
    thousands, units = divmod(rest, 1000)
    words: list[str] = []
    if millions:
        words += _kk_triple(millions) + ["миллион"]
    if thousands:
        words += _kk_triple(thousands) + ["мың"]
    words += _kk_triple(units)
    return " ".join(words)


# kind, value. kinds: zero, unit, teen, ten, hundred (ru: full hundreds), hmul (kk жүз), scale
_VOCAB: dict[str, tuple[str, int]] = {}


def _add(word: str, kind: str, value: int) -> None:
    _VOCAB[_fold(word)] = (kind, value)


for _i in range(1, 10):
    _add(_RU_UNITS_M[_i], "unit", _i)
    _add(_RU_UNITS_F[_i], "unit", _i)
    _add(_KK_UNITS[_i], "unit", _i)
    _add(_RU_HUNDREDS[_i], "hundred", _i * 100)
    _add(_KK_TENS[_i], "ten", _i * 10)
    if _i >= 2:
        _add(_RU_TENS[_i], "ten", _i * 10)
_add("одно", "unit", 1)
for _i, _w in enumerate(_RU_TEENS):
    _add(_w, "teen", 10 + _i)
for _w in _RU_SCALES[0]:
    _add(_w, "scale", 1000)
for _w in _RU_SCALES[1]:
    _add(_w, "scale", 10**6)
_add("мың", "scale", 1000)
_add("жүз", "hmul", 100)
_add("ноль", "zero", 0)
_add("нуль", "zero", 0)
_add("нөл", "zero", 0)
# Kazakh "ө" read by a Russian model is as often "е" as "о" ("төрт" read "терт"); no
# Russian or Kazakh number word is spelt so
_add("терт", "unit", 4)


#: The vocabulary by the length of its words (a word further than the fuzzy limit in length
#: is further than it in spelling).
_BY_LENGTH: dict[int, list[tuple[str, tuple[str, int]]]] = {}
for _word, _entry in _VOCAB.items():
    _BY_LENGTH.setdefault(len(_word), []).append((_word, _entry))


def _levenshtein(a: str, b: str, limit: int) -> int:
    """The edit distance of ``a`` and ``b``, or ``limit + 1`` as soon as it must exceed
    ``limit`` (a row's least value never falls again)."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        if min(cur) > limit:
            return limit + 1
        prev = cur
    return min(prev[-1], limit + 1)


@lru_cache(maxsize=1 << 14)
def _lookup(token: str) -> tuple[str, int] | None:
    if token in _VOCAB:
        return _VOCAB[token]
    limit = 0 if len(token) < 5 else (1 if len(token) < 9 else 2)
    if limit == 0:
        return None
    best: list[tuple[int, tuple[str, int]]] = []
    near = (
        w for n in range(len(token) - limit, len(token) + limit + 1) for w in _BY_LENGTH.get(n, ())
    )
    for word, entry in near:
        d = _levenshtein(token, word, limit)
        if d <= limit:
            best.append((d, entry))
    if not best:
        return None
    dmin = min(d for d, _ in best)
    entries = {e for d, e in best if d == dmin}
    return entries.pop() if len(entries) == 1 else None


def _lookup_glued(token: str, exact: bool) -> list[tuple[str, int]] | None:
    """Two number words read as one ("стосемьдесят"): the one way to cut ``token`` into
    two words of the vocabulary (``exact``: spelt exactly, else within the fuzzy limit),
    or None if there is none or more than one."""
    look = _VOCAB.get if exact else _lookup
    found = set()
    for i in range(3, len(token) - 2):
        a, b = look(token[:i]), look(token[i:])
        if a is not None and b is not None:
            found.add((a, b))
    return list(found.pop()) if len(found) == 1 else None


_DIGIT_LOOKALIKE = str.maketrans({"0": "о", "3": "з", "6": "б"})


def _tokens(text: str) -> list[str]:
    out = []
    for t in re.split(r"[^\w]+", _fold(text)):
        if not t or t.isdigit() or t == "_":
            continue
        if any(c.isdigit() for c in t):  # "ст0": a letter read as a digit
            t = t.translate(_DIGIT_LOOKALIKE)
        out.append(t)
    return out


@lru_cache(maxsize=1 << 14)
def parse_number_words(text: str) -> int | None:
    """Integer written in ``text`` in Russian or Kazakh words, or None if not a valid number.
    Remembered: a page's every word is asked whether it is a number word, again at each
    reading of the page (the fuzzy look-up was a third of a CPU-second on a hard photo)."""
    toks = _tokens(text)
    if not toks:
        return None
    entries = []
    for t in toks:
        # two words glued, each spelt exactly, beat one word misspelt ("стосемьдесят" is
        # "сто семьдесят", not "восемьдесят" with two letters wrong)
        glued = _lookup_glued(t, exact=True) if t not in _VOCAB and len(t) >= 6 else None
        e = None if glued else _lookup(t)
        if e is not None:
            entries.append(e)
            continue
        if glued is None and len(t) >= 6:
            glued = _lookup_glued(t, exact=False)
        if glued is None:
            return None
        entries.extend(glued)
    if entries[0][0] == "zero":
        return 0 if len(entries) == 1 else None
    total = 0
    group = 0
    has_h = has_t = has_u = False
    last_scale = 10**12
    for kind, v in entries:
        if kind == "zero":
            return None
        if kind == "unit":
            if has_u:
                return None
            group += v
            has_u = True
        elif kind == "teen":
            if has_t or has_u:
                return None
            group += v
            has_t = has_u = True
        elif kind == "ten":
            if has_t or has_u:
                return None
            group += v
            has_t = True
        elif kind == "hundred":
            if has_h or has_t or has_u:
                return None
            group += v
            has_h = True
        elif kind == "hmul":
            if has_h or has_t:
                return None
            group = (group if has_u else 1) * 100
            has_h, has_u = True, False
        elif kind == "scale":
            if v >= last_scale:
                return None
            total += (group or 1) * v
            last_scale = v
            group = 0
            has_h = has_t = has_u = False
    return total + group

"""Numbers in words, Russian and Kazakh: round trip, OCR slips, and strict refusal."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocr import parse_number_words, to_words_kk, to_words_ru


@pytest.mark.parametrize(
    "n, ru, kk",
    [
        (0, "ноль", "нөл"),
        (21, "двадцать один", "жиырма бір"),
        (100, "сто", "жүз"),
        (1001, "одна тысяча один", "мың бір"),
        (2512, "две тысячи пятьсот двенадцать", "екі мың бес жүз он екі"),
        (5000, "пять тысяч", "бес мың"),
        (11_345, "одиннадцать тысяч триста сорок пять", "он бір мың үш жүз қырық бес"),
    ],
)
def test_known_phrases(n: int, ru: str, kk: str) -> None:
    assert to_words_ru(n) == ru
    assert to_words_kk(n).replace("бір мың", "мың") == kk.replace("бір мың", "мың")
    assert parse_number_words(ru) == n
    assert parse_number_words(kk) == n


@given(st.integers(0, 999_999_999))
def test_round_trip(n: int) -> None:
    assert parse_number_words(to_words_ru(n)) == n
    assert parse_number_words(to_words_kk(n)) == n


@pytest.mark.parametrize(
    "text, n",
    [
        ("ДВЕ ТЫСЯЧИ ПЯТЬСОТ ДВЕНАДЦАТЬ", 2512),  # capitals
        ("две тысячи пятьсог двенадцать", 2512),  # one OCR slip in a long word
        ("екі мың бес жуз он екі", 2512),  # Kazakh letters read as Russian
        ("две тысячи\nпятьсот двенадцать.", 2512),  # line break and punctuation
        ("двe тысячи", 2000),  # a Latin e
        ("кырык терт", 44),  # Kazakh "ө" read "е" by the Russian model (a two-column page)
        ("терт жуз он", 410),
    ],
)
def test_ocr_noise_is_tolerated(text: str, n: int) -> None:
    assert parse_number_words(text) == n


@pytest.mark.parametrize(
    "text",
    [
        "",
        "двадцать тридцать",
        "сто сто",
        "пять двадцать",
        "тысяча тысяча",
        "ноль пять",
        "Против всех",
        "Число избирателей",
        "пять тысяч миллион",
        "два трм",
    ],
)
def test_not_a_number_is_none(text: str) -> None:
    assert parse_number_words(text) is None


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("стосемьдесЯт семь", 177),  # not "восемьдесят" misspelt: two words glued
        ("двестипять", 205),
        ("жүзжетпіс үш", 173),
        ("восемьсот", 800),  # a word of its own is never cut
        ("семьдесят", 70),
    ],
)
def test_two_number_words_read_as_one_are_cut(text: str, value: int) -> None:
    assert parse_number_words(text) == value


def _edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


@given(
    st.text(alphabet="аеиост", max_size=12),
    st.text(alphabet="аеиост", max_size=12),
    st.integers(0, 3),
)
def test_edit_distance_stops_early_but_never_wrongly(a: str, b: str, limit: int) -> None:
    """The fuzzy look-up's edit distance gives up once a row of its table is past the limit
    (a hard photo asked it 94,000 times): within the limit it is the exact distance, past
    it ``limit + 1``."""
    from ocr.numwords import _levenshtein

    d = _edit_distance(a, b)
    assert _levenshtein(a, b, limit) == (d if d <= limit else limit + 1)


def test_a_word_is_looked_up_once() -> None:
    """Every word of a page is asked whether it is a number word, again at each reading of
    the page: the answer is remembered, and the same as worked out afresh."""
    parse_number_words.cache_clear()
    first = parse_number_words("двести пятнадцать")
    assert first == 215 == parse_number_words("двести пятнадцать")
    assert parse_number_words.__wrapped__("двести пятнадцать") == first
    assert parse_number_words.cache_info().hits == 1


@given(st.data())
def test_fuzzy_look_up_checks_only_words_of_near_length(data: st.DataObject) -> None:
    """The fuzzy look-up compares a token only with the words whose length is within its
    limit: the same answer as comparing it with every word of the vocabulary."""
    from ocr.numwords import _VOCAB, _lookup

    token = data.draw(st.sampled_from(sorted(_VOCAB)))
    ops = st.tuples(st.sampled_from("sid"), st.integers(0, 20), st.sampled_from("аеотсьд"))
    for op, at, letter in data.draw(st.lists(ops, max_size=3)):
        at %= len(token)
        if op == "s":
            token = token[:at] + letter + token[at + 1 :]
        elif op == "i":
            token = token[:at] + letter + token[at:]
        elif len(token) > 1:
            token = token[:at] + token[at + 1 :]
    limit = 0 if len(token) < 5 else (1 if len(token) < 9 else 2)
    near = {
        e: min(_edit_distance(token, w) for w, e2 in _VOCAB.items() if e2 == e)
        for e in set(_VOCAB.values())
    }
    within = {e: d for e, d in near.items() if d <= limit}
    if token in _VOCAB:
        expected = _VOCAB[token]
    elif limit == 0 or not within:
        expected = None
    else:
        best = [e for e, d in within.items() if d == min(within.values())]
        expected = best[0] if len(best) == 1 else None
    assert _lookup.__wrapped__(token) == expected

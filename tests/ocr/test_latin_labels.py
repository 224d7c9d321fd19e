"""A label with a Latin word ("«Respublica» партиясы") that Tesseract's Cyrillic models
garble past matching is found by reading the unclaimed lines again in Latin letters."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ocr import load_form, read_protocol
from ocr.engine import Word
from ocr.layout import LATIN_LINES_MAX, LabelHit, Line, find_latin_labels, latin_words
from ocr.result import Reason, Status
from ocr.synth import make_sample

FORM = load_form("kz-mazhilis-party-list-2023")


def _line(index: int, text: str, y: int) -> Line:
    words, x = [], 100
    for t in text.split():
        words.append(Word(t, 90.0, (x, y, 12 * len(t), 20), (1, 1, 1)))
        x += 12 * len(t) + 10
    return Line(index, tuple(words), text, (100, y, x - 10, y + 20), (1, index))


def _counted(
    read_latin: Callable[[list[Line]], list[str]], asked: list[int]
) -> Callable[[list[Line]], list[str]]:
    """``read_latin``, noting in ``asked`` the lines it is asked to read."""

    def counted(cands: list[Line]) -> list[str]:
        asked.extend(ln.index for ln in cands)
        return read_latin(cands)

    return counted


def _found_but(missing: set[str]) -> dict[str, list[LabelHit]]:
    return {
        k: [LabelHit(k, "ru", 0.95, (100 + n,), (100, 1000 + 40 * n, 400, 1020 + 40 * n))]
        for n, k in enumerate(FORM.keys)
        if k not in missing
    }


def test_latin_words_of_a_label() -> None:
    assert latin_words("«Respublica» партиясы") == ["respublica"]
    assert latin_words("Партия «AMANAT»") == ["amanat"]
    assert latin_words("Демократическая партия Казахстана «Ак жол»") == []


def test_a_garbled_latin_name_is_found_in_its_latin_reading() -> None:
    """Tesseract's Cyrillic models read "«Respublica» партиясы" "«КевраБаса» партиясы",
    past matching; its English model reads "«Respublica» napruscer". That line is the
    label's, in Kazakh (its other word is Kazakh's). A heading read in Latin letters
    ("Bepinren faybictap canbt") is no one's."""
    lines = [
        _line(0, "Берілген дауыстар саны", 100),
        _line(1, "12 «КевраБаса» партиясы", 300),
    ]
    hits = _found_but({"respublica"})
    asked: list[list[int]] = []

    def read_latin(cands: list[Line]) -> list[str]:
        asked.append([ln.index for ln in cands])
        latin = {0: "Bepinren faybictap canbt", 1: "12 «Respublica» napruscer"}
        return [latin[ln.index] for ln in cands]

    assert find_latin_labels(FORM, lines, hits, read_latin) == {"respublica"}
    assert asked == [[0, 1]]
    (hit,) = hits["respublica"]
    assert (hit.lang, hit.lines, hit.score) == ("kk", (1,), 1.0)


def test_a_latin_name_two_letters_off_still_counts_three_do_not() -> None:
    """A Latin reading "eRespubhica»" (a letter off, glued to a quote read as "e") is
    Respublica; "Rezpubhika" (three of ten letters off) is not. Two lines that both read
    it in one language are neither its label (a page prints a label once a language)."""
    lines = [_line(0, "Партия «Нехрибіксав", 300)]

    def reading(text: str) -> dict[str, list[LabelHit]]:
        hits = _found_but({"respublica"})
        find_latin_labels(FORM, lines, hits, lambda cands: [text] * len(cands))
        return hits

    hit = reading("Naptua eRespubhica»").get("respublica")
    assert hit is not None and hit[0].lang == "ru" and hit[0].score == pytest.approx(0.9)
    assert "respublica" not in reading("Naptua Rezpubhika")
    two = [_line(0, "Партия «Нехрибіксав", 300), _line(1, "Партия «КесрчиЫһса»", 400)]
    hits = _found_but({"respublica"})
    assert find_latin_labels(FORM, two, hits, lambda c: ["Partia Respublica"] * len(c)) == set()


def test_a_weak_match_of_a_latin_label_is_confirmed_or_dropped_by_its_latin_reading() -> None:
    """ "«Respublica» партиясы" read "«Нбосрабаса» партиясы" matched its label 0.76 and
    AMANAT's 0.83: on a shuffled page neither is sure, and its figure went to review. Its
    Latin reading, "«Respublica» napruscer", confirms it (the hit's score becomes the Latin
    reading's). A weak AMANAT hit on a line that reads "Respublica" in Latin is dropped."""
    lines = [_line(0, "11 «Нбосрабаса» партиясы", 300)]
    hits = _found_but({"respublica"})
    hits["respublica"] = [LabelHit("respublica", "kk", 0.76, (0,), lines[0].box)]
    got = find_latin_labels(FORM, lines, hits, lambda c: ["11 «Respublica» napruscer"])
    assert got == {"respublica"} and hits["respublica"][0].score == 1.0
    hits = _found_but({"respublica", "amanat"})
    hits["amanat"] = [LabelHit("amanat", "kk", 0.8, (0,), lines[0].box)]
    find_latin_labels(FORM, lines, hits, lambda c: ["11 «Respublica» napruscer"] * len(c))
    assert "amanat" not in hits
    assert hits["respublica"][0].lines == (0,)  # the line freed is then found as its own


def test_a_weak_match_of_a_latin_label_its_latin_reading_does_not_hold_is_dropped() -> None:
    """A hard typed photo (a fresh seed, 9822): Baytak's row read "12 «ПГьытжа Қаман ажылдар
    партиясы" matched "«AMANAT» партиясы" 0.79, AMANAT's own row being garbled past
    matching; its Latin reading held no "AMANAT", yet the hit stayed, and Baytak's 169 was
    accepted as AMANAT's. A weak hit its line's Latin reading does not confirm is dropped
    when it is not where the form's order puts it: above the label before it in the form,
    or below it past more unread label-like lines than labels missing between them. Right
    after the label before it, it is kept ("| АМАМАГ» парты", 0.76, read "paar hope" in
    Latin, on another hard photo). A sure hit is kept, unread in Latin."""
    latin = "2 [tarzan Kanaact ot aati tiap maprace"
    # against_all, the label before AMANAT in the form, is found at y 1240-1260
    for y, lines_between, kept in ((300, 0, False), (1290, 0, True), (1400, 2, False)):
        lines = [_line(0, "12 «ПГьытжа Қаман ажылдар партиясы", y)]
        lines += [_line(1 + n, f"«Ақ жол» Қазақстан партиясы {n}", 1300 + 30 * n)
                  for n in range(lines_between)]  # fmt: skip
        hits = _found_but({"amanat", "ak_zhol", "baytak"})
        hits["amanat"] = [LabelHit("amanat", "kk", 0.79, (0,), lines[0].box)]
        find_latin_labels(FORM, lines, hits, lambda c: [latin] * len(c))
        assert ("amanat" in hits) is kept, (y, lines_between)
    hits = _found_but({"baytak"})
    sure = hits["amanat"][0]
    assert sure.score >= 0.85

    def read_latin(cands: list[Line]) -> list[str]:
        raise AssertionError("a sure hit read again")

    find_latin_labels(FORM, lines, hits, read_latin)
    assert hits["amanat"] == [sure]


def test_a_latin_label_matched_on_another_rows_garble_moves_to_the_row_that_reads_it() -> None:
    """A fresh seed (10451), a hard photo: People's Party's row, "13. Нарадияя партия
    Қамасана", matched "Партия «AMANAT»" 0.87 (Kazakh and Cyrillic look-alikes), and its
    24 was accepted as AMANAT's 544. AMANAT's own row, "һ Пари «АМАЧАТ-", unclaimed, reads
    "B. Daptua CAMANAT" in Latin. A Latin-named label matched short of LATIN_CONTESTED while
    a label of the form is missing is looked for in the unclaimed lines' Latin reading;
    one line holding its name, and its own line's Latin reading not, it moves there and
    frees its line. Kept: a line that is its row's other language (right above or below
    it), and a hit whose own line reads the name in Latin too."""
    from ocr.layout import LATIN_CONTESTED, OUT_OF_ORDER_SURE

    latin = {0: "B. Daptua CAMANAT ©", 1: "13. Hapaqunn naptua Kamacana"}

    def read_latin(cands: list[Line]) -> list[str]:
        return [latin[ln.index] for ln in cands]

    def page(y_row: int, score: float = 0.87) -> tuple[list[Line], dict[str, list[LabelHit]]]:
        lines = [_line(0, "һ Пари «АМАЧАТ- 1, ,.002..2..202.0...", y_row),
                 _line(1, "13. Нарадияя партия Қамасана", 1417)]  # fmt: skip
        hits = _found_but({"amanat", "people", "respublica"})
        hits["amanat"] = [LabelHit("amanat", "ru", score, (1,), lines[1].box)]
        return lines, hits

    assert OUT_OF_ORDER_SURE <= 0.87 < LATIN_CONTESTED
    lines, hits = page(1116)
    assert find_latin_labels(FORM, lines, hits, read_latin) == {"amanat"}
    (hit,) = hits["amanat"]
    assert (hit.lang, hit.lines, hit.score) == ("ru", (0,), 1.0)
    # the row's other language, right above it: the same row, nothing moves
    lines, hits = page(1417 - 24)
    find_latin_labels(FORM, lines, hits, read_latin)
    assert hits["amanat"][0].lines == (1,)
    # its own line reads the name in Latin too: it stays
    latin[1] = "13. Naptua AMANAT"
    lines, hits = page(1116)
    find_latin_labels(FORM, lines, hits, read_latin)
    assert hits["amanat"][0].lines == (1,)
    latin[1] = "13. Hapaqunn naptua Kamacana"
    # matched surely, or every label found: not read again, not moved
    for score, found in ((LATIN_CONTESTED, {"respublica"}), (0.87, {"respublica", "people"})):
        lines, hits = page(1116, score)
        hits.update({k: v for k, v in _found_but(set()).items() if k in found})
        asked: list[int] = []
        find_latin_labels(FORM, lines, hits, _counted(read_latin, asked))
        assert hits["amanat"][0].lines == (1,) and 0 not in asked, score


def test_the_heading_is_read_in_latin_only_for_a_label_not_found_below_it() -> None:
    """A bilingual sheet's heading is a dozen lines above every label found (a hard photo,
    dev seed 10524: 7 of the 24 lines read in Latin, 0.2 of its 4.3 CPU-s). They are read
    last, in a reading of their own, and only when a missing label is not found below."""
    lines = [
        _line(0, "Қазақстан Республикасы Парламенті Мәжілісінің", 100),
        _line(1, "ПРОТОКОЛ участковой избирательной комиссии", 140),
        _line(2, "11 «КевраБаса» партиясы", 1430),
    ]
    latin = {0: "Kasanctan PecnyGamnaced Rapnawentt", 1: "NPOTOKON ywactKoson",
             2: "11 «Respublica» napruscer"}  # fmt: skip

    def reading(body: str) -> tuple[list[list[int]], dict[str, list[LabelHit]]]:
        asked: list[list[int]] = []

        def read_latin(cands: list[Line]) -> list[str]:
            asked.append([ln.index for ln in cands])
            return [latin[ln.index] if ln.index != 2 else body for ln in cands]

        hits = _found_but({"respublica"})
        find_latin_labels(FORM, lines, hits, read_latin)
        return asked, hits

    asked, hits = reading(latin[2])
    assert asked == [[2]] and hits["respublica"][0].lines == (2,)
    asked, hits = reading("11 «Hecppnnea» napruscer")
    assert asked == [[2], [0, 1]] and "respublica" not in hits
    latin[1] = "«Respublica» napruscer"  # a page that prints it above the others
    asked, hits = reading("11 «Hecppnnea» napruscer")
    assert asked == [[2], [0, 1]] and hits["respublica"][0].lines == (1,)


def test_nothing_is_read_again_when_no_latin_label_is_missing() -> None:
    """Only a missing (or weakly found) label with a Latin word costs a second reading."""
    lines = [_line(0, "Партия «КевриЮікса»", 300)]
    hits = _found_but({"people"})

    def read_latin(cands: list[Line]) -> list[str]:
        raise AssertionError("read again for nothing")

    assert find_latin_labels(FORM, lines, hits, read_latin) == set()


@pytest.mark.slow
def test_shuffled_page_finds_its_respublica_row_read_in_latin() -> None:
    """A dev page (9643, a clean typed scan with leader lines, the parties shuffled):
    "12 «Respublica» партиясы" came out of Tesseract as "12 «КевраБаса» партиясы", and
    its row was not found; on a shuffled page no row can be placed by the form's order.
    Read again in Latin letters, it is found, and its figure accepted, right."""
    s = make_sample(
        1, 9643, tier="clean", script="typed", layout="leaders", hand="mnist",
        against_all_last=True, shuffle_parties=True,
    )  # fmt: skip
    reading = read_protocol(s.image, FORM)
    truth = s.truth["figures"]
    got = {f.key: f for f in reading.fields}
    assert got["respublica"].reason is not Reason.LABEL_NOT_FOUND
    assert got["respublica"].status is Status.ACCEPTED, got["respublica"].reason
    accepted = [f for f in reading.fields if f.status is Status.ACCEPTED]
    assert len(accepted) == len(FORM.keys)
    assert all(f.value == truth[f.key] for f in accepted)  # type: ignore[index]


def test_a_page_of_prose_is_read_again_a_bounded_number_of_lines() -> None:
    """A page of 40 unclaimed lines that read like labels: at most LATIN_LINES_MAX of them
    are read again (one Tesseract call on all of them would be slow), in page order."""
    lines = [_line(i, f"Строка текста номер {'а' * (i % 5 + 3)}", 100 + 30 * i) for i in range(40)]
    asked: list[int] = []

    def read_latin(cands: list[Line]) -> list[str]:
        asked.extend(ln.index for ln in cands)
        return [""] * len(cands)

    assert find_latin_labels(FORM, lines, _found_but({"respublica"}), read_latin) == set()
    assert asked == list(range(LATIN_LINES_MAX))


@pytest.mark.slow
def test_hard_photo_does_not_give_amanat_the_figure_of_baytaks_row() -> None:
    """The fresh seed's page (9822, a hard typed photo of a table, at a slant): AMANAT's row
    garbled past matching, Baytak's matched AMANAT's label 0.79, and Baytak's 169 was
    accepted as AMANAT's (503 written). Every figure accepted is right now."""
    s = make_sample(24, 9822, tier="hard", script="typed", layout="table", hand="mnist")
    assert s.truth["figures"]["amanat"] == 503  # type: ignore[index]
    reading = read_protocol(s.image, FORM)
    accepted = [f for f in reading.fields if f.status is Status.ACCEPTED]
    assert len(accepted) >= 6
    assert all(f.value == s.truth["figures"][f.key] for f in accepted)  # type: ignore[index]


@pytest.mark.slow
def test_hard_photo_does_not_give_amanat_the_figure_of_the_peoples_party() -> None:
    """The fresh seed's page (10451, a hard photo with leader lines, another writer's hand):
    AMANAT's row garbled, the People's Party's matched AMANAT's label 0.87, and its 24 was
    accepted as AMANAT's (544 written). Every figure accepted is right now, and AMANAT's
    figure is read from its own row."""
    s = make_sample(31, 10451, tier="hard", script="handwritten", layout="leaders",
                    hand="mnist", hand_split="test")  # fmt: skip
    truth = s.truth["figures"]
    assert truth["amanat"] == 544 and truth["people"] == 24  # type: ignore[index]
    reading = read_protocol(s.image, FORM)
    got = {f.key: f for f in reading.fields}
    assert got["amanat"].value == 544
    accepted = [f for f in reading.fields if f.status is Status.ACCEPTED]
    assert len(accepted) >= 6
    assert all(f.value == truth[f.key] for f in accepted)  # type: ignore[index]


@pytest.mark.slow
def test_lines_are_read_in_latin_alone_from_the_ink_without_rules(monkeypatch) -> None:
    """A hard photo of a ruled table (dev seed 9703): each unclaimed line is read in Latin
    letters alone, from the ink without the table's rules, and the party names come out
    whole ("«AMANAT»", "«Respublica»"; read from the ink with its rules, in one sheet with
    the others, they came out "«AMANAT®" and "«Rospublica»", and with five lines fewer in
    that sheet, "«Rospublica»" not at all). A line reads the same with or without the
    others."""
    import ocr.read as read_module

    asked: list[tuple[object, list[Line], float, list[str]]] = []
    real = read_module._read_latin

    def kept(binary, lines, line_height):  # type: ignore[no-untyped-def]
        out = real(binary, lines, line_height)
        asked.append((binary, list(lines), line_height, out))
        return out

    monkeypatch.setattr(read_module, "_read_latin", kept)
    s = make_sample(30, 9703, tier="hard", script="handwritten", layout="table", hand="mnist",
                    against_all_last=True, shuffle_parties=True)  # fmt: skip
    read_protocol(s.image, FORM)
    ((binary, lines, line_height, out),) = asked
    text = " ".join(out)
    assert "«AMANAT»" in text and "«Respublica»" in text
    some = lines[len(lines) // 2 :]
    assert real(binary, some, line_height) == out[len(lines) // 2 :]

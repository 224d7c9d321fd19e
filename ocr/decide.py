"""The decision on one figure, from what its readers read.

The rule behind every decision: an accepted wrong figure is the worst outcome. A figure
is accepted only on two agreeing readings of different kinds: the figure in words and in
digits; or two digit readers of different kinds (:func:`decide_digits`). Control
relations may reorder the candidates of a figure under review (:func:`rank_by_relations`);
an equality holding with a reading two readers of different kinds made confirms it
(:func:`accept_by_relations`); a relation never changes a reading or makes one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import replace

from ocr import figures as fig
from ocr.forms import Form
from ocr.layout import WordsRun
from ocr.ppocr import TextReading
from ocr.relations import Relation
from ocr.result import FieldReading, Reason, Status
from ocr.sequence import SequenceReading

#: Minimum per-glyph probability of the digit model, and Tesseract confidence, for two
#: agreeing digit readings to be accepted without words.
MODEL_MIN = 0.85
TESS_MIN = 0.75
#: Tesseract reading other digits of the same length with at least this confidence vetoes
#: an agreement of the digit readers (it misreads handwriting often, so only when sure).
TESS_VETO = 0.95
#: The whole-figure network reading other digits of the same length with at least this
#: probability vetoes an agreement of a glyph reader and Tesseract (both cut the figure
#: into glyphs; one digit misread alike by both is their shared way to fail).
SEQ_VETO = 0.9
#: Minimum lowest per-glyph probability of the glyph network, and probability of the
#: whole-figure network's reading, for their agreement to be accepted.
GLYPH_MIN = 0.9
SEQ_MIN = 0.9
#: ... or, when the whole-figure network is this sure, a glyph network at least this sure
#: of its weakest glyph (it reads the same digits, only less sure of one of them).
SEQ_SURE = 0.99
GLYPH_WITH_SEQ_SURE = 0.8
#: The weaker agreements (that one, and the whole-figure network with the second glyph
#: reader) are vetoed by Tesseract reading other digits of the same length with at least
#: this confidence: in a hand the networks never saw, they can all misread one digit alike.
SOFT_VETO = 0.6
#: The glyph network, the whole-figure network and Tesseract (three kinds of reader)
#: reading the same digits are accepted with the glyph network at least this sure, the
#: others at least SEQ_MIN and TESS_MIN. On the 841 figures of 2,400 photographed
#: protocols that went to review with readers disagreeing or unsure, it accepts 23 (14 of
#: them in hands the readers never saw), none wrong.
THREE_GLYPH_MIN = 0.5
#: Without the glyph network (it read other digits, unsure), the whole-figure network is
#: accepted with Tesseract at least PAIR_MIN sure (itself SEQ_SURE). Never with the second
#: glyph reader alone, however sure both: on six seed sets (17,000 figures of scans and
#: photos), 4 of the 37 figures so accepted were wrong, all in hands the readers never saw
#: ("81" read 82 by both, 0.98 sure, on a clean scan).
PAIR_MIN = 0.9


#: PP-OCR's recogniser (:mod:`ocr.ppocr`, a reader of another kind, trained on real text)
#: agreeing with the glyph network or the whole-figure network: accepted with PP-OCR at
#: least TEXT_MIN sure of exactly its digits, the network at least TEXT_PEER_MIN sure, and
#: neither of the two other digit readers (the other network, Tesseract) sure of other
#: digits of the same length (SEQ_VETO / 0.9 for the networks, TESS_VETO for Tesseract).
TEXT_MIN = 0.9
#: (0.6 until fresh seeds in real hands, 9643 and 9663: a "2" read 9 by PP-OCR, 0.97 and
#: 0.98 sure, and by the whole-figure network, 0.64 and 0.68: real hands' "2"s fool both.)
TEXT_PEER_MIN = 0.85
#: PP-OCR this sure of other digits of the same length vetoes any agreement of our own
#: readers (real hands: "31" read 34 by the three of them, the glyph network 0.5 sure;
#: PP-OCR read 31, 0.88 sure).
TEXT_VETO = 0.8
#: PP-OCR and Tesseract agreeing (two engines of text, TEXT_MIN and TESS_MIN sure) are
#: accepted unless one of our networks reads other digits of the same length at least
#: this sure (real hands: a "2" written small read 219 by both, 229 written; the glyph
#: network read 214, 0.39 sure, the whole-figure network 200, 0.44).
TEXT_NETWORK_VETO = 0.35
#: Tesseract reading other digits of the same length at least this sure vetoes PP-OCR's
#: agreement with a network (real hands: a "2" written like a 9 read 9638 by three
#: readers, 2638 by Tesseract, 0.73 sure; on a fresh seed, 9643, "132" read 139 by PP-OCR,
#: 0.97 sure, and the whole-figure network, 0.64, Tesseract reading 132, 0.58 sure).
TEXT_TESS_VETO = 0.5
#: PP-OCR and Tesseract reading the same other digits of the same length, each at least
#: this sure, veto any agreement of our own readers: our networks learnt from the same
#: hands, and can misread one alike (a fresh seed, 9612: MNIST's "1" with a flag and a
#: foot read "2" by both networks, 0.92 and 0.93 sure, in "1025"; PP-OCR and Tesseract
#: both read 1035, 0.44 and 0.76 sure).
ENGINES_VETO = 0.3
#: Words that one digit reader agrees with are contradicted by another reader reading
#: other digits at least this sure (real hands: "391" whose words were read short,
#: "триста девяносто", and whose "1" the whole-figure network read as 0, 0.71 sure;
#: Tesseract read 341, 0.52 sure). Unless the words are :func:`words_whole` and every
#: such reading has as many digits as they say: on the dev and fresh seed sets (8,064
#: figures), 75 figures so read were all right; with words of one digit, the one wrong
#: ("бір" read for "екі жүз алпыс жеті", and "1" by PP-OCR in a crop cut short). Nor by
#: a reading of their digits with one left out (:func:`one_digit_lost`: a thin "1" lost,
#: "1101" read 101): on the dev sets (7,056 figures) 2 more figures were so accepted, and 3
#: in fresh round 14 (3,024), all right.
WORDS_ALONE_VETO = 0.5
#: The glyph network, the whole-figure network and PP-OCR (three kinds of reader: one cuts
#: the figure into glyphs, one never cuts, one was trained apart from ours on real text)
#: reading the same digits, each at least this sure, Tesseract not TESS_MIN sure of other
#: digits of the same length, are accepted (and need the arithmetic: NEEDS_SUPPORT). On the
#: dev and fresh seed sets of the real hands (8,064 handwritten figures), 84 figures in
#: review were so read, none wrong; at 0.7, 111 and 2 wrong ("1823" read 1873, the glyph
#: network 0.77 sure). Past silent errors had a network at most 0.68 sure ("22" read 92;
#: "28" read 18; "103" read 163).
THREE_KINDS_MIN = 0.75
#: ... unless the second glyph reader is this sure of other digits of the same length. A
#: fresh round (19, seed 9971): a "12" whose "2" has no foot read 11 by the three kinds
#: (0.86, 0.92 and 0.85 sure), the second glyph reader 13, 0.98 sure. On the dev sets and
#: fresh rounds 17-19 (about 9,000 figures accepted) this veto sends at most 9 right
#: figures so accepted to review. It vetoes the acceptance only: a figure accepted by
#: another rule keeps the three kinds' standing (:func:`three_kinds`), and with it the
#: second glyph reader as a veto there sent 5 right figures to review on the dev sets.
THREE_KINDS_SECOND_VETO = 0.95


def _parts(n: int) -> set[int]:
    """The place-value parts a number is said in (1886: 1000, 800, 80, 6; 14: 14)."""
    if n == 0:
        return {0}
    out = set()
    if n >= 1000:
        out.add(1000 * (n // 1000))
    if n % 1000 >= 100:
        out.add(100 * (n % 1000 // 100))
    rest = n % 100
    if 10 <= rest < 20:
        out.add(rest)
    else:
        out |= {v for v in (10 * (rest // 10), rest % 10) if v}
    return out


def words_cut_short(words_value: int, digits_value: int) -> bool:
    """True when the words read say part of the figure in digits and nothing else: a
    wrapped line or a faint word was not read ("сто" read for "сто тридцать девять";
    "две" for "две тысячи ..."). Such words neither confirm nor contradict the digits."""
    if words_value == digits_value:
        return False
    if digits_value >= 1000 and words_value == digits_value // 1000:
        return True
    return _parts(words_value) < _parts(digits_value)


Said = tuple[str | None, float]
"""What a reader read, and how sure it was."""


def _sure_otherwise(said: str, other: str | None, conf: float, level: float) -> bool:
    """Whether a reader read ``other``, digits other than ``said`` of the same length (not
    the same figure read short or long), at least ``level`` sure: a veto."""
    return other is not None and other != said and len(other) == len(said) and conf >= level


def _three_alike(
    said: str, glyphs: Said, seq: Said, text: Said, tess: Said, second: Said = (None, 0.0)
) -> bool:
    """The rule of the three kinds (THREE_KINDS_MIN): the glyph network, the whole-figure
    network and PP-OCR read ``said``, each that sure, Tesseract is not TESS_MIN sure of
    other digits of its length, nor the second glyph reader THREE_KINDS_SECOND_VETO sure."""
    return (
        all(d == said and c >= THREE_KINDS_MIN for d, c in (glyphs, seq, text))
        and not _sure_otherwise(said, *tess, TESS_MIN)
        and not _sure_otherwise(said, *second, THREE_KINDS_SECOND_VETO)
    )


def accepted_values(fields: dict[str, FieldReading]) -> dict[str, int | None]:
    """The value of every accepted figure, by key."""
    return {k: f.value for k, f in fields.items() if f.status is Status.ACCEPTED}


def words_whole(words_value: int) -> bool:
    """True when words read for a figure cannot be a figure cut short at its end: they say
    more than one digit and do not end in a round ten ("семьдесят восемь", not "семьдесят"
    nor "восемь"). A reading of other digits of their length, with one reader agreeing with
    them, is then a digit misread, not a figure read short (WORDS_ALONE_VETO)."""
    return words_value >= 10 and words_value % 10 != 0


def one_digit_lost(digits_value: int, words_value: int) -> bool:
    """True when the digits read are the words' digits with one of them left out: a reader
    lost a digit (a thin handwritten "1" taken for a stroke: "1101" read 101, "112" read
    12), which words that say one more digit do not come from. Such a reading does not
    contradict whole words that another reader agrees with (WORDS_ALONE_VETO)."""
    d, w = str(digits_value), str(words_value)
    return len(d) == len(w) - 1 and any(w[:i] + w[i + 1 :] == d for i in range(len(w)))


MAX_CANDIDATE = 999_999_999
"""No figure of a protocol has more than nine digits: a reader's longer string (a row of ink
read as digits) is no candidate (and would not fit a JSON number exactly)."""


def _candidates(
    readings: list[tuple[int, float]], words_value: int | None, model: fig.ModelReading
) -> list[int]:
    cands: list[int] = []
    if words_value is not None:
        cands.append(words_value)
    for v, _ in sorted(readings, key=lambda r: -r[1]):
        if v not in cands and v <= MAX_CANDIDATE:
            cands.append(v)
    if model.digits is not None:  # one-glyph alternatives the model found plausible
        for i, g in enumerate(model.guesses):
            for alt, p in g.alternatives[:1]:
                if p >= 0.1 and len(cands) < 5:
                    v = int(model.digits[:i] + str(alt) + model.digits[i + 1 :])
                    if v not in cands and v <= MAX_CANDIDATE:
                        cands.append(v)
    return cands


def decide_digits(
    model: fig.ModelReading,
    model_b: fig.ModelReading,
    tess: tuple[str | None, float],
    seq: SequenceReading,
    text: TextReading | None = None,
) -> tuple[Reason, float, int] | None:
    """The evidence (reason, confidence, value) on which the digits alone may be
    accepted, or None.

    Two readers of different kinds must agree: the glyph network and the whole-figure
    network (one cuts the figure into glyphs, the other never cuts), or a glyph reader
    and Tesseract, or the whole-figure network and Tesseract, or PP-OCR's recogniser and
    one of our networks; a third reader confidently reading other digits of the same
    length vetoes.
    """
    a, t, s = model.digits, tess[0], seq.digits
    p = text.digits if text is not None else None
    evidence = _decide(model, model_b, tess, seq, text)
    if evidence is not None and any(
        d is not None and len(d) > 1 and d[0] == "0" and int(d) == evidence[2]
        for d in (a, model_b.digits, t, s, p)
    ):
        # "03": nobody writes a figure so; its first digits were lost (two handwritten
        # "1"s taken for a rule and a bracket), not a figure of 3
        return None
    return evidence


def _decide(
    model: fig.ModelReading,
    model_b: fig.ModelReading,
    tess: tuple[str | None, float],
    seq: SequenceReading,
    text: TextReading | None,
) -> tuple[Reason, float, int] | None:
    a, t, s = model.digits, tess[0], seq.digits
    p = text.digits if text is not None else None
    p_conf = text.confidence if text is not None else 0.0
    own = _decide_own(model, model_b, tess, seq)
    if own is not None:
        value = str(own[2])
        text_veto = _sure_otherwise(value, p, p_conf, TEXT_VETO)
        engines_veto = (
            p is not None
            and p == t
            and p != value
            and len(p) == len(value)
            and min(p_conf, tess[1]) >= ENGINES_VETO
        )
        if not text_veto and not engines_veto:
            return own
        return None
    if p is None:
        return None
    second = (model_b.digits, model_b.confidence)
    if _three_alike(p, (a, model.confidence), (s, seq.confidence), (p, p_conf), tess, second):
        # three kinds of reader, none of them very sure: the glyph network, the
        # whole-figure network and PP-OCR read alike
        return Reason.READINGS_AGREE, min(p_conf, model.confidence, seq.confidence), int(p)
    if p_conf < TEXT_MIN:
        return None

    def sure_other(other: str | None, conf: float, level: float) -> bool:
        return _sure_otherwise(p, other, conf, level)

    if sure_other(t, tess[1], TEXT_TESS_VETO):
        return None
    if p == a and model.confidence >= TEXT_PEER_MIN and not sure_other(s, seq.confidence, SEQ_VETO):
        return Reason.READINGS_AGREE, min(p_conf, model.confidence), int(p)
    if p == s and seq.confidence >= TEXT_PEER_MIN and not sure_other(a, model.confidence, 0.9):
        return Reason.READINGS_AGREE, min(p_conf, seq.confidence), int(p)
    if (
        p == t
        and tess[1] >= TESS_MIN
        and not sure_other(a, model.confidence, TEXT_NETWORK_VETO)
        and not sure_other(s, seq.confidence, TEXT_NETWORK_VETO)
    ):
        # two engines of text, neither of them ours, trained apart: in a hand our networks
        # never saw they read the "1" our networks take for a "2"
        return Reason.TEXT_ENGINES_AGREE, min(p_conf, tess[1]) * 0.97, int(p)
    return None


def _decide_own(
    model: fig.ModelReading,
    model_b: fig.ModelReading,
    tess: tuple[str | None, float],
    seq: SequenceReading,
) -> tuple[Reason, float, int] | None:
    """:func:`decide_digits` on this project's own readers and Tesseract."""
    a, b, t, s = model.digits, model_b.digits, tess[0], seq.digits
    if a is not None:
        veto = _sure_otherwise(a, t, tess[1], TESS_VETO)
        if (
            veto
            and a == s == b
            and min(model.confidence, seq.confidence, model_b.confidence) >= 0.97
        ):
            veto = False  # three readers, all sure, outvote Tesseract
        sure_pair = (model.confidence >= GLYPH_MIN and seq.confidence >= SEQ_MIN) or (
            model.confidence >= GLYPH_WITH_SEQ_SURE
            and seq.confidence >= SEQ_SURE
            and not _sure_otherwise(a, t, tess[1], SOFT_VETO)
        )
        if a == s and sure_pair and not veto:
            return Reason.GLYPHS_AND_FIGURE_AGREE, min(model.confidence, seq.confidence), int(a)
        seq_veto = _sure_otherwise(a, s, seq.confidence, SEQ_VETO)
        if a == t and model.confidence >= MODEL_MIN and tess[1] >= TESS_MIN and not seq_veto:
            return Reason.READINGS_AGREE, min(model.confidence, tess[1]), int(a)
        if (
            a == t == b
            and min(model.confidence, model_b.confidence) >= 0.8
            and tess[1] >= 0.5
            and not seq_veto
        ):
            # three readers of different kinds read the same digits
            conf = max(model.confidence, model_b.confidence) * 0.97
            return Reason.READINGS_AGREE, conf, int(a)
        if (
            a == t == s
            and model.confidence >= THREE_GLYPH_MIN
            and seq.confidence >= SEQ_MIN
            and tess[1] >= TESS_MIN
        ):
            # the three readers of three kinds read the same digits, the glyph network
            # less sure (a hand it never saw)
            return Reason.READINGS_AGREE, min(seq.confidence, tess[1]) * 0.97, int(a)
    if s is None:
        return None
    # the whole-figure network with Tesseract, when the glyph network read something else
    # and is not sure of it
    if _sure_otherwise(s, a, model.confidence, 0.9):
        return None
    if s == t and seq.confidence >= SEQ_SURE and tess[1] >= PAIR_MIN:
        return Reason.READINGS_AGREE, min(seq.confidence, tess[1]), int(s)
    return None


def decide(
    model: fig.ModelReading,
    model_b: fig.ModelReading,
    tess: tuple[str | None, float],
    run: WordsRun | None,
    seq: SequenceReading,
    text: TextReading | None = None,
) -> tuple[Status, Reason, float, list[int]]:
    """Status, reason, confidence and candidates (best first) of one figure; when the
    status is accepted, the first candidate is the value accepted.

    Accepted only on two agreeing readings of different kinds: the figure in words and
    in digits; or two digit readers of different kinds (:func:`decide_digits`). Words
    that contradict the digits send the figure to review; words cut short (part of the
    figure, nothing else) neither confirm nor contradict.
    """
    readings = [
        (int(r.digits), c)
        for r, c in (
            (model, model.confidence),
            (seq, seq.confidence),
            (model_b, 0.9 * model_b.confidence),
        )
        if r.digits is not None
    ]
    if tess[0] is not None:
        readings.insert(1, (int(tess[0]), tess[1]))
    if text is not None and text.digits is not None:
        readings.insert(1, (int(text.digits), text.confidence))
    words_value = run.value if run is not None else None
    cands = _candidates(readings, words_value, model)
    evidence = decide_digits(model, model_b, tess, seq, text)
    if words_value is not None:
        agreeing = [c for v, c in readings if v == words_value and c >= 0.5]
        # words read short (a wrapped line missed) can agree with digits read short: a
        # confident reading of other digits is then the tell, unless two digit readers
        # agree with the words
        others = [v for v, c in readings if v != words_value and c >= WORDS_ALONE_VETO]
        contradicted = (
            len(agreeing) < 2
            and bool(others)
            and not (
                words_whole(words_value)
                and all(
                    len(str(v)) == len(str(words_value)) or one_digit_lost(v, words_value)
                    for v in others
                )
            )
        )
        # words that may be cut short at their end ("тысяча девятьсот девяносто", its "два"
        # lost) confirm nothing when two digit readers read the figure they would be cut
        # from (1992: the glyph and whole-figure networks, 0.90 and 0.99 sure, where PP-OCR
        # and the second glyph reader read 1990 with the words, a fresh round's silent error)
        longer = Counter(
            v
            for v, c in readings
            if v != words_value and c >= WORDS_ALONE_VETO and words_cut_short(words_value, v)
        )
        if agreeing and not words_whole(words_value) and any(n >= 2 for n in longer.values()):
            return Status.REVIEW, Reason.DIGITS_WORDS_DISAGREE, 0.3, cands
        if agreeing and not contradicted:  # (cands[0] is the words' value)
            conf = min(0.995, 0.9 + 0.1 * max(agreeing))
            return Status.ACCEPTED, Reason.DIGITS_AND_WORDS_AGREE, conf, cands
        if evidence is not None and words_cut_short(words_value, evidence[2]):
            cands = [evidence[2], *[c for c in cands if c != evidence[2]]]
            return Status.ACCEPTED, evidence[0], evidence[1], cands
        if readings:
            return Status.REVIEW, Reason.DIGITS_WORDS_DISAGREE, 0.3, cands
        return Status.REVIEW, Reason.SINGLE_READING, 0.3, cands
    if evidence is not None:
        cands = [evidence[2], *[c for c in cands if c != evidence[2]]]
        return Status.ACCEPTED, evidence[0], evidence[1], cands
    values = {v for v, _ in readings}
    if len(values) > 1:
        return Status.REVIEW, Reason.READINGS_DISAGREE, 0.25, cands
    if len(readings) >= 2:
        return Status.REVIEW, Reason.LOW_CONFIDENCE, 0.5 * min(c for _, c in readings), cands
    if readings:
        return Status.REVIEW, Reason.SINGLE_READING, 0.25 * readings[0][1], cands
    return Status.UNREADABLE, Reason.FIGURE_NOT_FOUND, 0.0, cands


#: Readers whose misreadings of a hand, shown up by the words or by other readers, put
#: in doubt that hand's other figures (the glyph network and the whole-figure network:
#: they make the agreements accepted without words).
_NETWORKS = ("glyphs_a", "sequence")
#: A network's reading shows a misreading only when the network was at least this sure
#: of it; and a reading other readers make counts when the other network and another
#: reader make it, each at least this sure...
WITNESS_MIN = 0.5
#: ... and when figures of the page show the same digit so misread at least this often
#: (once is enough when the words show it).
WITNESSES = 2


#: Figures whose words show what the networks should have read: words that contradict
#: the digits, and words a reader confirmed.
_WORDS_SHOW = (Reason.DIGITS_WORDS_DISAGREE, Reason.DIGITS_AND_WORDS_AGREE)


def _misread_by_networks(said: str, readers: tuple[tuple[str, str | None, float], ...]) -> set[str]:
    """Digits a network, at least WITNESS_MIN sure, read in place of one digit of ``said``
    (same length, one digit apart)."""
    out = set()
    for name, digits, conf in readers:
        if name in _NETWORKS and digits is not None and conf >= WITNESS_MIN:
            if len(digits) == len(said):
                diff = [(a, b) for a, b in zip(said, digits, strict=True) if a != b]
                if len(diff) == 1:
                    out.add(diff[0][1])
    return out


def misread_digits(fields: dict[str, FieldReading]) -> set[str]:
    """Digits the networks wrongly read on this page.

    The words show it: a figure whose words say 16 and a network read 26 tells that this
    hand's "1" may be read "2" (a fresh seed: a hand never trained on, whose "1" every
    reader took for a "2" in "18", accepted as 28). So do words a reader confirmed: words
    and Tesseract read 154 where the whole-figure network read 159 (another fresh seed:
    "482" accepted as 982). So do the other readers, less surely, on two figures: where
    the whole-figure network and Tesseract read 105 and the glyph network 205. (A third
    fresh seed, no words: "2918" accepted as 2928, while on two other rows the glyph
    network read 205 and 2453 for 105 and 1453.)

    Measured on 7 seed sets (about 10,000 handwritten figures of photos), doubting the
    figures that hold such a digit sent 36 right figures of hard photos to review and
    caught the three wrong ones; with any two readers agreeing (the MLP and Tesseract
    misread alike often) and misreadings however unsure as witnesses, 45."""
    out: set[str] = set()
    witnessed: dict[str, int] = {}
    for f in fields.values():
        if f.words_value is not None and f.reason in _WORDS_SHOW:
            out |= _misread_by_networks(str(f.words_value), f.readers)
        votes: dict[str, set[str]] = {}
        for name, digits, conf in f.readers:
            if name != "words" and digits is not None and conf >= WITNESS_MIN:
                votes.setdefault(digits, set()).add(name)
        shown = set()
        for said, names in votes.items():
            if len(names) >= 2 and names & set(_NETWORKS):
                shown |= _misread_by_networks(said, f.readers)
        for d in shown:
            witnessed[d] = witnessed.get(d, 0) + 1
    return out | {d for d, n in witnessed.items() if n >= WITNESSES}


#: Acceptances our networks take no part in: their misreadings put these in no doubt.
_NOT_BY_NETWORKS = (Reason.DIGITS_AND_WORDS_AGREE, Reason.TEXT_ENGINES_AGREE)


def doubt_misread_digits(fields: dict[str, FieldReading]) -> set[str]:
    """Send to review, in place, every figure accepted on the digit readers alone on a page
    where they misread a digit (:func:`misread_digits`): the hand is one they misread. A
    figure holding that digit says so (``DIGIT_MISREAD_ON_PAGE``), the others
    ``HAND_MISREAD_ON_PAGE``. Never accepts or changes a figure. Figures accepted without
    our networks (words with a reader, PP-OCR with Tesseract) stay accepted, and so do those
    PP-OCR, a reader not ours, read as both networks did (:func:`three_kinds`): on the dev
    and fresh seed sets (rounds 8-12, every script), 211 figures so read were put in
    doubt, all right (none wrong with PP-OCR and the networks even 0.5 sure).

    Doubting only the figures with the digit shown misread was not enough: on a fresh
    seed, a hand never trained on whose "1" the networks read "2" on two rows (shown by
    the words) had its "84" accepted as 89, a misreading no other row showed. On eight
    seed sets, doubting the whole page sends 101 right figures of hard handwritten photos
    to review (38 for the digit alone) and catches 5 wrong ones (3).

    Returns the keys of those three kinds kept: on such a page they stand only on the
    arithmetic or their words (``footed`` of :func:`doubt_unsupported`). A fresh round
    (34), another writer's hand on a hard photo: "1849" read 1549 by both networks and
    PP-OCR, 0.94-0.98 sure, the sum it is in not checkable, on a page where that hand's
    "9" had been read 8; of the figures so kept in rounds 33-34, 26 were right, that one
    wrong."""
    suspect = misread_digits(fields)
    if not suspect:
        return set()
    kept: set[str] = set()
    for key, f in fields.items():
        if f.status is Status.ACCEPTED and f.reason not in _NOT_BY_NETWORKS and f.value is not None:
            if three_kinds(f):
                kept.add(key)
                continue
            shown = suspect & set(str(f.value))
            fields[key] = replace(
                f,
                status=Status.REVIEW,
                reason=Reason.DIGIT_MISREAD_ON_PAGE if shown else Reason.HAND_MISREAD_ON_PAGE,
                confidence=f.confidence * 0.5,
            )
    return kept


def _open_in(
    form: Form, known: Mapping[str, int | None], count: int
) -> Iterator[tuple[Relation, set[str], list[str]]]:
    """Each control equality of ``form`` with exactly ``count`` figures not in ``known``:
    the relation, its figures' keys, and those figures' keys."""
    for rel in form.relations:
        if rel.op != "==":
            continue
        keys = rel.keys(form.groups)
        open_keys = [k for k in keys if k not in known]
        if len(open_keys) == count:
            yield rel, keys, open_keys


def rank_by_relations(form: Form, fields: dict[str, FieldReading]) -> None:
    """Put first, in place, the candidate that makes an equality hold, when it is the only
    unknown. The figure stays under review and keeps every reader's record (``readers``)."""
    accepted = accepted_values(fields)
    for rel, _, (k,) in _open_in(form, accepted, 1):
        f = fields[k]
        if f.status is not Status.REVIEW or len(f.candidates) < 2:
            continue
        fitting = [c for c in f.candidates if rel.evaluate({**accepted, k: c}, form.groups)]
        if len(fitting) == 1 and fitting[0] != f.candidates[0]:
            c = fitting[0]
            # only the order of the candidates changes: what each reader read (``readers``),
            # the crop and the rest stay, so the evidence still says who read what
            fields[k] = replace(
                f,
                value=c,
                candidates=(c, *[x for x in f.candidates if x != c]),
                reason=Reason.RANKED_BY_RELATION,
            )


#: Digit readers that read each figure on their own (the words are not one of them).
_DIGIT_READERS = ("glyphs_a", "glyphs_b", "sequence", "tesseract", "ppocr")
#: A figure at least this many of them read alike, none fairly sure of other digits, is
#: read beyond doubt: a broken relation does not send it to review (a typed protocol that
#: does not add up keeps its figures accepted, and says that it does not add up).
UNANIMOUS = 4
#: ... and with at least this many of them UNANIMOUS_SURE sure of it: five readers agreeing,
#: most of them unsure, can be a digit every reader misreads alike (a fresh seed, 9683: a
#: real hand's "103", its "0" with a tail, read 163 by all five, the networks 0.40 and 0.65
#: sure; the sum it is in could not be checked there, two parties being in review).
UNANIMOUS_SURE_COUNT = 4
UNANIMOUS_SURE = 0.85


def unanimous(f: FieldReading) -> bool:
    """True when UNANIMOUS digit readers read ``f``'s value, UNANIMOUS_SURE_COUNT of them
    UNANIMOUS_SURE sure, and none read other digits 0.5 sure."""
    alike, sure, other = _agreement(f)
    return alike >= UNANIMOUS and sure >= UNANIMOUS_SURE_COUNT and not other


def _agreement(f: FieldReading) -> tuple[int, int, bool]:
    """How many digit readers read ``f``'s value, how many of them UNANIMOUS_SURE sure, and
    whether any read other digits 0.5 sure."""
    said = str(f.value)
    alike = [c for n, d, c in f.readers if n in _DIGIT_READERS and d == said]
    other = any(
        n in _DIGIT_READERS and d is not None and d != said and c >= 0.5 for n, d, c in f.readers
    )
    return len(alike), sum(1 for c in alike if c >= UNANIMOUS_SURE), other


#: A figure its words confirm (``DIGITS_AND_WORDS_AGREE``) stays accepted when a relation it
#: is in breaks, if the words are whole (:func:`words_whole`: not a figure cut short), at
#: least WORDS_KEEP_ALIKE digit readers read its value, WORDS_KEEP_SURE of them
#: UNANIMOUS_SURE sure, and none reads other digits 0.5 sure: two kinds of witness, the
#: digits and the words, read it alike, and a protocol that does not add up (what an
#: observer's copy is there to show) keeps the figures it is read by. In the saved readings
#: of the dev sets and fresh rounds (2,304 pages), 232 figures that a broken relation sent to
#: review had words read alike, none of them wrong; 90 of them were so read (72 in real
#: hands, on the layouts with words: a figure above its words, bilingual rows). Words read
#: short ("девяносто" for 92, read 90 by the digits too) are not whole.
WORDS_KEEP_ALIKE = 3
WORDS_KEEP_SURE = 2


def witnessed_by_words(f: FieldReading) -> bool:
    """True when ``f`` was accepted on its words and they, and the digit readers, read it
    beyond the doubt of a broken relation (WORDS_KEEP_ALIKE)."""
    if f.reason is not Reason.DIGITS_AND_WORDS_AGREE or f.value is None:
        return False
    if f.words_value != f.value or not words_whole(f.value):
        return False
    alike, sure, other = _agreement(f)
    return alike >= WORDS_KEEP_ALIKE and sure >= WORDS_KEEP_SURE and not other


def doubt_by_relations(
    form: Form, fields: dict[str, FieldReading], footed: set[str] | frozenset[str] = frozenset()
) -> None:
    """Send to review, in place, every accepted figure of a control relation that the
    accepted figures break (``RELATION_FAILS``), unless its readers are :func:`unanimous`
    (and it is not in two broken relations or more: then it is the likeliest misread of
    them) or its words and digits read it alike (:func:`witnessed_by_words`), and it is not in
    ``footed`` (a figure with a "1" that has a foot, which every reader can read for a "2"
    written so): one of them is misread, or the protocol does not add up; either way a
    person reads them. Never changes a value, never accepts one; the
    reading still reports the relation as not holding.

    Real hands write digits that every reader takes for others alike: a "2" read 3 by the
    two networks and PP-OCR ("24" accepted as 34), a "2" written like a "1" read 154 for
    254 by PP-OCR and Tesseract, "92" whose words were read short ("девяносто") read 90.
    Each broke a relation that the other figures, accepted, made checkable."""
    accepted = accepted_values(fields)
    broken = [
        rel.keys(form.groups)
        for rel in form.relations
        if all(k in accepted for k in rel.keys(form.groups))
        and rel.evaluate(accepted, form.groups) is False
    ]
    # a figure in two broken relations or more: the likeliest misread of them, however alike
    # its readers read it (a real hand's "695" read 675 by all five digit readers, 0.88-0.99
    # sure: it broke both the ballots' sum and "voted <= issued"); its words can still vouch
    twice = {k for keys in broken for k in keys if sum(k in other for other in broken) >= 2}
    for keys in broken:
        for k in keys:
            f = fields[k]
            if f.status is Status.ACCEPTED and (
                k in footed or not ((unanimous(f) and k not in twice) or witnessed_by_words(f))
            ):
                fields[k] = replace(
                    f,
                    status=Status.REVIEW,
                    reason=Reason.RELATION_FAILS,
                    confidence=f.confidence * 0.5,
                )


#: A figure accepted without the arithmetic's support needs this many digit readers sure
#: of it (UNSUPPORTED_SURE), or its number in words: two readers agreeing can be two readers
#: misreading a hand alike (real hands, fresh seeds: "28" read 18 by PP-OCR, 0.96, and the
#: whole-figure network, 0.92; "103" read 163 by PP-OCR and Tesseract, the networks unsure).
UNSUPPORTED_WITNESSES = 3
UNSUPPORTED_SURE = 0.85
#: What readers accepted a figure on that the arithmetic must support, unless they are
#: :func:`unanimous`: any pairing but the two networks both sure (``GLYPHS_AND_FIGURE_AGREE``)
#: or the words. In the saved readings of the dev sets and fresh rounds 15-20 (about 21,000
#: figures accepted), 132 figures accepted so were in no equality that held, and 4 of them
#: were wrong, all real hands: "27" read 17 by all five readers (0.77-0.98), "12" read 11,
#: "114" read 14, "29" read 19 (none of the four unanimous; 17 of the 128 right ones were);
#: of the 2,900 the two networks, both sure, accepted so, none.
NEEDS_SUPPORT = (Reason.READINGS_AGREE, Reason.TEXT_ENGINES_AGREE)
#: The two glyph readers read the same glyphs, cut alike: sure of a figure together with the
#: whole-figure network, they are two kinds of witness, not three. That is enough without the
#: arithmetic unless a reader is this sure of other digits of the same length. A fresh round
#: (40, seed 10591): a real hand's "999" whose middle "9" has the look of a "7" read 979 by
#: both glyph readers and the whole-figure network (0.90-0.99) and by PP-OCR (0.55),
#: Tesseract reading 974 (0.53), on a page whose other figures, half of them not found,
#: checked nothing. In that round's 600 pages, 596 figures were accepted on their readers
#: alone; this sends 8 to review, the wrong one among them (on round 42's 60 photos in real
#: hands, 4 of the 719 figures the code before it accepted, none wrong).
DISSENT_MIN = 0.5


def three_kinds(f: FieldReading) -> bool:
    """True when the glyph network, the whole-figure network and PP-OCR read ``f``'s value,
    each THREE_KINDS_MIN sure, and Tesseract is not TESS_MIN sure of other digits of the
    same length."""
    read = {n: (d, c) for n, d, c in f.readers}
    none: Said = (None, 0.0)
    return _three_alike(
        str(f.value),
        read.get("glyphs_a", none),
        read.get("sequence", none),
        read.get("ppocr", none),
        read.get("tesseract", none),
    )


def sure_witnesses(f: FieldReading) -> int:
    """How many digit readers read ``f``'s value UNSUPPORTED_SURE sure (the three kinds of
    reader reading alike, :func:`three_kinds`, count as enough); fewer than
    UNSUPPORTED_WITNESSES when the two glyph readers are two of them, the only other kind
    sure is one, and a reader is DISSENT_MIN sure of other digits of the same length (a
    reading a digit short is a figure cut, not another reading of it)."""
    said = str(f.value)
    if three_kinds(f):
        return UNSUPPORTED_WITNESSES
    sure = [
        n for n, d, c in f.readers if n in _DIGIT_READERS and d == said and c >= UNSUPPORTED_SURE
    ]
    kinds = {"glyphs" if n in ("glyphs_a", "glyphs_b") else n for n in sure}
    dissent = any(
        n in _DIGIT_READERS and d is not None and d != said and len(d) == len(said)
        for n, d, c in f.readers
        if c >= DISSENT_MIN
    )
    if len(kinds) < UNSUPPORTED_WITNESSES and dissent:
        return len(kinds)
    return len(sure)


def _stands_alone(f: FieldReading, footed: bool = False) -> bool:
    """Whether ``f``'s readers are enough without the arithmetic: its words say it (a figure
    in words is read apart from its digits); or, unless it is ``footed`` (a "1" in it has a
    foot: every reader may read a "2" so written "1", however sure), its readers are
    :func:`unanimous`, or it was accepted on neither of NEEDS_SUPPORT and
    UNSUPPORTED_WITNESSES readers are sure of it (:func:`sure_witnesses`)."""
    if any(n == "words" and d == str(f.value) for n, d, _ in f.readers):
        return True
    if footed:
        return False
    return unanimous(f) or (
        f.reason not in NEEDS_SUPPORT and sure_witnesses(f) >= UNSUPPORTED_WITNESSES
    )


def doubt_unsupported(
    form: Form, fields: dict[str, FieldReading], footed: set[str] | frozenset[str] = frozenset()
) -> None:
    """Send to review, in place, every accepted figure read by fewer sure readers than
    UNSUPPORTED_WITNESSES (and not by its words), or accepted on readers of NEEDS_SUPPORT,
    unless the arithmetic supports it: a control equality it is in holds, every figure of it
    accepted (``UNSUPPORTED``). A wrong figure in an equality breaks it (two wrong figures
    cancelling out exactly is what the arithmetic cannot see); a figure in no equality that
    can be checked has only its readers, and only the strongest of them are enough. Never
    changes a value, never accepts one.

    A figure in ``footed`` (it has a "1" with a foot, which can be a "2" written so: every
    reader may read it "1", however sure; or it was read by three kinds of reader on a page
    whose hand they misread, :func:`doubt_misread_digits`) stands only on the arithmetic or
    its words.

    Call it after :func:`doubt_by_relations` (a figure of a broken relation is already in
    review, and no longer counts as accepted here)."""
    accepted = accepted_values(fields)
    supported: set[str] = set()
    for rel in form.relations:
        keys = rel.keys(form.groups)
        if rel.op == "==" and all(k in accepted for k in keys):
            if rel.evaluate(accepted, form.groups) is True:
                supported.update(keys)
    for k, f in fields.items():
        if f.status is Status.ACCEPTED and k not in supported and not _stands_alone(f, k in footed):
            fields[k] = replace(
                f, status=Status.REVIEW, reason=Reason.UNSUPPORTED, confidence=f.confidence * 0.5
            )


#: Reasons a figure is in review for what its readers read (not where it was found): the
#: ones :func:`accept_by_relations` may settle.
_READ_DOUBTS = (
    Reason.READINGS_DISAGREE,
    Reason.LOW_CONFIDENCE,
    Reason.RANKED_BY_RELATION,
    Reason.DIGIT_MISREAD_ON_PAGE,
    Reason.HAND_MISREAD_ON_PAGE,
)
#: Two digit readers reading a value, each at least this sure, make it a reading of the
#: figure :func:`accept_by_relations` can check.
RELATION_PAIR_MIN = 0.5


def _read_by_two(f: FieldReading) -> set[int]:
    """Values two digit readers of different kinds read for ``f``, each RELATION_PAIR_MIN
    sure (the two glyph readers cut the figure alike: together they are one kind)."""
    names: dict[str, set[str]] = {}
    for n, d, c in f.readers:
        if n in _DIGIT_READERS and d is not None and c >= RELATION_PAIR_MIN:
            names.setdefault(d, set()).add(n)
    return {
        int(d)
        for d, ns in names.items()
        if len(ns) >= 2
        and ns != {"glyphs_a", "glyphs_b"}
        and not (len(d) > 1 and d[0] == "0")
        and int(d) <= MAX_CANDIDATE
    }


#: The confidence of a figure read in words, its digits read otherwise, that a control
#: equality confirms (``WORDS_AND_RELATION_AGREE``).
WORDS_AND_RELATION_CONFIDENCE = 0.9


def _words_to_check(f: FieldReading) -> int | None:
    """The value of ``f``'s words when the arithmetic may check them against its digits:
    they are :func:`words_whole` (more than one digit, not a round ten: not a figure read
    short at its end, "девяносто" for 92) and as long in digits as some digit reader's
    reading (a word lost or gained in the middle changes the figure's length: "сто" for
    "сто тридцать"); else None."""
    w = f.words_value
    if w is None or not words_whole(w):
        return None
    long_as = any(
        n in _DIGIT_READERS and d is not None and len(d) == len(str(w)) for n, d, _ in f.readers
    )
    return w if long_as else None


def _words_allow(f: FieldReading, value: int) -> bool:
    """Whether ``f``'s words, if any were read, allow ``value``: they say it, or they are it
    read short (:func:`words_cut_short`)."""
    w = f.words_value
    return w is None or w == value or words_cut_short(w, value)


#: The most figures an equality settles that no reader made sure of alone (the figures open
#: in it, and those of it in review for want of a relation, ``UNSUPPORTED``, that it would
#: accept with them). Each more is another pair whose misreadings can cancel: a fresh round
#: (41, seed 10609), a real hand, the parties' sum settled with three such figures, one open
#: and two waiting: "814" read 819 and "8" read 3 by the glyph network and the whole-figure
#: network alike, +5 and -5, and the sum held.
MAX_UNSURE_IN_EQUALITY = 2


def accept_by_relations(form: Form, fields: dict[str, FieldReading], misplaced: set[str]) -> None:
    """Accept, in place, a figure in review for what its readers read when two readers of
    different kinds read it alike and a control equality confirms it: the figure is the one
    figure of the equality not accepted, the equality holds with that reading and with no
    other reading two readers made, and no relation of the accepted figures breaks with it
    (``RELATION_CONFIRMS``). Its readers still disagree in the record (``readers``).

    Figures of the equality its readers read alike, in review only for want of a relation
    to check them (``UNSUPPORTED``), count as read: when the equality holds, they
    are accepted with it (``RELATION_CONFIRMS``), as :func:`doubt_unsupported` would have
    kept them had that figure been accepted.

    The arithmetic confirms a reading, never makes one: a value neither two readers nor the
    words read is never accepted, and a protocol that does not add up leaves its figures in
    review. A figure whose row or extent is in doubt (``misplaced``: a crowded label, a
    figure claimed twice, below its label, maybe cut short) is not settled so: two parties'
    figures swapped keep their sum. On the dev and fresh seed sets (8,064 handwritten
    figures), the figures so read were 104, none wrong; with the figures of two sure
    readers, 86 more of every set (typed too), none wrong.

    Two figures of an equality open, each in review for what its readers read (the rest of
    it accepted, or read by two sure readers): both are accepted when one pair of their
    readings, each read alike by two readers of different kinds, makes it hold and no other
    pair does, and no relation of the accepted figures breaks with them; neither is in doubt
    of its row, nor settled by another equality. Two wrong figures would have to be misread
    by exactly as much in opposite directions.

    A figure whose words contradict its digits is settled so by its words alone: the figure
    in words is read apart from the digits, and the equality, holding with that value, is
    the second witness (``WORDS_AND_RELATION_AGREE``; :func:`_words_to_check` says which
    words may be so checked).

    An equality settles at most MAX_UNSURE_IN_EQUALITY figures so, the open ones and those
    waiting for it together: with more, two misreadings that cancel out make it hold.

    Call it last: the other figures of the equality must have passed every doubt. One pass:
    a figure accepted here checks no other."""
    accepted = accepted_values(fields)
    # (accepted until then, they passed every doubt of where they were found)
    pending = {
        k: f.value
        for k, f in fields.items()
        if f.reason is Reason.UNSUPPORTED and f.value is not None
    }
    read = {**pending, **accepted}
    settled: dict[str, int] = {}

    def settle(keys: set[str], values: dict[str, int]) -> None:
        """Settle ``values`` (the open figures of the equality over ``keys``, which holds
        with them) unless words say otherwise or a relation breaks with them; with them the
        figures of it read by two sure readers."""
        if not all(_words_allow(fields[k], v) for k, v in values.items()):
            return
        with_them = {**accepted, **{z: read[z] for z in keys if z in read}, **values}
        if any(r.evaluate(with_them, form.groups) is False for r in form.relations):
            return
        settled.update(values)
        settled.update({z: pending[z] for z in keys if z in pending})

    for rel, keys, (k,) in _open_in(form, read, 1):
        f = fields[k]
        if f.status is not Status.REVIEW or k in misplaced:
            continue
        if sum(z in pending for z in keys) > MAX_UNSURE_IN_EQUALITY - 1:
            continue
        if f.reason in _READ_DOUBTS:
            readings = _read_by_two(f)
        elif f.reason is Reason.DIGITS_WORDS_DISAGREE and (w := _words_to_check(f)) is not None:
            # the figure in words, read apart from its digits, is a reading of its own: the
            # digit readers misread the hand alike ("2" written like a "1": 2114 read 1114);
            # the words' value alone is checked (what readers read against them is not)
            readings = {w}
        else:
            continue
        fitting = [v for v in readings if rel.evaluate({**read, k: v}, form.groups) is True]
        if len(fitting) == 1:
            settle(keys, {k: fitting[0]})
    for rel, keys, pair in _open_in(form, read, 2):
        both = [fields[k] for k in pair]
        if sum(z in pending for z in keys) > MAX_UNSURE_IN_EQUALITY - 2:
            continue
        if any(
            f.status is not Status.REVIEW
            or f.reason not in _READ_DOUBTS
            or f.key in misplaced
            or f.key in settled
            for f in both
        ):
            continue
        k1, k2 = pair
        fitting2 = [
            (x, y)
            for x in _read_by_two(both[0])
            for y in _read_by_two(both[1])
            if rel.evaluate({**read, k1: x, k2: y}, form.groups) is True
        ]
        if len(fitting2) == 1:
            settle(keys, {k1: fitting2[0][0], k2: fitting2[0][1]})
    for k, v in settled.items():
        f = fields[k]
        if f.reason is Reason.DIGITS_WORDS_DISAGREE:  # settled by its words
            fields[k] = replace(
                f,
                value=v,
                status=Status.ACCEPTED,
                reason=Reason.WORDS_AND_RELATION_AGREE,
                confidence=WORDS_AND_RELATION_CONFIDENCE,
                candidates=(v, *[x for x in f.candidates if x != v]),
            )
            continue
        if f.reason is Reason.UNSUPPORTED:
            fields[k] = replace(
                f,
                status=Status.ACCEPTED,
                reason=Reason.RELATION_CONFIRMS,
                confidence=2 * f.confidence,
            )
            continue
        # the weaker of the two surest readers of the value
        sure = sorted((c for n, d, c in f.readers if n in _DIGIT_READERS and d == str(v)))
        fields[k] = replace(
            f,
            value=v,
            status=Status.ACCEPTED,
            reason=Reason.RELATION_CONFIRMS,
            confidence=sure[-2],
            candidates=(v, *[x for x in f.candidates if x != v]),
        )


__all__ = [
    "accept_by_relations",
    "accepted_values",
    "decide",
    "decide_digits",
    "doubt_by_relations",
    "doubt_misread_digits",
    "doubt_unsupported",
    "misread_digits",
    "rank_by_relations",
    "words_cut_short",
]

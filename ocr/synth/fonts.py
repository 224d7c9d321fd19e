"""Font files the synthetic generator and the digit-model training use (Debian packages).

Typed text: fonts-dejavu-core, fonts-liberation2 (both cover Kazakh Cyrillic).
Handwriting: fonts-dkg-handwriting fonts-breip fonts-femkeklaver fonts-humor-sans
fonts-comic-neue fonts-kristi fonts-dancingscript fonts-bwht fonts-ecolier-court
fonts-rufscript fonts-kaushanscript fonts-klee (Klee One also covers Russian, used for
handwritten number words).
"""

from __future__ import annotations

from pathlib import Path

INSTALL_HINT = (
    "apt-get install fonts-dejavu-core fonts-liberation2 fonts-dkg-handwriting fonts-breip "
    "fonts-femkeklaver fonts-humor-sans fonts-comic-neue fonts-kristi fonts-dancingscript "
    "fonts-bwht fonts-ecolier-court fonts-rufscript fonts-kaushanscript fonts-klee"
)

TYPED = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
    "/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/liberation2/LiberationSerif-Regular.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed.ttf",
]
TYPED_BOLD = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/liberation2/LiberationSans-Bold.ttf",
]
#: Handwriting fonts used to train the digit model.
HAND_TRAIN = [
    "/usr/share/fonts/truetype/fifthhorseman/dkg.ttf",
    "/usr/share/fonts/truetype/fifthhorseman/dkgIt.ttf",
    "/usr/share/fonts/truetype/fifthhorseman/dkgBd.ttf",
    "/usr/share/fonts/truetype/breip/Breip.ttf",
    "/usr/share/fonts/opentype/comic-neue/ComicNeue-Regular.otf",
    "/usr/share/fonts/opentype/comic-neue/ComicNeue-Italic.otf",
    "/usr/share/fonts/opentype/comic-neue/ComicNeue-Light.otf",
    "/usr/share/fonts/truetype/kristi/Kristi.ttf",
    "/usr/share/fonts/opentype/dancingscript/DancingScript-Regular.otf",
    "/usr/share/fonts/opentype/bwht/BecauseWeBuild-Regular.otf",
    "/usr/share/fonts/opentype/bwht/BecauseWeConnect-Regular.otf",
    "/usr/share/fonts/opentype/bwht/BecauseWeCreate-Regular.otf",
    "/usr/share/fonts/opentype/bwht/BecauseWeOrganize-Regular.otf",
    "/usr/share/fonts/opentype/bwht/BecauseWeMentor-Regular.otf",
    "/usr/share/fonts/truetype/ecolier-court/Ecolier-court.ttf",
    "/usr/share/fonts/truetype/rufscript/Rufscript010.ttf",
    "/usr/share/fonts/opentype/kaushanscript/KaushanScript-Regular.otf",
    "/usr/share/fonts/truetype/klee/KleeOne-Regular.ttf",
]
#: Handwriting fonts never seen in training: the benchmark's held-out hands.
HAND_HELD_OUT = [
    "/usr/share/fonts/truetype/humor-sans/Humor-Sans.ttf",
    "/usr/share/fonts/opentype/bwht/BecauseWeLearn-Regular.otf",
    "/usr/share/fonts/truetype/femkeklaver/femkeklaver.ttf",
]
#: Handwriting fonts with Cyrillic, for number words written by hand.
HAND_CYRILLIC = ["/usr/share/fonts/truetype/klee/KleeOne-Regular.ttf"]


def available(paths: list[str]) -> list[str]:
    """The subset of ``paths`` installed on this machine."""
    return [p for p in paths if Path(p).exists()]

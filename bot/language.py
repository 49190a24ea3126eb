"""Language of a message: langdetect with a fixed seed, and the session's language for short texts."""

from __future__ import annotations

import re
from dataclasses import dataclass

from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory
from langdetect.lang_detect_exception import LangDetectException

LETTERS = re.compile(r"[^\W\d_]", re.UNICODE)
WORDS = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)


def _vocabulary(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Function words that are common in one language and rare in the others. Character
# n-gram detection misreads short sentences ("does your courier come round on saturdays?"
# comes out as French); two or more of these words of the session's language overrule it.
FUNCTION_WORDS: dict[str, frozenset[str]] = {
    "en": _vocabulary(
        "the is are was were my your our does do did what how when where why which can could would should will with have has been this that it's i'm don't can't i you me please and of for"
    ),
    "de": _vocabulary(
        "der die das ist und nicht ich mein meine wie wann warum mit bitte ein eine auf"
    ),
    "fr": _vocabulary(
        "le la les est et je mon ma mes vous pour avec une des pas quand comment pourquoi"
    ),
    "es": _vocabulary("el la los las es y yo mi mis usted para con una por qué cómo cuándo no"),
    "it": _vocabulary("il lo la gli è e io mio mia per con una non come quando perché sono"),
    "nl": _vocabulary("de het een is en ik mijn niet met voor waar wanneer hoe waarom"),
    "pt": _vocabulary("o a os as é e eu meu minha para com uma não como quando porque"),
}


@dataclass(frozen=True)
class LanguageGuess:
    language: str
    confidence: float
    detected: bool  # False when the session prior was used instead of detection


class LanguageDetector:
    """Deterministic language identification.

    Statistical detection is unreliable on a handful of characters ("hi" comes out as
    Swahili), so texts with fewer than ``min_letters`` letters, or detections below
    ``min_confidence``, keep the language the session already has.
    """

    def __init__(
        self, *, seed: int = 0, min_letters: int = 20, min_confidence: float = 0.8
    ) -> None:
        if not 0.0 <= min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be within [0, 1], got {min_confidence}")
        self.min_letters = min_letters
        self.min_confidence = min_confidence
        # A private factory, so that the seed and profiles are not process-wide state.
        self._factory = DetectorFactory()
        self._factory.load_profile(PROFILES_DIRECTORY)
        self._factory.set_seed(seed)

    def detect(self, text: str, prior: str) -> LanguageGuess:
        if len(LETTERS.findall(text)) < self.min_letters:
            return LanguageGuess(prior, 1.0, detected=False)
        detector = self._factory.create()
        detector.append(text)
        try:
            best = detector.get_probabilities()[0]
        except (LangDetectException, IndexError):
            return LanguageGuess(prior, 1.0, detected=False)
        if best.prob < self.min_confidence:
            return LanguageGuess(prior, float(best.prob), detected=False)
        if best.lang != prior and _function_words(text, prior) >= 2 > _function_words(
            text, best.lang
        ):
            return LanguageGuess(prior, 1.0 - float(best.prob), detected=False)
        return LanguageGuess(str(best.lang), float(best.prob), detected=True)


def _function_words(text: str, language: str) -> int:
    vocabulary = FUNCTION_WORDS.get(language, frozenset())
    return sum(word in vocabulary for word in WORDS.findall(text.lower()))

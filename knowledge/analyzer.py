"""Words for lexical search: lower-cased, stop words dropped, Snowball-stemmed per language."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

import Stemmer
from bm25s import stopwords

TOKEN = re.compile(r"(?u)\b\w\w+\b")
# ISO 639-1 codes of the languages both Snowball and bm25s's stop-word lists know.
LANGUAGES = {
    "da": ("danish", stopwords.STOPWORDS_DANISH),
    "de": ("german", stopwords.STOPWORDS_GERMAN),
    "en": ("english", stopwords.STOPWORDS_EN),
    "es": ("spanish", stopwords.STOPWORDS_SPANISH),
    "fr": ("french", stopwords.STOPWORDS_FRENCH),
    "it": ("italian", stopwords.STOPWORDS_ITALIAN),
    "nl": ("dutch", stopwords.STOPWORDS_DUTCH),
    "no": ("norwegian", stopwords.STOPWORDS_NORWEGIAN),
    "pt": ("portuguese", stopwords.STOPWORDS_PORTUGUESE),
    "ru": ("russian", stopwords.STOPWORDS_RUSSIAN),
    "sv": ("swedish", stopwords.STOPWORDS_SWEDISH),
    "tr": ("turkish", stopwords.STOPWORDS_TURKISH),
}


def analyzer(language: str) -> Callable[[str], list[str]]:
    """Tokenizer for ``language``; an unknown language keeps every word, unstemmed."""
    return _analyzer(language.lower().split("-")[0])


@lru_cache(maxsize=32)
def _analyzer(language: str) -> Callable[[str], list[str]]:
    if language not in LANGUAGES:
        return lambda text: TOKEN.findall(text.lower())
    name, words = LANGUAGES[language]
    stemmer = Stemmer.Stemmer(name)
    stop = frozenset(words)

    def analyze(text: str) -> list[str]:
        return list(stemmer.stemWords([w for w in TOKEN.findall(text.lower()) if w not in stop]))

    return analyze

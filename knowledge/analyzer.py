"""Words for lexical search: lower-cased, stop words dropped, Snowball-stemmed per language."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

import Stemmer

TOKEN = re.compile(r"(?u)\b\w\w+\b")
# ISO 639-1 code -> (Snowball stemmer, bm25s stop-word list) for the languages both know.
LANGUAGES = {
    "da": ("danish", "STOPWORDS_DANISH"),
    "de": ("german", "STOPWORDS_GERMAN"),
    "en": ("english", "STOPWORDS_EN"),
    "es": ("spanish", "STOPWORDS_SPANISH"),
    "fr": ("french", "STOPWORDS_FRENCH"),
    "it": ("italian", "STOPWORDS_ITALIAN"),
    "nl": ("dutch", "STOPWORDS_DUTCH"),
    "no": ("norwegian", "STOPWORDS_NORWEGIAN"),
    "pt": ("portuguese", "STOPWORDS_PORTUGUESE"),
    "ru": ("russian", "STOPWORDS_RUSSIAN"),
    "sv": ("swedish", "STOPWORDS_SWEDISH"),
    "tr": ("turkish", "STOPWORDS_TURKISH"),
}


def analyzer(language: str) -> Callable[[str], list[str]]:
    """Tokenizer for ``language``; an unknown language keeps every word, unstemmed."""
    return _analyzer(language.lower().split("-")[0])


@lru_cache(maxsize=32)
def _analyzer(language: str) -> Callable[[str], list[str]]:
    if language not in LANGUAGES:
        return lambda text: TOKEN.findall(text.lower())
    from bm25s import stopwords  # imported here: bm25s loads scipy, which quick commands skip

    name, words = LANGUAGES[language]
    stemmer = Stemmer.Stemmer(name)
    stop = frozenset(getattr(stopwords, words))

    def analyze(text: str) -> list[str]:
        return list(stemmer.stemWords([w for w in TOKEN.findall(text.lower()) if w not in stop]))

    return analyze

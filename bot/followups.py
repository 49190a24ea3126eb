"""Recognise messages that lean on the previous one ("and can I return it?").

Such follow-ups are classified together with the previous user message. The markers are
per language; a language without markers simply never counts as a follow-up by form.
"""

from __future__ import annotations

import re

WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)

# A message opening with one of these continues the previous one.
OPENERS: dict[str, tuple[tuple[str, ...], ...]] = {
    "en": (
        ("and",),
        ("also",),
        ("but",),
        ("plus",),
        ("what", "about"),
        ("how", "about"),
        ("what", "if"),
    ),
}
# Pronouns that point back at something named earlier.
ANAPHORA: dict[str, frozenset[str]] = {
    "en": frozenset({"it", "its", "it's", "them", "they", "those", "ones", "one's"}),
}


def looks_like_follow_up(text: str, language: str = "en") -> bool:
    words = WORD.findall(text.lower())
    if not words:
        return False
    if any(tuple(words[: len(opener)]) == opener for opener in OPENERS.get(language, ())):
        return True
    return any(word in ANAPHORA.get(language, frozenset()) for word in words)

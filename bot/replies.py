"""Turn a retrieved passage into a reply the widget can show as-is."""

from __future__ import annotations

import re

SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def clip_to_sentences(text: str, max_chars: int = 700) -> str:
    """``text`` cut at the last sentence end before ``max_chars`` (whole first sentence if longer)."""
    text = text.strip()
    if len(text) <= max_chars:
        return text
    clipped = ""
    for sentence in SENTENCE_END.split(text):
        candidate = f"{clipped} {sentence}".strip()
        if len(candidate) > max_chars:
            break
        clipped = candidate
    return clipped or text[:max_chars].rstrip() + "…"

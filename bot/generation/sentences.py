"""Sentence splitting and the sentence kinds the grounding check treats differently."""

from __future__ import annotations

import re
from collections.abc import Sequence

# A sentence ends at ., ! or ? (closing quotes/brackets included) followed by space and a
# character that is not a lower-case letter, or at a line break. A quoted label ("use the
# "Forgot password?" link") or an abbreviation ("e.g. a sofa") does not end one; and while a
# draft streams, a sentence is complete only once the next one has begun.
SENTENCE_BOUNDARY = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"')\]]))\s+(?=[^\sa-z])|\n+")
NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
# The assistant declining, or offering a person: statements about the bot, not about the
# store, so there is nothing in the passages to check them against. Only "I" as the
# subject counts: "we don't ship to Alaska" is a claim about the store and is checked.
DECLINE = re.compile(
    r"\bI\s*(?:'m|’m| am)?\s*(?:do not|don't|don’t|cannot|can't|can’t|can not|won't|"
    r"unable|not able)\b",
    re.IGNORECASE,
)
HANDOFF = r"(?:connect you|put you in touch|pass you|hand you over|transfer you)"
OFFER = re.compile(
    rf"\b(?:{HANDOFF}|anything else|happy to help|glad to help|I can help|help you with|"
    r"contact (?:our|the) support team)\b",
    re.IGNORECASE,
)


DENIED_HANDOFF = re.compile(
    rf"\bI\s*(?:'m|’m| am)?\s*(?:cannot|can't|can’t|can not|won't|unable to|not able to)\s+"
    rf"{HANDOFF}\b",
    re.IGNORECASE,
)


def denies_handoff(sentence: str) -> bool:
    """The bot refusing to hand the customer over ("I can't connect you with our team"):
    never true, since a person can always be asked for, and it contradicts the handoff
    offer the channels show next to a decline."""
    return bool(DENIED_HANDOFF.search(sentence))


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE_BOUNDARY.split(text.strip()) if s and s.strip()]


# Punctuation parts a sentence; so does a conjunction that joins a second predicate without
# a comma ("delivers between 8 am and 8 pm and does not deliver on Sundays"): read whole,
# such a sentence has one polarity for two claims that may have opposite ones. Both
# polarities are parted alike, so that "... and is added at checkout" in a passage meets
# "... and is not added at checkout" in a claim clause for clause.
CLAUSE_BOUNDARY = re.compile(
    r"[,;:]\s+|\s+[-–—]\s+"
    r"|\s+(?:and|but)\s+(?=(?:is|are|was|were|do|does|did|can|cannot|will|must|should|has|have"
    r"|not|never|no longer|\w+n['’]t)\b)",
    re.IGNORECASE,
)
NEGATION = re.compile(
    # A negating word joined to another by a hyphen is part of a compound word that names
    # something ("no-reply@...", "delivered-but-missing parcels"), not a negation of the
    # clause. Words that negate by their meaning count too: "one item is missing" says
    # what "one item is not there" says, and "not unavailable" what "available" does.
    r"(?<!-)\b(?:not|no|never|cannot|none|nothing|neither|nor|without"
    r"|missing|absent|unavailable|unable|lacks?|lacking)\b(?!-)|n't\b|n’t\b",
    re.IGNORECASE,
)
# An aside in brackets ("two completed (not pending) charges") qualifies a word; a
# negation inside it does not turn the clause around.
ASIDE = re.compile(r"\([^()]*\)")
MIN_CLAUSE_WORDS = 4
# Two negations at most this many words apart cancel: "is not missing" (see has_negation).
NEGATIONS_CANCEL_WITHIN = 3


def split_clauses(text: str) -> list[str]:
    """Comma/semicolon/dash parts of each sentence that have at least ``MIN_CLAUSE_WORDS`` words."""
    clauses = []
    for sentence in split_sentences(text):
        parts = _read_with_list_lead([p.strip(" .!?") for p in CLAUSE_BOUNDARY.split(sentence)])
        if len(parts) > 1:
            clauses += [p for p in parts if len(p.split()) >= MIN_CLAUSE_WORDS]
    return clauses


# The last item of a list ("..., or addresses in Alaska") after the comma that parts it off.
LIST_END = re.compile(r"(?:or|nor)\s", re.IGNORECASE)


def _read_with_list_lead(parts: list[str]) -> list[str]:
    """``parts`` with a list's last item read from the negated part that opens the list:
    "but not for freight, backordered products, or addresses in Alaska" says that Alaska
    is excluded, which "or addresses in Alaska" alone would turn around."""
    read: list[str] = []
    lead: int | None = None
    for index, part in enumerate(parts):
        if lead is not None and LIST_END.match(part):
            read.append(", ".join(parts[lead : index + 1]))
            continue
        if has_negation(part):
            lead = index
        read.append(part)
    return read


LIST_ITEM = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")


def list_item_units(text: str) -> dict[str, str]:
    """Each list line (as :func:`split_sentences` gives it) mapped to the item read with the
    line that introduces it ("Things that cannot be changed: Furniture delivery addresses
    within 48 hours ..."), for items that have one.

    The lead-in often carries the claim's polarity or subject, which the item alone lacks:
    a list under "Items we cannot take back" states that they cannot be returned.
    """
    units, lead = {}, ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        item = LIST_ITEM.sub("", stripped, count=1)
        if item != stripped:
            if lead:
                units[stripped] = f"{lead} {item}"
        else:
            lead = stripped if stripped.endswith(":") else ""
    return units


# A reply word opening a sentence ("No, each code works once.") answers the customer's
# question; the claim that follows carries its own polarity.
LEADING_REPLY = re.compile(
    r"^\s*(?:no|yes|yeah|yep|nope|sure|sorry|unfortunately|not necessarily|"
    r"I['’]m afraid(?: not| so)?|I['’]m sorry)\s*[,.!;:–—-]\s*",
    re.IGNORECASE,
)


def without_leading_reply(sentence: str) -> str:
    """``sentence`` without the reply words that open it ("Yes, unfortunately, ...")."""
    while True:
        stripped = LEADING_REPLY.sub("", sentence, count=1)
        if stripped == sentence or not stripped.strip():
            return sentence
        sentence = stripped


def has_negation(text: str) -> bool:
    """Whether ``text`` says something is not so. Two negations close together cancel ("is not
    missing", "never without"); ones further apart negate separate things ("cannot be switched
    off, and neither can order confirmations"). On the TRAIN references' sentences this caught
    297 rather than 294 of 350 claims turned around by adding or removing a negation, and
    flagged 4 rather than 5 of 542 supported sentences as turned around. On the 650-item
    TRAIN set, leaving out compounds, asides and the bot's own refusals (see NEGATION, ASIDE
    and the checker) took the supported sentences flagged from 7 to 4 of 799 and the turned
    claims caught from 424 of 494 to 428 of 495."""
    words = ASIDE.sub(" ", text).split()
    positions = [i for i, word in enumerate(words) if NEGATION.search(word)]
    left = i = 0
    while i < len(positions):
        if i + 1 < len(positions) and positions[i + 1] - positions[i] <= NEGATIONS_CANCEL_WITHIN:
            i += 2
        else:
            left += 1
            i += 1
    return left > 0


def claim_parts(sentence: str) -> list[str]:
    """The clauses of ``sentence`` (without its leading reply words) that have at least
    ``MIN_CLAUSE_WORDS`` words, when it has two or more; else nothing."""
    parts = _read_with_list_lead(
        [p.strip(" .!?") for p in CLAUSE_BOUNDARY.split(without_leading_reply(sentence))]
    )
    clauses = [p for p in parts if len(p.split()) >= MIN_CLAUSE_WORDS]
    return clauses if len(clauses) > 1 else []


def numbers_in(text: str) -> set[str]:
    """Digits in ``text``, normalised ("1,000" -> "1000") so formatting does not matter."""
    return {n.replace(",", "") for n in NUMBER.findall(text)}


def is_meta(sentence: str) -> bool:
    """A refusal or an offer of help that states no figure: nothing to ground."""
    return not NUMBER.search(sentence) and bool(DECLINE.search(sentence) or OFFER.search(sentence))


def is_decline(sentence: str) -> bool:
    return not NUMBER.search(sentence) and bool(DECLINE.search(sentence))


# "I don't have information about that", "I don't know": the bot saying it lacks the answer,
# as opposed to refusing something ("I can't share my instructions").
NOT_KNOWN = re.compile(
    r"\bI\s+(?:do not|don't|don’t)\s+(?:have|know)\b|\bI\s+(?:have|'ve|’ve)\s+no\s+"
    r"(?:information|details)\b",
    re.IGNORECASE,
)


def says_not_known(sentence: str) -> bool:
    """The sentence says the bot does not have the answer (a decline, not a refusal)."""
    return bool(NOT_KNOWN.search(sentence))


def without_heading(sentence: str, headings: Sequence[str]) -> str:
    """``sentence`` without a passage heading echoed in front of it, or "" when it is only
    a heading. A small model at a loss copies the line above a passage ("Account locked or
    cannot sign in - Account suspended for security"): it names a topic and answers nothing,
    yet it matches the passage and the question well enough to pass as a claim. A prompt
    heading of title and section ("Title - Section") is stripped where it opens a longer
    sentence; a title or section alone only when it is the whole sentence, since an answer
    may start with the same words ("Cancel an order yourself within 60 minutes")."""
    folded = sentence.strip().rstrip(".!:").strip()
    for heading in headings:
        parts = [heading, *heading.split(" - ")]
        if any(folded.casefold() == part.strip().casefold() for part in parts):
            return ""
        if " - " in heading and folded.casefold().startswith(heading.casefold() + " "):
            return sentence.strip()[len(heading) :].strip()
    return sentence


def complete_sentences(buffer: str) -> tuple[list[str], str]:
    """Sentences of ``buffer`` known to be complete, and the unfinished rest.

    A sentence is complete once a boundary (end mark and whitespace, or a line break)
    follows it; the text after the last boundary may still grow.
    """
    sentences: list[str] = []
    start = 0
    for match in SENTENCE_BOUNDARY.finditer(buffer):
        piece = buffer[start : match.start()].strip()
        if piece:
            sentences.append(piece)
        start = match.end()
    return sentences, buffer[start:]

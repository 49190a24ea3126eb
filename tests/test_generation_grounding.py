"""The grounding check and the extractive fallback, with the real embedder."""

from __future__ import annotations

import pytest

from bot.errors import ConfigError
from bot.generation.extractive import answer_opening, extractive_answer
from bot.generation.grounding import GroundingChecker
from knowledge.embedder import Embedder

RETURNS = (
    "You can return most items within 30 days of delivery. Items must be unused and in "
    "their original packaging. Final-sale items and gift cards cannot be returned. Return "
    "shipping is free for store credit; a $6.95 label fee applies to card refunds."
)
REFUNDS = (
    "Card refunds show on your statement within 5-10 business days after we process the return."
)


@pytest.fixture(scope="module")
def checker(embedder: Embedder) -> GroundingChecker:
    return GroundingChecker(embedder)


def test_sentences_taken_or_paraphrased_from_the_passages_are_supported(
    checker: GroundingChecker,
) -> None:
    report = checker.check(
        "You can send most items back within 30 days of delivery. They must be unused. "
        "Refunds to your card show within 5-10 business days.",
        [RETURNS, REFUNDS],
    )
    assert report.supported, report
    assert report.passages_used == (0, 1)


@pytest.mark.parametrize(
    "draft",
    [
        "You can return most items within 60 days of delivery.",  # a changed figure
        "Return shipping is always free, and we pay a $20 bonus for every return.",
        "Our stores in Paris and Berlin accept returns of used furniture too.",
        "Maplebrook was founded in 1887 by two brothers from Vermont.",
    ],
)
def test_invented_facts_are_not_supported(checker: GroundingChecker, draft: str) -> None:
    assert not checker.check(draft, [RETURNS, REFUNDS]).supported


def test_refusals_and_offers_are_not_checked_but_figures_in_them_are(
    checker: GroundingChecker,
) -> None:
    report = checker.check(
        "I'm sorry, I don't have information about job openings. "
        "I can connect you with a member of our support team.",
        [RETURNS],
    )
    assert report.supported and report.declined and report.passages_used == ()
    assert not checker.check("I can't confirm it, but returns take 365 days.", [RETURNS]).supported


def test_without_passages_nothing_factual_is_supported(checker: GroundingChecker) -> None:
    assert not checker.check("Returns are accepted within 30 days.", []).supported
    assert not checker.check("", [RETURNS]).supported  # no draft at all


def test_lexical_only_checker_still_rejects_invented_text() -> None:
    lexical = GroundingChecker(None, threshold=0.5)
    assert lexical.check(
        "Items must be unused and in their original packaging.", [RETURNS]
    ).supported
    assert not lexical.check("Our Paris store accepts used furniture.", [RETURNS]).supported


def test_extractive_answer_takes_the_relevant_sentences_in_passage_order(
    embedder: Embedder,
) -> None:
    answer = extractive_answer(
        "is there a fee for returning something for a card refund?",
        RETURNS,
        embedder=embedder,
        max_sentences=2,
    )
    assert "$6.95 label fee" in answer
    sentences = [s for s in RETURNS.split(". ") if s.rstrip(".") in answer]
    assert answer.startswith(sentences[0].rstrip("."))  # passage order kept
    assert len(answer) < len(RETURNS)


def test_an_answer_opening_is_the_start_of_the_closest_passage_sentence(
    embedder: Embedder,
) -> None:
    delivery = (
        "Delivery times and shipping options\n"
        "Things that lengthen delivery:\n"
        "- **Weekend orders** ship on the next business day.\n"
        "- Remote addresses take 2 more days."
    )
    question = "I ordered on Saturday, when does it ship?"
    opening = answer_opening(question, [RETURNS, delivery], embedder=embedder, words=3)
    assert opening == "Weekend orders ship"  # list marker and emphasis dropped
    lexical = answer_opening(question, [delivery], words=4)
    assert lexical is not None and len(lexical.split()) == 4 and "*" not in lexical
    # Headings (no full stop) are never an answer's start; no sentence: no opening.
    assert answer_opening("delivery times?", ["Delivery times and shipping options"]) is None


def test_a_flipped_negation_is_not_supported(checker: GroundingChecker) -> None:
    gift = "Gift cards cannot be exchanged for cash, except where state law requires it."
    assert not checker.check("Gift cards can be exchanged for cash at any time.", [gift]).supported
    assert checker.check("You can't exchange gift cards for cash.", [gift]).supported


def test_words_that_negate_by_meaning_keep_the_claims_polarity(checker: GroundingChecker) -> None:
    parcel = (
        "If the items in the box are right but one of them is not there, check whether "
        "your order was shipped in more than one parcel."
    )
    # "missing" says "not there": the same claim, not its opposite.
    assert checker.check(
        "If one of the items is missing, check whether your order came in more than one parcel.",
        [parcel],
    ).supported
    stock = "The sofa is unavailable for Express delivery."
    assert not checker.check("The sofa is available for Express delivery.", [stock]).supported
    # Two negations side by side cancel: "not unavailable" is the opposite of the claim.
    assert not checker.check("The sofa is not unavailable for Express delivery.", [stock]).supported


def test_list_items_are_read_with_their_lead_in(checker: GroundingChecker) -> None:
    from bot.generation.prompt import PromptPassage

    passage = PromptPassage(
        "Returns policy",
        "- Personalised or engraved products.\n- Clearance items marked Final Sale.",
        section="Items we cannot take back",
    ).grounding_text()
    # The negation lives in the heading; without it the item reads as the opposite claim.
    assert checker.check(
        "Clearance items marked Final Sale cannot be returned.", [passage]
    ).supported
    assert not checker.check(
        "Clearance items marked Final Sale can be returned.", [passage]
    ).supported


def test_bare_answer_words_are_not_checked(checker: GroundingChecker) -> None:
    report = checker.check("Yes, unfortunately. Either one.", [REFUNDS])
    assert report.sentences and not any(s.checked for s in report.sentences)


def test_a_leading_reply_word_is_not_the_claims_negation(checker: GroundingChecker) -> None:
    codes = "Each backup code works once. Keep them somewhere safe."
    # "No," answers the customer; the claim after it is positive, as in the passage.
    assert checker.check("No, each backup code works once.", [codes]).supported
    assert not checker.check("No, each backup code does not work once.", [codes]).supported


def test_no_inside_a_word_is_not_a_negation(checker: GroundingChecker) -> None:
    reset = "We send a reset link from no-reply@shop.example that expires after 60 minutes."
    assert checker.check(
        "We send you a reset link that expires after 60 minutes.", [reset]
    ).supported


def test_a_negation_in_a_compound_or_an_aside_does_not_turn_the_passage_around(
    checker: GroundingChecker,
) -> None:
    claim = "Send us your order number and a photo of the outer box."
    compound = (
        "For delivered-but-missing parcels, send us your order number and a photo of the outer box."
    )
    assert checker.check(claim, [compound]).supported
    charges = (
        "If two settled (not pending) charges appear, we refund the second within 2 business days."
    )
    assert checker.check(
        "If two settled charges appear, we refund the second within 2 business days.", [charges]
    ).supported


def test_a_refusal_clause_is_not_read_as_the_claims_negation(checker: GroundingChecker) -> None:
    points = (
        "You can change the reward you chose until you pay. Every 200 points can be turned "
        "into a $10 reward at checkout."
    )
    # The refusal is about the bot; the claim after it matches the passage.
    assert checker.check(
        "I can't change the reward you chose for you, but every 200 points can be turned "
        "into a $10 reward at checkout.",
        [points],
    ).supported


def test_a_sentence_joining_a_positive_and_a_negative_claim_matches_each(
    checker: GroundingChecker,
) -> None:
    pickup = (
        "Furniture is collected from the loading bay. Staff will help you load it into your "
        "vehicle. We cannot assemble items in the showroom."
    )
    assert checker.check(
        "Staff will help you load it into your vehicle, but we cannot assemble items in the "
        "showroom.",
        [pickup],
    ).supported
    assert not checker.check("We can assemble items in the showroom.", [pickup]).supported


def test_a_claim_matches_the_half_of_a_sentence_that_states_it(checker: GroundingChecker) -> None:
    hours = "Our courier, Fernline, delivers between 9 am and 6 pm and does not deliver on Sundays."
    # Read whole, the passage sentence is negated; the claim states its positive half.
    assert checker.check("Fernline delivers between 9 am and 6 pm.", [hours]).supported
    assert not checker.check("Fernline delivers on Sundays.", [hours]).supported


def test_a_turned_clause_is_caught_behind_another_clauses_negation(
    checker: GroundingChecker,
) -> None:
    alaska = (
        "Express delivery is not available for addresses in Alaska. Gift wrapping costs $5 "
        "per item, and it is not refundable."
    )
    # Whole, the claim is negated like the passage; its first clause says the opposite.
    assert not checker.check(
        "Express delivery is available for addresses in Alaska, and gift wrapping is not "
        "refundable.",
        [alaska],
    ).supported
    assert checker.check(
        "Express delivery is not available for addresses in Alaska, and gift wrapping is not "
        "refundable.",
        [alaska],
    ).supported


def test_a_lists_last_item_keeps_the_negation_that_opens_the_list(
    checker: GroundingChecker,
) -> None:
    express = (
        "Express is available for most small and medium items, but not for sofas delivered "
        "by freight, backordered products, or addresses in Alaska, Hawaii and Guam."
    )
    assert not checker.check("Express is available for addresses in Alaska.", [express]).supported
    assert checker.check("Express is not available for addresses in Alaska.", [express]).supported
    assert checker.check(
        "Express is available for most small and medium items.", [express]
    ).supported


def test_relevance_is_high_for_the_answer_and_low_for_another_fact_of_the_same_passage(
    checker: GroundingChecker,
) -> None:
    question = "how long do I have to return a lamp?"
    answer = checker.relevance(question, "You have 30 days from delivery to return it.", [RETURNS])
    other = checker.relevance(question, "Items must be unused and in their packaging.", [RETURNS])
    assert answer is not None and other is not None
    assert answer >= checker.relevance_threshold > other
    assert checker.answers(question, "You have 30 days from delivery to return it.", [RETURNS])


def test_relevance_cannot_be_judged_without_an_embedder_and_bad_thresholds_are_refused() -> None:
    lexical = GroundingChecker(None)
    assert lexical.relevance("how long?", "30 days.", [RETURNS]) is None
    assert lexical.answers("how long?", "Gift cards are great.", [RETURNS])
    with pytest.raises(ConfigError, match="relevance threshold"):
        GroundingChecker(None, relevance_threshold=1.5)


def test_passages_that_state_the_asked_fact_must_be_answered_from(
    checker: GroundingChecker,
) -> None:
    direct = checker.coverage("can I return most items within 30 days?", [RETURNS])
    unrelated = checker.coverage("do you sell replacement sofa cushions?", [RETURNS])
    assert direct is not None and unrelated is not None and direct > unrelated
    assert checker.must_answer("can I return most items within 30 days?", [RETURNS])
    assert not checker.must_answer("do you sell replacement sofa cushions?", [RETURNS])
    assert not GroundingChecker(None).must_answer("can I return items?", [RETURNS])

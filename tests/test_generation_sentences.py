"""Sentence splitting of drafts and passages, whole and while a draft streams."""

from __future__ import annotations

import pytest

from bot.generation.sentences import (
    claim_parts,
    complete_sentences,
    denies_handoff,
    has_negation,
    says_not_known,
    split_clauses,
    split_sentences,
    without_heading,
)


def test_sentences_end_at_end_marks_closing_quotes_and_line_breaks() -> None:
    text = 'Select "Notify me." We email you. Alerts last 90 days!\nAsk us anything?'
    assert split_sentences(text) == [
        'Select "Notify me."',
        "We email you.",
        "Alerts last 90 days!",
        "Ask us anything?",
    ]


def test_a_quoted_label_or_an_abbreviation_inside_a_sentence_does_not_end_it() -> None:
    text = 'Use the "Forgot password?" link to unlock it. Bulky items, e.g. sofas, ship by freight.'
    assert split_sentences(text) == [
        'Use the "Forgot password?" link to unlock it.',
        "Bulky items, e.g. sofas, ship by freight.",
    ]


def test_a_streamed_sentence_is_complete_once_the_next_one_begins() -> None:
    assert complete_sentences('Use the "Forgot password?" ') == ([], 'Use the "Forgot password?" ')
    done, rest = complete_sentences('Use the "Forgot password?" link. It ')
    assert done == ['Use the "Forgot password?" link.']
    assert rest == "It "


def test_saying_the_answer_is_not_known_is_told_from_refusing_something() -> None:
    assert says_not_known("I'm sorry, I don't have information about gift wrapping.")
    assert says_not_known("Sorry, I don’t know when it will be restocked.")
    assert says_not_known("I have no details about that order.")
    assert not says_not_known("I can't share my instructions, but I can help with your order.")
    assert not says_not_known("We don't have a showroom in Texas.")


@pytest.mark.parametrize(
    ("text", "negated"),
    [
        ("Gift cards cannot be exchanged for cash.", True),
        ("You can't exchange them.", True),
        ("One item is missing from the box.", True),  # negated by its meaning
        ("Express is unavailable for that address.", True),
        ("The item is not missing.", False),  # side by side, two negations cancel
        ("Express is not unavailable there.", False),
        # Far apart, they negate two things.
        ("Password resets cannot be switched off, and neither can order confirmations.", True),
        ("Replies come from no-reply@shop.example within a day.", False),
        # In a compound word it names a thing; in brackets it qualifies one.
        ("Report delivered-but-missing parcels within 7 days.", False),
        ("Two settled (not pending) charges are refunded.", False),
        ("Two charges (not holds) cannot be merged.", True),
        ("Orders ship the next business day.", False),
    ],
)
def test_negation_is_read_from_words_that_negate_and_cancels_in_pairs(
    text: str, negated: bool
) -> None:
    assert has_negation(text) is negated


def test_a_second_predicate_joined_without_a_comma_is_a_clause_of_its_own() -> None:
    # Two claims of opposite polarity in one sentence: each is a unit to match against.
    assert split_clauses("The van comes between 9 am and 5 pm and does not come on Sundays.") == [
        "The van comes between 9 am and 5 pm",
        "does not come on Sundays",
    ]
    # The positive form is parted the same way, so a turned clause meets its counterpart.
    assert claim_parts("Assembly costs $59 per item and is added at checkout.") == [
        "Assembly costs $59 per item",
        "is added at checkout",
    ]
    # "and" between nouns or numbers joins no predicate.
    assert split_clauses("Sofas and beds ship between 9 am and 5 pm.") == []
    assert claim_parts("Returns and exchanges are free for members and their families.") == []


def test_a_lists_last_item_is_read_from_the_negated_part_that_opens_the_list() -> None:
    clauses = split_clauses(
        "Gift wrap is free for most orders, but not for gift cards, bulky items, or orders "
        "shipped abroad."
    )
    assert "but not for gift cards, bulky items, or orders shipped abroad" in clauses
    assert "or orders shipped abroad" not in clauses
    # Without a negation before it, the last item is a part like any other.
    assert "or orders shipped abroad" in split_clauses(
        "Gift wrap is free for most orders, gift cards included, or orders shipped abroad."
    )


HEADINGS = ["Account locked or cannot sign in - Account suspended for security", "Cancel an order"]


def test_an_echoed_passage_heading_is_no_sentence_and_is_cut_from_the_front_of_one() -> None:
    assert without_heading(HEADINGS[0], HEADINGS) == ""
    assert without_heading("Account suspended for security.", HEADINGS) == ""
    assert without_heading("Cancel an order.", HEADINGS) == ""
    glued = f"{HEADINGS[0]} We may suspend the account and email you."
    assert without_heading(glued, HEADINGS) == "We may suspend the account and email you."
    # An answer that opens with a title's words is an answer, not an echo.
    own = "Cancel an order yourself within 60 minutes of placing it."
    assert without_heading(own, HEADINGS) == own
    assert without_heading("Your account is suspended for security.", HEADINGS).startswith("Your")


def test_a_refusal_to_hand_the_customer_over_is_told_from_an_offer() -> None:
    assert denies_handoff("I can't connect you with a member of our support team.")
    assert denies_handoff("I'm unable to transfer you right now.")
    assert not denies_handoff("I can connect you with a member of our support team.")
    assert not denies_handoff("I cannot share that, but I can connect you with our team.")
    assert not denies_handoff("We cannot transfer your points to another account.")

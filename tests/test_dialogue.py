"""The dialogue manager's turn pipeline on the demo tenant, and what it writes to the log."""

from __future__ import annotations

import pytest

from bot.errors import InputError
from bot.policy import Action
from bot.runtime import Runtime


def test_small_talk_answer_and_handoff(demo_runtime: Runtime) -> None:
    dialogue = demo_runtime.dialogue
    session = dialogue.open_session()
    assert dialogue.handle(session, "hey, good morning").action is Action.SMALLTALK
    answer = dialogue.handle(session, "what does shipping cost for a $40 order?")
    assert answer.action is Action.ANSWER and answer.sources
    assert answer.sources[0].document_id == "shipping-costs"
    handoff = dialogue.handle(session, "let me speak with an actual human agent")
    assert handoff.action is Action.HANDOFF
    assert session.handed_off and session.turns == 3


def test_every_turn_is_logged_with_intent_and_sources(demo_runtime: Runtime) -> None:
    dialogue = demo_runtime.dialogue
    session = dialogue.open_session()
    dialogue.handle(session, "hello")
    dialogue.handle(session, "how do I reset my password?")
    turns = demo_runtime.log.turns(session.id)
    assert [t.user_text for t in turns] == ["hello", "how do I reset my password?"]
    assert turns[0].intent == "greet" and turns[0].action == "smalltalk"
    assert turns[1].action == "answer" and "password-reset" in turns[1].details["sources"]


def test_off_topic_text_is_not_answered_with_a_guess(demo_runtime: Runtime) -> None:
    dialogue = demo_runtime.dialogue
    reply = dialogue.handle(
        dialogue.open_session(), "what is the boiling point of liquid nitrogen in kelvin"
    )
    assert reply.action is Action.NO_ANSWER and not reply.sources


def test_short_text_keeps_session_language(demo_runtime: Runtime) -> None:
    dialogue = demo_runtime.dialogue
    session = dialogue.open_session()
    reply = dialogue.handle(session, "ok")
    assert reply.language == "en" and reply.action is not Action.UNSUPPORTED_LANGUAGE


@pytest.mark.parametrize("text", ["", "   \n\t"])
def test_empty_messages_are_rejected(demo_runtime: Runtime, text: str) -> None:
    with pytest.raises(InputError, match="empty"):
        demo_runtime.dialogue.handle(demo_runtime.dialogue.open_session(), text)


def test_overlong_message_is_rejected_and_not_logged(demo_runtime: Runtime) -> None:
    dialogue = demo_runtime.dialogue
    session = dialogue.open_session()
    with pytest.raises(InputError, match="limit"):
        dialogue.handle(session, "a" * (dialogue.max_message_chars + 1))
    assert demo_runtime.log.turns(session.id) == []

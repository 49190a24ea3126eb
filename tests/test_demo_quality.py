"""The shipped demo tenant, measured on its held-out test conversations."""

from __future__ import annotations

import yaml

from bot.policy import Action
from bot.runtime import Runtime
from tests.conftest import DEMO


def _turns() -> list[dict]:
    conversations = yaml.safe_load((DEMO / "conversations.yml").read_text("utf-8"))["conversations"]
    return [turn for conversation in conversations for turn in conversation["turns"]]


def test_test_conversations_are_kept_apart_from_training_examples() -> None:
    training = yaml.safe_load((DEMO / "intents.yml").read_text("utf-8"))["intents"]
    examples = {" ".join(e.lower().split()) for spec in training.values() for e in spec["examples"]}
    leaked = [t["user"] for t in _turns() if " ".join(t["user"].lower().split()) in examples]
    assert leaked == []
    assert len(_turns()) >= 30


def test_intent_accuracy_on_test_conversations(demo_runtime: Runtime) -> None:
    """Each conversation runs in its own session, so follow-ups are read in context."""
    conversations = yaml.safe_load((DEMO / "conversations.yml").read_text("utf-8"))["conversations"]
    dialogue = demo_runtime.dialogue
    correct = total = 0
    for conversation in conversations:
        session = dialogue.open_session()
        for turn in conversation["turns"]:
            reply = dialogue.handle(session, turn["user"])
            correct += reply.intent is not None and reply.intent.name == turn["intent"]
            total += 1
    accuracy = correct / total
    print(f"demo intent accuracy in conversation {accuracy:.3f} on {total} turns")
    assert accuracy >= 0.90


def test_answers_cite_the_expected_article_first(demo_runtime: Runtime) -> None:
    dialogue = demo_runtime.dialogue
    questions = [t for t in _turns() if "article" in t]
    first = 0
    for turn in questions:
        reply = dialogue.handle(dialogue.open_session(), turn["user"])
        first += bool(reply.sources) and reply.sources[0].document_id == turn["article"]
    rate = first / len(questions)
    print(f"expected article first for {rate:.3f} of {len(questions)} questions")
    assert rate >= 0.80


def test_handoff_turns_hand_off(demo_runtime: Runtime) -> None:
    dialogue = demo_runtime.dialogue
    handoffs = [t for t in _turns() if t.get("handoff")]
    assert handoffs
    actions = [dialogue.handle(dialogue.open_session(), t["user"]).action for t in handoffs]
    assert sum(a is Action.HANDOFF for a in actions) / len(actions) >= 0.8

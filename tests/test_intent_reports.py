"""Calibrated, out-of-scope-aware intent predictions, the clarify turn, and `eval --report`."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.dialogue import DialogueManager
from bot.policy import Action, PolicyConfig
from bot.runtime import Runtime
from bot.sessions import InMemorySessionStore

UNRELATED = [
    "what is the boiling point of liquid nitrogen in kelvin",
    "who wrote the opera carmen",
    "explain photosynthesis to a ten year old",
]


def test_demo_model_is_calibrated_and_flags_unrelated_questions(demo_runtime: Runtime) -> None:
    classifier = demo_runtime.dialogue.classifier
    assert classifier.temperature != 1.0 and 0.0 < classifier.oos_threshold < 1.0
    validation = classifier.validation
    assert validation["ece_after_calibration"] < validation["ece_before_calibration"]
    assert all(p.out_of_scope for p in classifier.predict_batch(UNRELATED))
    in_scope = classifier.predict_batch(["where is my parcel right now?", "I forgot my password"])
    assert not any(p.out_of_scope for p in in_scope)


def _dialogue(runtime: Runtime, policy: PolicyConfig) -> DialogueManager:
    base = runtime.dialogue
    return DialogueManager(
        tenant=base.tenant,
        classifier=base.classifier,
        retriever=base.retriever,
        language=base.language,
        sessions=InMemorySessionStore(),
        log=base.log,
        policy=policy,
    )


def test_torn_between_two_intents_the_bot_asks_which(demo_runtime: Runtime) -> None:
    # Nothing counts as certain and no passage as good enough, so the ranking alone decides.
    dialogue = _dialogue(
        demo_runtime, PolicyConfig(intent_threshold=0.999, retrieval_min_score=2.0)
    )
    reply = dialogue.handle(
        dialogue.open_session(), "I sent the vase back, so when is my money coming?"
    )
    first, second = reply.intent, reply.alternatives[0]
    assert first is not None and first.confidence + second.confidence >= 0.5
    assert reply.action is Action.CLARIFY
    tenant = demo_runtime.dialogue.tenant
    assert tenant.intents[first.name].title in reply.text
    assert tenant.intents[second.name].title in reply.text


def test_spread_out_uncertainty_is_no_answer_not_a_guess(demo_runtime: Runtime) -> None:
    dialogue = _dialogue(
        demo_runtime, PolicyConfig(intent_threshold=0.999, retrieval_min_score=2.0)
    )
    reply = dialogue.handle(dialogue.open_session(), UNRELATED[0])
    assert reply.intent is not None
    assert reply.intent.confidence + reply.alternatives[0].confidence < 0.5
    assert reply.action is Action.NO_ANSWER


def _write(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


TRAIN = [
    *[(f"where is my parcel number {n}", "track") for n in range(8)],
    *[(f"I need a refund for order {n}", "refund") for n in range(8)],
    *[(f"my password for account {n} does not work", "login") for n in range(8)],
]
TEST = [
    ("where has my package got to", "track"),
    ("please refund my money", "refund"),
    ("I can't sign in with my password", "login"),
    ("what is the capital of peru", "oos"),
]


def test_eval_report_writes_json_and_plots(tmp_path: Path) -> None:
    train, test = _write(tmp_path / "train.csv", TRAIN), _write(tmp_path / "test.csv", TEST)
    report_dir = tmp_path / "report"
    command = [
        sys.executable,
        "-m",
        "bot",
        "eval",
        "intents",
        "--train",
        str(train),
        "--test",
        str(test),
    ]
    result = subprocess.run(
        [*command, "--oos-label", "oos", "--report", str(report_dir), "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    for key in ("accuracy", "macro_f1", "in_scope_accuracy", "oos_recall", "oos_precision"):
        assert 0.0 <= summary[key] <= 1.0
    report = json.loads((report_dir / "intent_report.json").read_text())
    assert set(report["intents"]) >= {"track", "refund", "login", "oos"}
    assert report["intents"]["track"]["support"] == 1
    histogram = report["confidence_histogram"]
    assert sum(histogram["correct"]) + sum(histogram["wrong"]) == len(TEST)
    for name in ("confusion_matrix.png", "confidence_histogram.png"):
        assert (report_dir / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


LONG = "my parcel is late again " * 420  # about 10,000 characters, far over the model window


@pytest.mark.parametrize(
    "text", ["", "   ", "🙂🙂🙂", "Где мой заказ? where is my order 注文", LONG]
)
def test_odd_messages_classify_without_error(demo_runtime: Runtime, text: str) -> None:
    prediction = demo_runtime.dialogue.classifier.predict(text)
    assert prediction.ranked and 0.0 <= prediction.top.confidence <= 1.0
    assert prediction.truncated == (text is LONG)

"""Tenant intent catalogue: the demo file, validation errors that name the culprit, article priors."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.tenant import BotMessages, IntentKind, IntentSpec, TenantIntents, load_tenant_intents

DEMO_INTENTS = Path(__file__).parents[1] / "demo" / "intents.yml"

VALID = """\
language: de
intents:
  greet:
    kind: smalltalk
    examples: [hallo, guten Tag]
    responses: ["Hallo! Wie kann ich helfen?"]
  talk_to_human:
    kind: handoff
    examples: [ich möchte mit einem Menschen sprechen]
  return_item:
    examples: [wie schicke ich etwas zurück, Rücksendung starten]
    articles: [returns-policy, return-label]
  refund_status:
    kind: knowledge
    examples: [wo bleibt meine Erstattung]
    articles: [returns-policy, refunds]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "intents.yml"
    path.write_text(text, encoding="utf-8")
    return path


def config_error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_tenant_intents(write(tmp_path, text))
    message = str(caught.value)
    assert "intents.yml" in message
    return message


# --- the shipped demo tenant -----------------------------------------------------------


def test_demo_intents_parse() -> None:
    tenant = load_tenant_intents(DEMO_INTENTS)
    assert tenant.language == "en"
    kinds = {spec.kind for spec in tenant.intents.values()}
    assert kinds == set(IntentKind)
    handoff = [name for name, spec in tenant.intents.items() if spec.kind is IntentKind.HANDOFF]
    assert handoff, "the demo tenant needs a handoff intent"
    assert tenant.kind_of(handoff[0]) is IntentKind.HANDOFF
    for spec in tenant.intents.values():
        assert spec.examples and all(e == e.strip() and e for e in spec.examples)
        if spec.kind is IntentKind.SMALLTALK:
            assert spec.responses
    assert len(tenant.examples()) == sum(len(s.examples) for s in tenant.intents.values())
    assert tenant.messages == BotMessages()  # the demo does not override the fixed replies


# --- a small tenant of our own ---------------------------------------------------------


def test_valid_file_parses_kinds_defaults_and_articles(tmp_path: Path) -> None:
    tenant = load_tenant_intents(write(tmp_path, VALID))
    assert tenant.language == "de"
    assert tenant.kind_of("greet") is IntentKind.SMALLTALK
    assert tenant.kind_of("talk_to_human") is IntentKind.HANDOFF
    assert tenant.kind_of("return_item") is IntentKind.KNOWLEDGE  # kind defaults to knowledge
    assert tenant.kind_of("no_such_intent") is IntentKind.KNOWLEDGE
    assert tenant.intents["return_item"].articles == ("returns-policy", "return-label")
    assert tenant.intents["greet"].responses == ("Hallo! Wie kann ich helfen?",)
    assert tenant.examples()[:3] == [
        ("hallo", "greet"),
        ("guten Tag", "greet"),
        ("ich möchte mit einem Menschen sprechen", "talk_to_human"),
    ]


def test_messages_override(tmp_path: Path) -> None:
    tenant = load_tenant_intents(
        write(tmp_path, VALID + "messages:\n  handoff: Einen Moment bitte.\n")
    )
    assert tenant.messages.handoff == "Einen Moment bitte."
    assert tenant.messages.no_answer == BotMessages().no_answer


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "kind: handoff",
            "kind: escalate",
            ["'talk_to_human'", "'escalate'", "smalltalk, handoff, knowledge"],
        ),
        (
            '    responses: ["Hallo! Wie kann ich helfen?"]\n',
            "",
            ["'greet'", "smalltalk", "response"],
        ),
        (
            '    responses: ["Hallo! Wie kann ich helfen?"]\n',
            '    responses: ["  "]\n',
            ["'greet'", "response"],
        ),
        (
            "examples: [wo bleibt meine Erstattung]",
            "examples: []",
            ["'refund_status'", "no examples"],
        ),
        (
            "examples: [wo bleibt meine Erstattung]",
            "examples: ['   ']",
            ["'refund_status'", "no examples"],
        ),
        (
            "articles: [returns-policy, refunds]",
            "articles: refunds",
            ["'refund_status'", "'articles'"],
        ),
    ],
)
def test_invalid_intent_names_the_intent(
    tmp_path: Path, old: str, new: str, expected: list[str]
) -> None:
    assert old in VALID
    message = config_error(tmp_path, VALID.replace(old, new))
    for part in expected:
        assert part in message


def test_intent_body_must_be_a_mapping(tmp_path: Path) -> None:
    message = config_error(tmp_path, "intents:\n  greet: hello\n  bye: {examples: [bye]}\n")
    assert "'greet'" in message and "mapping" in message


def test_unknown_messages_key_is_rejected(tmp_path: Path) -> None:
    message = config_error(tmp_path, VALID + "messages:\n  handof: typo here\n")
    assert "'messages'" in message
    assert "'handof'" in message and "handoff" in message and "no_answer" in message


def test_unknown_messages_key_is_named(tmp_path: Path) -> None:
    assert "handof'" in config_error(tmp_path, VALID + "messages:\n  handof: typo here\n")


def test_non_mapping_messages_is_a_config_error(tmp_path: Path) -> None:
    assert "'messages'" in config_error(tmp_path, VALID + "messages: 5\n")


def test_scalar_examples_are_not_split_into_characters(tmp_path: Path) -> None:
    text = VALID.replace(
        "examples: [wo bleibt meine Erstattung]", "examples: wo bleibt meine Erstattung"
    )
    try:
        tenant = load_tenant_intents(write(tmp_path, text))
    except ConfigError as exc:
        assert "'refund_status'" in str(exc)
    else:
        assert tenant.intents["refund_status"].examples == ("wo bleibt meine Erstattung",)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("intents: [greet, bye]\n", "'intents' mapping"),
        ("- just\n- a list\n", "'intents' mapping"),
        ("intents:\n  greet: {examples: [hi]}\n", "at least two intents"),
        ("intents: {greet: [unclosed\n", "not valid YAML"),
    ],
)
def test_file_level_errors(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in config_error(tmp_path, text)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_tenant_intents(tmp_path / "absent.yml")


# --- article prior ---------------------------------------------------------------------


def test_article_prior_sums_confidences_of_linked_intents(tmp_path: Path) -> None:
    tenant = load_tenant_intents(write(tmp_path, VALID))
    prior = tenant.article_prior(
        [("return_item", 0.5), ("refund_status", 0.3), ("greet", 0.15), ("unknown_intent", 0.05)]
    )
    assert prior == pytest.approx({"returns-policy": 0.8, "return-label": 0.5, "refunds": 0.3})
    assert tenant.article_prior([]) == {}
    assert tenant.article_prior([("greet", 0.9), ("talk_to_human", 0.1)]) == {}


def test_article_prior_on_a_hand_built_catalogue() -> None:
    spec = IntentSpec(
        "warranty", IntentKind.KNOWLEDGE, ("is it under warranty",), articles=("warranty",)
    )
    tenant = TenantIntents(language="en", intents={"warranty": spec})
    assert tenant.article_prior([("warranty", 0.25), ("warranty", 0.5)]) == pytest.approx(
        {"warranty": 0.75}
    )

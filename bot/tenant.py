"""A tenant's intent catalogue: which intents exist, what kind each is, and its reply templates."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from bot.errors import ConfigError


class IntentKind(StrEnum):
    SMALLTALK = "smalltalk"  # answered from templates
    HANDOFF = "handoff"  # the user wants a human
    KNOWLEDGE = "knowledge"  # answered from the knowledge base


@dataclass(frozen=True)
class IntentSpec:
    name: str
    kind: IntentKind
    examples: tuple[str, ...]
    responses: tuple[str, ...] = ()
    articles: tuple[str, ...] = ()  # knowledge-base documents that answer this intent
    display_name: str = ""  # how the bot names the intent when it asks "did you mean ...?"

    @property
    def title(self) -> str:
        return self.display_name or self.name.replace("_", " ")


@dataclass(frozen=True)
class BotMessages:
    """Fixed replies outside any intent; a tenant overrides them under ``messages:``."""

    handoff: str = (
        "I've flagged this conversation for our support team, and a person will pick it up here. "
        "You can keep writing in the meantime."
    )
    no_answer: str = "I'm not sure I understood that. Could you rephrase it, or would you like to talk to a person?"
    clarify: str = "Did you mean {first}, or {second}?"
    unsupported_language: str = (
        "Sorry, I can only help in {languages} at the moment. "
        "Would you like me to connect you with a person from our team?"
    )


@dataclass(frozen=True)
class TenantIntents:
    language: str
    intents: dict[str, IntentSpec]
    messages: BotMessages = BotMessages()

    def kind_of(self, intent: str) -> IntentKind:
        spec = self.intents.get(intent)
        return spec.kind if spec else IntentKind.KNOWLEDGE

    def article_prior(self, scores: Iterable[tuple[str, float]]) -> dict[str, float]:
        """Per document, the summed confidence of the predicted intents that link to it."""
        prior: dict[str, float] = {}
        for intent, confidence in scores:
            spec = self.intents.get(intent)
            for article in spec.articles if spec else ():
                prior[article] = prior.get(article, 0.0) + confidence
        return prior

    def examples(self) -> list[tuple[str, str]]:
        """``(text, intent)`` training pairs in file order."""
        return [(text, spec.name) for spec in self.intents.values() for text in spec.examples]


def load_tenant_intents(path: Path) -> TenantIntents:
    """Parse and validate an ``intents.yml``; every problem names the intent it is about."""
    try:
        raw = yaml.safe_load(Path(path).read_text("utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: intents file not found") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("intents"), dict):
        raise ConfigError(f"{path}: expected a mapping with an 'intents' mapping")
    intents = {name: _parse_intent(path, str(name), body) for name, body in raw["intents"].items()}
    if len(intents) < 2:
        raise ConfigError(f"{path}: at least two intents are needed to train a classifier")
    messages = raw.get("messages") or {}
    allowed = ", ".join(BotMessages.__dataclass_fields__)
    if not isinstance(messages, dict):
        raise ConfigError(f"{path}: 'messages' must be a mapping of {allowed}")
    unknown = sorted(set(messages) - set(BotMessages.__dataclass_fields__))
    if unknown:
        raise ConfigError(
            f"{path}: 'messages' has unknown key(s) {', '.join(map(repr, unknown))}; allowed: {allowed}"
        )
    return TenantIntents(
        language=str(raw.get("language") or "en"),
        intents=intents,
        messages=BotMessages(**{k: str(v) for k, v in messages.items()}),
    )


def _parse_intent(path: Path, name: str, body: Any) -> IntentSpec:
    where = f"{path}: intent {name!r}"
    if not isinstance(body, dict):
        raise ConfigError(f"{where}: expected a mapping with 'kind' and 'examples'")
    try:
        kind = IntentKind(str(body.get("kind", IntentKind.KNOWLEDGE)))
    except ValueError as exc:
        allowed = ", ".join(k.value for k in IntentKind)
        raise ConfigError(f"{where}: kind {body.get('kind')!r} is not one of {allowed}") from exc
    for key in ("examples", "responses", "articles"):
        if key in body and body[key] is not None and not isinstance(body[key], list):
            raise ConfigError(f"{where}: '{key}' must be a list")
    examples = tuple(str(e).strip() for e in body.get("examples") or [] if str(e).strip())
    if not examples:
        raise ConfigError(f"{where}: has no examples")
    responses = tuple(str(r).strip() for r in body.get("responses") or [] if str(r).strip())
    if kind is IntentKind.SMALLTALK and not responses:
        raise ConfigError(f"{where}: a smalltalk intent needs at least one response")
    articles = body.get("articles") or []
    return IntentSpec(
        name=name,
        kind=kind,
        examples=examples,
        responses=responses,
        articles=tuple(str(a).strip() for a in articles if str(a).strip()),
        display_name=str(body.get("title") or "").strip(),
    )

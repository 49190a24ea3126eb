"""The demo generator data (demo/generator/*.yml) and the JSONL training format.

YAML items: ``article`` (the KB document that answers, or null), ``near_article`` (for an
unanswerable question, the article it sounds closest to), ``question``, ``answer`` and an
optional ``history`` of ``{role, text}`` turns.

JSONL lines (``supportbot train generator --data``): ``{"messages": [{"role", "content"}...],
"passages": [{"title", "text", "id"?, "section"?}...], "answer": "..."}`` where the last
message is the customer's question and earlier ones are the conversation so far.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.errors import InputError
from bot.generation.prompt import PromptPassage
from bot.generation.types import ChatMessage


@dataclass(frozen=True)
class GeneratorItem:
    question: str
    answer: str
    article: str | None = None
    near_article: str | None = None
    history: tuple[ChatMessage, ...] = ()

    @property
    def answerable(self) -> bool:
        return self.article is not None


@dataclass(frozen=True)
class TrainingExample:
    """One supervised answer: the conversation, the passages shown, and the target answer."""

    messages: tuple[ChatMessage, ...]
    passages: tuple[PromptPassage, ...]
    answer: str
    document_ids: tuple[str, ...] = field(default=())

    @property
    def question(self) -> str:
        return self.messages[-1].content

    @property
    def history(self) -> tuple[ChatMessage, ...]:
        return self.messages[:-1]

    def to_json(self) -> str:
        return json.dumps(
            {
                "messages": [m.as_dict() for m in self.messages],
                "passages": [
                    {"title": p.title, "section": p.section, "text": p.text, "id": doc_id}
                    for p, doc_id in zip(self.passages, self._ids(), strict=True)
                ],
                "answer": self.answer,
            },
            ensure_ascii=False,
        )

    def _ids(self) -> tuple[str | None, ...]:
        return self.document_ids or tuple(None for _ in self.passages)


def load_generator_items(path: Path) -> list[GeneratorItem]:
    try:
        data = yaml.safe_load(path.read_text("utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"{path}: cannot read generator data ({exc})") from exc
    items = data.get("items") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise InputError(f"{path}: expected a mapping with an 'items' list")
    return [_item(raw, path, number) for number, raw in enumerate(items, start=1)]


def _item(raw: Any, path: Path, number: int) -> GeneratorItem:
    if not isinstance(raw, dict) or not raw.get("question") or not raw.get("answer"):
        raise InputError(f"{path}: item {number} needs a question and an answer")
    history = []
    for turn in raw.get("history") or []:
        role = {"user": "user", "assistant": "assistant", "bot": "assistant"}.get(turn.get("role"))
        if role is None or not turn.get("text"):
            raise InputError(f"{path}: item {number} has a history turn without role/text")
        history.append(ChatMessage(role, str(turn["text"])))  # type: ignore[arg-type]
    return GeneratorItem(
        question=str(raw["question"]),
        answer=str(raw["answer"]),
        article=raw.get("article"),
        near_article=raw.get("near_article"),
        history=tuple(history),
    )


def read_training_jsonl(path: Path) -> list[TrainingExample]:
    examples = []
    try:
        lines = path.read_text("utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc})") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            examples.append(_example(json.loads(line)))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{path}:{number}: not a training example ({exc})") from exc
    if not examples:
        raise InputError(f"{path}: no training examples")
    return examples


def _example(raw: dict[str, Any]) -> TrainingExample:
    messages = tuple(ChatMessage(m["role"], str(m["content"])) for m in raw["messages"])
    if not messages or messages[-1].role != "user":
        raise ValueError("the last message must be the user's question")
    if any(m.role not in {"user", "assistant"} for m in messages):
        raise ValueError("messages are user/assistant turns; the system prompt is built")
    passages = tuple(
        PromptPassage(str(p["title"]), str(p["text"]), str(p.get("section") or ""))
        for p in raw.get("passages") or []
    )
    ids = tuple(str(p.get("id") or "") for p in raw.get("passages") or [])
    answer = str(raw["answer"]).strip()
    if not answer:
        raise ValueError("empty answer")
    return TrainingExample(messages, passages, answer, ids)


def write_training_jsonl(examples: Iterable[TrainingExample], path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        for example in examples:
            handle.write(example.to_json() + "\n")
            count += 1
    return count


def iter_article_items(items: Iterable[GeneratorItem]) -> Iterator[GeneratorItem]:
    return (item for item in items if item.answerable)

"""The serving runtime reads the knowledge base into the generator's passage cache in the
background, per language, and stops doing so when it closes."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

from bot.generation.prompt import PromptBuilder, PromptPassage
from bot.runtime import start_reading_ahead
from knowledge.documents import Chunk


class RecordingGenerator:
    """Stands in for OnnxGenerator.read_ahead: records its calls, and can wait to be stopped."""

    def __init__(self, wait_for_stop: bool = False) -> None:
        self.calls: list[tuple[list[PromptPassage], str, int]] = []
        self.wait_for_stop = wait_for_stop

    def read_ahead(
        self,
        passages: list[PromptPassage],
        builder: PromptBuilder,
        stop: threading.Event,
        language: str,
        ranks: int,
    ) -> int:
        self.calls.append((list(passages), language, ranks))
        if self.wait_for_stop:
            stop.wait(timeout=5)
            return 0
        return len(passages)


def chunk(number: int, language: str) -> Chunk:
    return Chunk(number, f"doc-{number}", f"Title {number}", "Section", f"Text {number}.", language)


def store(*chunks: Chunk) -> Any:
    return SimpleNamespace(chunks={c.id: c for c in chunks})


def answerer(generator: object) -> Any:
    return SimpleNamespace(generator=generator, builder=PromptBuilder(lambda t: len(t.split())))


def test_every_passage_is_read_ahead_once_in_its_own_language() -> None:
    generator = RecordingGenerator()
    kb = store(chunk(1, "en"), chunk(2, "de"), chunk(3, "en"))
    thread = start_reading_ahead(answerer(generator), kb, threading.Event(), ranks=3)
    assert thread is not None
    thread.join(timeout=5)
    by_language = {
        language: [p.title for p in passages] for passages, language, _ in generator.calls
    }
    assert by_language == {"de": ["Title 2"], "en": ["Title 1", "Title 3"]}
    assert {ranks for *_, ranks in generator.calls} == {3}
    first = generator.calls[-1][0][0]
    assert (first.section, first.text) == ("Section", "Text 1.")


def test_a_generator_that_cannot_read_ahead_starts_no_thread() -> None:
    assert (
        start_reading_ahead(answerer(object()), store(chunk(1, "en")), threading.Event(), 3) is None
    )


def test_the_stop_event_ends_reading_ahead() -> None:
    generator = RecordingGenerator(wait_for_stop=True)
    stop = threading.Event()
    thread = start_reading_ahead(answerer(generator), store(chunk(1, "en")), stop, ranks=3)
    assert thread is not None and thread.is_alive()
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()

"""One grounded answer: prompt the generator, check each sentence as it arrives, fall back.

A draft sentence reaches the user only after it passed the grounding check, so a
hallucination is never shown, not even for a moment; a bare reply ("Yes.") is held back
until the claim after it has passed too. The first unsupported sentence stops
the model and the whole answer becomes the extractive one; so do a timeout and a backend
error. Every fallback carries its reason, which the channel counts in a metric.

An answer must state something the passages back, or decline: a draft of reply words alone
("No.") is rejected like an unsupported one, and so is a first claim that asks a question
instead of answering (often a passage heading echoed back). A list's lead-in ("The item must
be:") is checked and shown together with its first item, and dropped if no item follows.

A draft rejected before any of it was shown (its opening unsupported, off the question, or a
decline where the passages answer) is followed, from a generator that can be steered and up
to ``drafts`` in all, by one that may not open with the first token of any rejected draft.
On the 80 held-out demo questions a second draft turned 10 of the tuned model's 22 fallbacks
into checked answers; a third passed the check more often but answered worse
(docs/generator-experiments.md).

When every draft was rejected that way and a passage is about the question (the passages'
``coverage`` reaches the checker's ``started_threshold``), one last draft is started with the
first ``opening_words`` words of the passage sentence closest to the question: the model's
own openings led nowhere, but given where the answer starts it usually words it well ("Orders
placed at weekends ship the next business day, so..."). It is checked like any other, and
only there: without such a passage the opening would make an unrelated answer look relevant.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing

from bot.errors import ConfigError
from bot.generation.answers import AnswerDelta, FallbackReason, FinalAnswer
from bot.generation.drafts import REDRAFT_REASONS, Draft
from bot.generation.extractive import answer_opening, extractive_answer
from bot.generation.grounding import GroundingChecker, SentenceSupport
from bot.generation.prompt import PromptBuilder, PromptPassage, repeats_instructions
from bot.generation.sentences import (
    LIST_ITEM,
    complete_sentences,
    denies_handoff,
    is_decline,
    is_meta,
    says_not_known,
    without_heading,
)
from bot.generation.types import (
    ChatMessage,
    GenerationError,
    GenerationTimeout,
    Generator,
    SteerableGenerator,
)

logger = logging.getLogger(__name__)


class GroundedAnswerer:
    def __init__(
        self,
        generator: Generator,
        builder: PromptBuilder,
        checker: GroundingChecker,
        *,
        timeout_s: float = 10.0,
        total_timeout_s: float = 30.0,
        max_sentences: int = 5,
        drafts: int = 2,
        opening_words: int = 4,
    ) -> None:
        if timeout_s <= 0 or total_timeout_s <= 0:
            raise ConfigError("generator timeouts must be positive")
        if drafts < 1:
            raise ConfigError(f"at least one draft is written, got drafts={drafts}")
        if opening_words < 0:
            raise ConfigError(f"opening_words must be 0 (off) or more, got {opening_words}")
        self.generator = generator
        self.builder = builder
        self.checker = checker
        self.timeout_s = timeout_s
        self.total_timeout_s = total_timeout_s
        self.max_sentences = max_sentences
        # Drafts written at most: each after a rejected opening (REDRAFT_REASONS) avoids it.
        self.drafts = drafts
        # Then, where a passage plainly answers, a last draft starts with this many words of
        # the passage sentence closest to the question (0: none).
        self.opening_words = opening_words

    def warm_up(self) -> None:
        self.generator.warm_up()

    async def answer(
        self,
        question: str,
        passages: Sequence[PromptPassage],
        history: Sequence[ChatMessage] = (),
        language: str = "en",
    ) -> AsyncIterator[AnswerDelta | FinalAnswer]:
        if not passages:
            raise ConfigError("a grounded answer needs at least one passage")
        prompt = self.builder.build(question, passages, history, language)
        texts = [p.grounding_text() for p in passages[: prompt.passages_used]]
        if not texts:
            yield await self._fallback(question, passages, FallbackReason.UNSUPPORTED, language)
            return
        coverage = await asyncio.to_thread(self.checker.coverage, question, texts)
        headings = tuple(p.heading for p in passages[: prompt.passages_used])
        draft = Draft(
            prompt.messages,
            question,
            texts,
            self.checker.answered(coverage),
            headings,
            self.checker.may_start(coverage),
        )
        async with aclosing(self._write(draft)) as deltas:
            async for delta in deltas:
                yield delta
        while self._may_redraft(draft):
            # Nothing was shown yet: a draft that opens otherwise may still pass.
            logger.info("redrafting after %s: %r", draft.reason, draft.opening)
            draft = draft.again()
            async with aclosing(self._write(draft)) as deltas:
                async for delta in deltas:
                    yield delta
        if self._may_start(draft):
            opening = await asyncio.to_thread(
                answer_opening,
                question,
                texts,
                embedder=self.checker.embedder,
                language=language,
                words=self.opening_words,
            )
            if opening:
                logger.info("starting a draft with %r after %s", opening, draft.reason)
                draft = draft.started_with(opening)
                async with aclosing(self._write(draft)) as deltas:
                    async for delta in deltas:
                        yield delta
        if draft.reason is not None:
            yield await self._fallback(question, passages, draft.reason, language)
            return
        shown = draft.shown
        if draft.held:  # an answer of reply words only: a decline, an offer of a person
            shown = " ".join(draft.held)
            try:
                yield AnswerDelta(shown)
            except GeneratorExit:
                self._log_listener_left(len(draft.accepted), shown)
                raise
        accepted = draft.accepted
        used = tuple(sorted({s.passage for s in accepted if s.passage is not None}))
        declined = all(not s.checked for s in accepted) and any(
            is_decline(s.text) for s in accepted
        )
        yield FinalAnswer(
            shown,
            generated=True,
            passages=used,
            declined=declined,
            redrafted=bool(draft.avoid),
            started_with=draft.given,
        )

    def _may_redraft(self, draft: Draft) -> bool:
        return (
            len(draft.avoid) + 1 < self.drafts
            and draft.reason in REDRAFT_REASONS
            and not draft.shown
            and bool(draft.opening)
            and isinstance(self.generator, SteerableGenerator)
        )

    def _may_start(self, draft: Draft) -> bool:
        return (
            self.opening_words > 0
            and draft.may_start
            and draft.reason in REDRAFT_REASONS
            and not draft.shown
            and isinstance(self.generator, SteerableGenerator)
        )

    async def _write(self, draft: Draft) -> AsyncIterator[AnswerDelta]:
        """Check the draft sentence by sentence, passing on what may be shown; ``draft``
        ends with what was accepted and, if the draft was stopped, why."""
        system = draft.messages[0].content
        try:
            async with aclosing(self._sentences(draft)) as sentences:
                async for sentence in sentences:
                    draft.opening = draft.opening or sentence
                    sentence = without_heading(sentence, draft.headings)
                    unusable = _unusable(sentence)
                    if unusable is not None:  # told by its words alone, before any check
                        if _states_or_declines(draft.accepted):
                            break  # what came before stands; this sentence is left out
                        draft.reason = unusable
                        return
                    if any(s.text == sentence for s in draft.accepted):
                        continue  # a greedy loop repeating itself; the stop criterion ends it soon
                    support = await asyncio.to_thread(self.checker.support, sentence, draft.texts)
                    reason = await self._rejection(draft, support)
                    if reason is None and draft.must_answer and says_not_known(sentence):
                        reason = FallbackReason.DECLINED
                    if reason is None and repeats_instructions(sentence, system):
                        reason = FallbackReason.UNSUPPORTED
                    if reason is not None:
                        draft.reason = reason
                        return  # leaving the block closes the stream and stops the model
                    draft.accepted.append(support)
                    draft.held.append(sentence)
                    # Until a claim passed, a "Yes." is held back: it would mislead if the
                    # claim after it turned out unsupported.
                    if any(s.checked for s in draft.accepted):
                        piece = " ".join(draft.held)
                        if draft.shown:
                            # A list item goes on a line of its own, as the model wrote it.
                            piece = ("\n" if LIST_ITEM.match(piece) else " ") + piece
                        draft.held.clear()
                        draft.shown += piece
                        try:
                            yield AnswerDelta(piece)
                        except GeneratorExit:
                            self._log_listener_left(len(draft.accepted), draft.shown)
                            raise
                    if len(draft.accepted) >= self.max_sentences:
                        break
        except GenerationTimeout:
            draft.reason = FallbackReason.TIMEOUT
        except GenerationError:
            draft.reason = FallbackReason.ERROR
        if draft.reason is None and not _states_or_declines(draft.accepted):
            # Nothing, or only reply words ("No.", "Yes, unfortunately."): an answer the
            # passages cannot back, and often a wrong one.
            draft.reason = FallbackReason.UNSUPPORTED

    def _log_listener_left(self, sentences: int, shown: str) -> None:
        """The listener left mid-answer (a closed WebSocket): say what it had been sent,
        since no FinalAnswer will carry it."""
        logger.info(
            "listener left after %d streamed sentence(s) of %s: %r",
            sentences,
            self.generator.name,
            shown,
        )

    async def _rejection(self, draft: Draft, support: SentenceSupport) -> FallbackReason | None:
        """Why a draft sentence may not be shown, or None. The first claim of the answer
        (with the reply words held before it: "Yes. Gift cards...") must also answer the
        question; later sentences may add what follows from it."""
        if not support.supported(self.checker.threshold):
            return FallbackReason.UNSUPPORTED
        if support.checked and not any(s.checked for s in draft.accepted):
            if support.text.endswith("?"):
                return FallbackReason.OFF_TOPIC  # a question back (often a heading) answers none
            claim = " ".join([*draft.held, support.text])
            answers = await asyncio.to_thread(
                self.checker.answers, draft.question, claim, draft.texts
            )
            if not answers:
                return FallbackReason.OFF_TOPIC
        return None

    async def _sentences(self, draft: Draft) -> AsyncIterator[str]:
        """Complete sentences of the draft, under the first-token/stall and total deadlines;
        with ``avoid``, a draft that does not open the way those rejected ones did."""
        if draft.given and isinstance(self.generator, SteerableGenerator):
            stream = self.generator.stream_from(draft.messages, draft.given)
        elif draft.avoid and isinstance(self.generator, SteerableGenerator):
            stream = self.generator.stream_avoiding(draft.messages, draft.avoid)
        else:
            stream = self.generator.stream(draft.messages)
        deadline = time.monotonic() + self.total_timeout_s
        buffer = lead_in = ""
        yielded = False
        try:
            while True:
                wait = min(self.timeout_s, deadline - time.monotonic())
                try:
                    delta = await asyncio.wait_for(anext(stream), timeout=max(wait, 0.001))
                except StopAsyncIteration:
                    break
                except TimeoutError as exc:
                    raise GenerationTimeout(
                        f"{self.generator.name} gave no text for {wait:.1f}s"
                    ) from exc
                sentences, buffer = complete_sentences(buffer + delta)
                for sentence in sentences:
                    if sentence.endswith(":"):
                        # A lead-in ("The item must be:") says nothing until its first
                        # item: checked alone it would not answer, and shown alone it
                        # would be a dangling line.
                        lead_in = _after_lead_in(lead_in, sentence)
                        continue
                    sentence, lead_in = _after_lead_in(lead_in, sentence), ""
                    yielded = True
                    yield sentence
        except GenerationError:
            raise
        except Exception as exc:
            raise GenerationError(f"{self.generator.name} failed: {exc}") from exc
        finally:
            await stream.aclose()  # stops a local decode thread / closes the HTTP stream
        # Text after the last sentence end is kept only when it reads as a finished
        # sentence, or is all there is: otherwise the token limit cut it mid-sentence. A
        # draft started with passage words must finish its sentence: those words alone
        # ("You can return most") are no answer.
        rest = buffer.strip()
        if rest.endswith(":"):
            lead_in, rest = _after_lead_in(lead_in, rest), ""
        if rest and (rest[-1] in ".!?\"')" or not (yielded or draft.given)):
            yield _after_lead_in(lead_in, rest)
        elif lead_in:
            # A lead-in whose items never came is dropped, but it opened the draft: a
            # further draft must open otherwise.
            draft.opening = draft.opening or lead_in

    async def _fallback(
        self,
        question: str,
        passages: Sequence[PromptPassage],
        reason: FallbackReason,
        language: str,
    ) -> FinalAnswer:
        text = await asyncio.to_thread(
            extractive_answer,
            question,
            passages[0].text,
            embedder=self.checker.embedder,
            language=language,
        )
        return FinalAnswer(text, generated=False, passages=(0,), fallback=reason)


def _states_or_declines(accepted: Sequence[SentenceSupport]) -> bool:
    """Whether an accepted draft holds a checked claim, or declines or offers a person;
    reply words alone ("No.") do neither."""
    return any(s.checked or is_meta(s.text) for s in accepted)


def _unusable(sentence: str) -> FallbackReason | None:
    """Why a draft sentence can never be shown, whatever the passages say, or None: nothing
    left once an echoed passage heading was cut (a heading names a topic and answers
    nothing), or a refusal to hand the customer over (never true: a person can always be
    asked for, and the channels offer one next to a decline)."""
    if not sentence:
        return FallbackReason.OFF_TOPIC
    if denies_handoff(sentence):
        return FallbackReason.UNSUPPORTED
    return None


def _after_lead_in(lead_in: str, text: str) -> str:
    """``text`` on the line after a pending list lead-in, if there is one."""
    return f"{lead_in}\n{text}" if lead_in else text

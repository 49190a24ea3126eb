"""The dialogue manager: one user message in, one bot reply out, every turn logged.

A turn runs as a pipeline: language -> intent -> policy -> retrieval -> reply -> log.
:meth:`DialogueManager.stream` adds the generated answer, streamed sentence by sentence;
:meth:`DialogueManager.handle` is the same turn with the extractive answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace

from bot.conversation_log import ConversationLog, TurnRecord
from bot.errors import InputError
from bot.followups import looks_like_follow_up
from bot.generation.answerer import GroundedAnswerer
from bot.generation.answers import AnswerDelta, FinalAnswer
from bot.generation.prompt import LANGUAGE_NAMES, PromptPassage
from bot.generation.types import ChatMessage
from bot.intents import IntentClassifier, IntentPrediction, IntentScore
from bot.language import LanguageDetector
from bot.policy import Action, PolicyConfig, decide, is_unclear
from bot.replies import clip_to_sentences
from bot.sessions import Session, SessionStore
from bot.tenant import IntentKind, TenantIntents
from knowledge.documents import Passage
from knowledge.retriever import Retriever, rerank_with_prior

CANDIDATE_PASSAGES = 10
# Ask "did you mean A or B?" only when two intents hold most of the probability between them.
CLARIFY_MIN_SHARE = 0.5


@dataclass(frozen=True)
class SourceRef:
    document_id: str
    title: str
    section: str
    url: str | None
    score: float


@dataclass(frozen=True)
class BotReply:
    text: str
    action: Action
    language: str
    intent: IntentScore | None
    alternatives: tuple[IntentScore, ...] = ()
    sources: tuple[SourceRef, ...] = field(default=())
    truncated: bool = False
    generated: bool = False  # written by the generator (and grounded), not taken from a passage
    fallback: str | None = None  # why a draft was replaced by the extractive answer
    redrafted: bool = False  # the answer is the generator's second draft
    started_with: str = ""  # passage words the generator's last draft was started with


@dataclass(frozen=True)
class ReplyDelta:
    """The next checked piece of a generated answer; the final :class:`BotReply` follows."""

    text: str


@dataclass(frozen=True)
class _PlannedTurn:
    text: str
    reply: BotReply
    passages: list[Passage]  # the passages good enough to answer from, best first


class DialogueManager:
    def __init__(
        self,
        *,
        tenant: TenantIntents,
        classifier: IntentClassifier,
        retriever: Retriever,
        language: LanguageDetector,
        sessions: SessionStore,
        log: ConversationLog,
        policy: PolicyConfig,
        top_k: int = 3,
        max_message_chars: int = 4000,
        answerer: GroundedAnswerer | None = None,
    ) -> None:
        self.tenant = tenant
        self.classifier = classifier
        self.retriever = retriever
        self.language = language
        self.sessions = sessions
        self.log = log
        self.policy = policy
        self.top_k = top_k
        self.max_message_chars = max_message_chars
        self.answerer = answerer

    def open_session(self, session_id: str | None = None) -> Session:
        return self.sessions.get_or_create(session_id, self.tenant.language)

    def handle(self, session: Session, text: str) -> BotReply:
        """Answer ``text`` in ``session`` without generation (the best passage answers).

        Raises :class:`InputError` for unusable messages.
        """
        turn = self._plan(session, text)
        self._finish(session, turn.text, turn.reply)
        return turn.reply

    async def stream(self, session: Session, text: str) -> AsyncIterator[ReplyDelta | BotReply]:
        """Answer ``text`` with the generator when there is one: :class:`ReplyDelta` pieces as
        they pass the grounding check, then the final :class:`BotReply` (always last; its
        text is the whole answer and may replace the pieces, after a fallback)."""
        turn = await asyncio.to_thread(self._plan, session, text)
        reply = turn.reply
        if self.answerer is not None and reply.action is Action.ANSWER and turn.passages:
            history = [
                ChatMessage("user" if role == "user" else "assistant", said)
                for role, said in session.history
            ]
            passages = [PromptPassage.of(p.chunk) for p in turn.passages]
            async for event in self.answerer.answer(turn.text, passages, history, reply.language):
                if isinstance(event, AnswerDelta):
                    yield ReplyDelta(event.text)
                else:
                    reply = _with_answer(reply, event, turn.passages)
        await asyncio.to_thread(self._finish, session, turn.text, reply)
        yield reply

    def _plan(self, session: Session, text: str) -> _PlannedTurn:
        """Everything before the reply text is final: checks, language, intent, retrieval."""
        text = text.strip()
        if not text:
            raise InputError("the message is empty")
        if len(text) > self.max_message_chars:
            raise InputError(
                f"the message has {len(text)} characters; the limit is {self.max_message_chars}"
            )
        guess = self.language.detect(text, prior=session.language)
        prediction, query = self._classify(text, session)
        decision = decide(guess.language, prediction, self.tenant, self.policy)
        passages: list[Passage] = []
        if decision.needs_retrieval:
            # Retrieve wide, then let the intent's linked articles lift their passages.
            candidates = self.retriever.run(
                query, max(self.top_k, CANDIDATE_PASSAGES), language=guess.language
            )
            prior = self.tenant.article_prior((s.name, s.confidence) for s in prediction.ranked)
            passages = rerank_with_prior(candidates, prior, self.policy.intent_article_boost)[
                : self.top_k
            ]
        reply = self._compose(decision.action, guess.language, prediction.ranked, passages, session)
        reply = replace(reply, truncated=prediction.truncated)
        if guess.language in self.policy.supported_languages:
            session.language = guess.language
        good = [p for p in passages if p.score >= self.policy.retrieval_min_score]
        return _PlannedTurn(text, reply, good)

    def _finish(self, session: Session, text: str, reply: BotReply) -> None:
        """Remember the turn in the session and write it to the log."""
        session.turns += 1
        session.handed_off = session.handed_off or reply.action is Action.HANDOFF
        session.history += [("user", text), ("bot", reply.text)]
        self.sessions.save(session)
        self.log.record(_turn_record(session, text, reply))

    def _classify(self, text: str, session: Session) -> tuple[IntentPrediction, str]:
        """The intent of ``text`` and the text to search with.

        A follow-up ("and can I get my money back for it?") is read together with the
        previous user message. So is a message that is unclear alone, if that reading is
        more confident. Greetings, thanks and requests for a person stand on their own.
        """
        prediction = self.classifier.predict(text, top_k=3)
        previous = next((said for role, said in reversed(session.history) if role == "user"), None)
        if previous is None or self.tenant.kind_of(prediction.top.name) is not IntentKind.KNOWLEDGE:
            return prediction, text
        follow_up = looks_like_follow_up(text, session.language)
        if not follow_up and not is_unclear(prediction, self.policy):
            return prediction, text
        in_context_text = f"{previous}\n{text}"
        if follow_up:
            # Both readings are evidence: a follow-up may continue the topic or turn to a
            # new one ("and what would postage be?"), so their probabilities are pooled.
            pooled = self.classifier.predict_pooled([text, in_context_text], top_k=3)
            return pooled, in_context_text
        in_context_prediction = self.classifier.predict(in_context_text, top_k=3)
        if in_context_prediction.top.confidence > prediction.top.confidence:
            return in_context_prediction, in_context_text
        return prediction, text

    def _clarification_choices(self, ranked: tuple[IntentScore, ...]) -> tuple[str, str] | None:
        """Titles of the two leading intents when the model is torn between just those two."""
        if len(ranked) < 2 or ranked[0].confidence + ranked[1].confidence < CLARIFY_MIN_SHARE:
            return None
        first, second = (self.tenant.intents.get(s.name) for s in ranked[:2])
        if first is None or second is None:
            return None
        return first.title, second.title

    def _compose(
        self,
        action: Action,
        language: str,
        ranked: tuple[IntentScore, ...],
        passages: list[Passage],
        session: Session,
    ) -> BotReply:
        messages = self.tenant.messages
        top, alternatives = ranked[0], ranked[1:]
        if action is Action.UNSUPPORTED_LANGUAGE:
            served = ", ".join(self.policy.supported_languages)
            text = messages.unsupported_language.format(languages=_language_names(served))
            return BotReply(text, action, language, None)
        if action is Action.SMALLTALK:
            responses = self.tenant.intents[top.name].responses
            return BotReply(
                responses[session.turns % len(responses)], action, language, top, alternatives
            )
        if action is Action.HANDOFF:
            return BotReply(messages.handoff, action, language, top, alternatives)
        good = [p for p in passages if p.score >= self.policy.retrieval_min_score]
        if not good:
            choices = self._clarification_choices(ranked)
            if choices:
                text = messages.clarify.format(first=choices[0], second=choices[1])
                return BotReply(text, Action.CLARIFY, language, top, alternatives)
            return BotReply(messages.no_answer, Action.NO_ANSWER, language, top, alternatives)
        sources = _sources(good)
        return BotReply(
            clip_to_sentences(good[0].chunk.text),
            Action.ANSWER,
            language,
            top,
            alternatives,
            sources,
        )


def _sources(passages: list[Passage]) -> tuple[SourceRef, ...]:
    return tuple(
        SourceRef(
            p.chunk.document_id, p.chunk.title, p.chunk.section, p.chunk.url, round(p.score, 4)
        )
        for p in _one_per_document(passages)
    )


def _with_answer(reply: BotReply, answer: FinalAnswer, passages: list[Passage]) -> BotReply:
    """The planned reply with the answerer's text and the passages that text rests on."""
    fallback = answer.fallback.value if answer.fallback else None
    if answer.declined:
        # The model found no answer in the passages: say so, and show no sources.
        return replace(reply, text=answer.text, action=Action.NO_ANSWER, sources=(), generated=True)
    used = [passages[i] for i in answer.passages if i < len(passages)]
    return replace(
        reply,
        text=answer.text,
        sources=_sources(used),
        generated=answer.generated,
        fallback=fallback,
        redrafted=answer.redrafted,
        started_with=answer.started_with,
    )


def _one_per_document(passages: list[Passage]) -> list[Passage]:
    seen: set[str] = set()
    unique = []
    for passage in passages:
        if passage.chunk.document_id not in seen:
            seen.add(passage.chunk.document_id)
            unique.append(passage)
    return unique


def _language_names(codes: str) -> str:
    return ", ".join(LANGUAGE_NAMES.get(code.strip(), code.strip()) for code in codes.split(","))


def _turn_record(session: Session, text: str, reply: BotReply) -> TurnRecord:
    return TurnRecord(
        session_id=session.id,
        user_text=text,
        bot_text=reply.text,
        language=reply.language,
        intent=reply.intent.name if reply.intent else None,
        confidence=reply.intent.confidence if reply.intent else None,
        action=reply.action.value,
        details={
            "alternatives": [[a.name, a.confidence] for a in reply.alternatives],
            "sources": [s.document_id for s in reply.sources],
            "truncated": reply.truncated,
            "generated": reply.generated,
            "fallback": reply.fallback,
            "redrafted": reply.redrafted,
            "started_with": reply.started_with,
        },
    )

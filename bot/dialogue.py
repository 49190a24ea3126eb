"""The dialogue manager: one user message in, one bot reply out, every turn logged.

A turn runs as a pipeline: language -> intent -> policy -> retrieval -> reply -> log.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from bot.conversation_log import ConversationLog, TurnRecord
from bot.errors import InputError
from bot.followups import looks_like_follow_up
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

    def open_session(self, session_id: str | None = None) -> Session:
        return self.sessions.get_or_create(session_id, self.tenant.language)

    def handle(self, session: Session, text: str) -> BotReply:
        """Answer ``text`` in ``session``; raises :class:`InputError` for unusable messages."""
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
        session.turns += 1
        session.handed_off = session.handed_off or reply.action is Action.HANDOFF
        session.history += [("user", text), ("bot", reply.text)]
        self.sessions.save(session)
        self.log.record(_turn_record(session, text, reply))
        return reply

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
            # One text per call, so the message alone comes from the embedder's cache.
            alone = self.classifier.predict_proba([text])[0]
            in_context = self.classifier.predict_proba([in_context_text])[0]
            return self.classifier.ranked(
                (alone + in_context) / 2, truncated=prediction.truncated
            ), in_context_text
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
        sources = tuple(
            SourceRef(
                p.chunk.document_id, p.chunk.title, p.chunk.section, p.chunk.url, round(p.score, 4)
            )
            for p in _one_per_document(good)
        )
        return BotReply(
            clip_to_sentences(good[0].chunk.text),
            Action.ANSWER,
            language,
            top,
            alternatives,
            sources,
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
    names = {
        "en": "English",
        "de": "German",
        "fr": "French",
        "es": "Spanish",
        "it": "Italian",
        "nl": "Dutch",
    }
    return ", ".join(names.get(code.strip(), code.strip()) for code in codes.split(","))


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
        },
    )

"""Everything a serving process holds, built once from Settings (in the app's lifespan)."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from bot.conversation_log import SqlConversationLog
from bot.dialogue import DialogueManager
from bot.embedding import make_embedder
from bot.generation.answerer import GroundedAnswerer
from bot.generation.factory import make_answerer
from bot.generation.prompt import PromptPassage
from bot.intents import IntentClassifier
from bot.language import LanguageDetector
from bot.policy import PolicyConfig
from bot.sessions import InMemorySessionStore
from bot.settings import Settings
from bot.tenant import load_tenant_intents
from knowledge.embedder import Embedder
from knowledge.modes import make_retriever
from knowledge.retriever import Retriever
from knowledge.routing import LanguageRouter
from knowledge.store import KnowledgeStore
from knowledge.vector_index import limit_search_threads

__all__ = ["Runtime", "build_runtime", "limit_blas_threads", "make_embedder"]

logger = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    embedder: Embedder
    dialogue: DialogueManager
    log: SqlConversationLog
    background: list[threading.Thread] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    def close(self) -> None:
        self.stopping.set()
        for thread in self.background:
            thread.join(timeout=10)
        self.log.close()


def start_reading_ahead(
    answerer: GroundedAnswerer, store: KnowledgeStore, stop: threading.Event, ranks: int
) -> threading.Thread | None:
    """Read the knowledge base's passages into the generator's passage cache in the
    background, so that a question about them computes only itself (ONNX runtime only)."""
    read_ahead = getattr(answerer.generator, "read_ahead", None)
    if read_ahead is None:
        return None
    chunks = list(store.chunks.values())

    def run() -> None:
        started = time.perf_counter()
        kept = 0
        for language in sorted({chunk.language for chunk in chunks}):
            passages = [PromptPassage.of(c) for c in chunks if c.language == language]
            kept += read_ahead(passages, answerer.builder, stop, language, ranks)
        logger.info(
            "read %d of %d knowledge-base passages ahead in %.0f s",
            kept,
            len(chunks),
            time.perf_counter() - started,
        )

    thread = threading.Thread(target=run, name="supportbot-read-ahead", daemon=True)
    thread.start()
    return thread


def limit_blas_threads() -> None:
    """Keep numpy's BLAS to one thread in a serving process.

    The neural work runs in torch's own thread pool; the BLAS calls on the serving path are
    tiny, but BLAS worker threads left spinning next to torch's tripled single-message
    latency on a 2-core machine (p50 61 ms -> 19 ms when limited; benchmarks/intents.py).
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
    limit_search_threads(1)


def make_serving_retriever(
    store: KnowledgeStore, embedder: Embedder, settings: Settings
) -> Retriever:
    """The retriever the settings ask for, routed by language when that is switched on."""
    if settings.retrieval_per_language:
        return LanguageRouter.from_store(
            store, lambda part: make_retriever(part, embedder, settings.retrieval_mode)
        )
    retriever = make_retriever(store, embedder, settings.retrieval_mode)
    warm_up = getattr(retriever, "warm_up", None)
    if warm_up is not None:
        warm_up()  # build BM25 now if it was not saved, not on the first question
    return retriever


def build_runtime(settings: Settings, embedder: Embedder | None = None) -> Runtime:
    """Load models and indexes; raises a SupportbotError/KnowledgeError that says what to run."""
    limit_blas_threads()
    embedder = embedder or make_embedder(settings)
    embedder.warm_up()
    tenant = load_tenant_intents(settings.intents_file)
    classifier = IntentClassifier.load(settings.intent_model_dir, embedder)
    store = KnowledgeStore.load(settings.index_dir, expected_embedder=embedder.name)
    settings.data_home.mkdir(parents=True, exist_ok=True)
    log = SqlConversationLog(settings.resolved_database_url)
    answerer = make_answerer(settings, embedder)  # None with generator_backend=none
    stopping = threading.Event()
    background = []
    if answerer is not None:
        answerer.warm_up()
        if settings.generator_read_ahead:
            thread = start_reading_ahead(answerer, store, stopping, settings.retrieval_top_k)
            background += [thread] if thread else []
    dialogue = DialogueManager(
        tenant=tenant,
        classifier=classifier,
        retriever=make_serving_retriever(store, embedder, settings),
        language=LanguageDetector(min_letters=settings.language_min_chars),
        sessions=InMemorySessionStore(),
        log=log,
        policy=PolicyConfig(
            supported_languages=tuple(settings.supported_languages),
            intent_threshold=settings.intent_confidence_threshold,
            retrieval_min_score=settings.retrieval_min_score,
            intent_article_boost=settings.intent_article_boost,
        ),
        top_k=settings.retrieval_top_k,
        max_message_chars=settings.max_message_chars,
        answerer=answerer,
    )
    return Runtime(
        settings=settings,
        embedder=embedder,
        dialogue=dialogue,
        log=log,
        background=background,
        stopping=stopping,
    )

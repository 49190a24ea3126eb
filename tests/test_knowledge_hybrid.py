"""BM25, hybrid fusion, title vectors, language routing and the fitted no-answer threshold."""

from __future__ import annotations

import json

import pytest

from bot.runtime import Runtime
from knowledge.builder import build_store
from knowledge.documents import Document
from knowledge.embedder import Embedder
from knowledge.hybrid import HybridRetriever, LexicalRetriever
from knowledge.lexical import LexicalIndex
from knowledge.modes import make_retriever
from knowledge.quality import fit_min_score, held_out_no_answer_point, ranking_metrics
from knowledge.retriever import DenseRetriever, rerank_with_prior
from knowledge.routing import LanguageRouter
from knowledge.store import KnowledgeStore

DOCUMENTS = [
    Document(
        id="returns",
        title="Returning an item",
        text="Send unwanted items back within 30 days. Print the prepaid label from your account.",
    ),
    Document(
        id="lamp-recall",
        title="Safety notice",
        text="The desk lamp model KX-4471 has a faulty switch. Stop using it; we replace it for free.",
    ),
    Document(
        id="password",
        title="Resetting your password",
        text="Click 'Forgot password' on the sign-in page and we email you a reset link.",
    ),
    Document(
        id="shipping",
        title="Delivery costs",
        text="Standard delivery costs 4.95 and is free for orders over 50.",
    ),
    Document(
        id="versand",
        title="Versandkosten",
        text="Der Standardversand kostet 4,95 und ist ab 50 Euro Bestellwert kostenlos.",
        language="de",
    ),
]


@pytest.fixture(scope="module")
def store(embedder: Embedder) -> KnowledgeStore:
    return build_store(DOCUMENTS, embedder)


def test_lexical_scores_are_a_share_of_the_query_evidence(store: KnowledgeStore) -> None:
    lexical = store.lexical
    scores = lexical.scores("KX-4471 lamp switch")
    assert scores.shape == (len(store),)
    assert 0.0 <= scores.min() and scores.max() < 1.0
    best_id, best = lexical.search("KX-4471 lamp switch", 1)[0]
    assert store.chunks[best_id].document_id == "lamp-recall" and best > 0.3
    # Repeating a word adds no evidence; unknown words and stop words find nothing.
    assert lexical.search("lamp lamp lamp", 1)[0][1] == pytest.approx(
        lexical.search("lamp", 1)[0][1]
    )
    assert lexical.search("zzzqx", 5) == [] and lexical.search("the and of", 5) == []


def test_lexical_index_saves_and_loads(store: KnowledgeStore, tmp_path) -> None:  # type: ignore[no-untyped-def]
    store.lexical.save(tmp_path / "bm25")
    loaded = LexicalIndex.load(tmp_path / "bm25")
    assert loaded.search("password reset", 3) == store.lexical.search("password reset", 3)


def test_stemming_matches_word_forms(store: KnowledgeStore) -> None:
    [passage] = LexicalRetriever(store).run("returned", 1)  # the text says "Returning"
    assert passage.chunk.document_id == "returns" and passage.score == passage.lexical


def test_hybrid_score_is_dense_plus_weighted_lexical(
    store: KnowledgeStore, embedder: Embedder
) -> None:
    hybrid = HybridRetriever(store, embedder, lexical_weight=0.2)
    passages = hybrid.run("my KX-4471 light is broken", 3)
    assert passages[0].chunk.document_id == "lamp-recall"
    assert [p.rank for p in passages] == [0, 1, 2]
    assert [p.score for p in passages] == sorted((p.score for p in passages), reverse=True)
    dense = {
        p.chunk.id: p.score
        for p in DenseRetriever(store, embedder).run("my KX-4471 light is broken", 10)
    }
    for passage in passages:
        assert passage.score == pytest.approx(passage.dense + 0.2 * passage.lexical, abs=1e-6)
        assert passage.dense == pytest.approx(dense[passage.chunk.id], abs=1e-5)
    # With no lexical weight hybrid ranks exactly as dense retrieval does.
    plain = HybridRetriever(store, embedder, lexical_weight=0.0).run("cost of postage", 4)
    assert [p.chunk.id for p in plain] == list(dense_ids(store, embedder, "cost of postage", 4))


def dense_ids(store: KnowledgeStore, embedder: Embedder, query: str, k: int) -> list[int]:
    return [p.chunk.id for p in DenseRetriever(store, embedder).run(query, k)]


def test_lexical_only_candidates_get_their_real_cosine(
    store: KnowledgeStore, embedder: Embedder
) -> None:
    # depth 1: the lexical side brings a chunk the dense side did not return.
    hybrid = HybridRetriever(store, embedder, depth=1)
    passages = hybrid.run("KX-4471", 2)
    expected = store.similarities(embedder.encode(["KX-4471"])[0], [p.chunk.id for p in passages])
    for passage in passages:
        assert passage.dense == pytest.approx(expected[passage.chunk.id], abs=1e-5)


def test_empty_queries_and_bad_settings(store: KnowledgeStore, embedder: Embedder) -> None:
    for mode in ("dense", "bm25", "hybrid"):
        assert make_retriever(store, embedder, mode).run("  ", 3) == []
    with pytest.raises(ValueError, match="lexical_weight"):
        HybridRetriever(store, embedder, lexical_weight=2.0)
    with pytest.raises(ValueError):
        make_retriever(store, embedder, "sparse")


def test_prior_rerank_keeps_the_score_components(store: KnowledgeStore, embedder: Embedder) -> None:
    passages = HybridRetriever(store, embedder).run("how much is delivery", 3)
    last = passages[-1]
    lifted = rerank_with_prior(passages, {last.chunk.document_id: 1.0}, weight=1.0)
    assert lifted[0].chunk.id == last.chunk.id and lifted[0].rank == 0
    assert (lifted[0].dense, lifted[0].lexical) == (last.dense, last.lexical)


def test_title_vector_lifts_the_first_chunk_and_is_not_a_duplicate(
    store: KnowledgeStore, embedder: Embedder
) -> None:
    hits = store.search(embedder.encode(["Safety notice"])[0], len(store))
    chunk_ids = [chunk.id for chunk, _ in hits]
    assert len(chunk_ids) == len(set(chunk_ids)) == len(store)
    assert hits[0][0].document_id == "lamp-recall" and hits[0][1] > 0.9


def test_language_router_searches_the_question_language(
    store: KnowledgeStore, embedder: Embedder
) -> None:
    router = LanguageRouter.from_store(store, lambda part: make_retriever(part, embedder, "hybrid"))
    assert set(router.by_language) == {"en", "de"}
    assert router.by_language["de"].store.lexical.language == "de"  # type: ignore[attr-defined]
    german = router.run("Was kostet der Versand?", 5, language="de")
    assert {p.chunk.document_id for p in german} == {"versand"}
    english = router.run("What does delivery cost?", 5, language="en")
    assert "versand" not in {p.chunk.document_id for p in english}
    anything = router.run("Was kostet der Versand?", 10, language="fi")  # no Finnish: all
    assert {p.chunk.document_id for p in anything} == {d.id for d in DOCUMENTS}


def test_fit_min_score_separates_and_balances() -> None:
    point = fit_min_score([0.8, 0.7, 0.9, 0.75], [0.3, 0.5, 0.4])
    assert 0.5 < point.min_score < 0.7 and point.balanced_accuracy == 1.0
    # Overlap: the threshold still beats always answering (balanced accuracy 0.5).
    overlapping = fit_min_score([0.6, 0.7, 0.8, 0.45], [0.5, 0.4, 0.65])
    assert overlapping.balanced_accuracy > 0.5
    # Group sizes do not sway it: repeating one group changes nothing.
    assert fit_min_score([0.8, 0.7, 0.9, 0.75] * 5, [0.3, 0.5, 0.4]).min_score == point.min_score
    with pytest.raises(ValueError):
        fit_min_score([0.5], [])


def test_held_out_no_answer_point_and_ranking_metrics(
    store: KnowledgeStore, embedder: Embedder
) -> None:
    queries = [
        ("I want to send something back", "returns"),
        ("the KX-4471 switch is broken", "lamp-recall"),
        ("I forgot my password", "password"),
        ("how much does shipping cost", "shipping"),
    ]
    metrics = ranking_metrics(make_retriever(store, embedder, "hybrid"), queries)
    assert (
        metrics["hit@1"] >= 0.75 and metrics["hit@1"] <= metrics["hit@5"] and metrics["mrr"] > 0.8
    )
    point = held_out_no_answer_point(store, lambda s: make_retriever(s, embedder, "dense"), queries)
    assert point.answerable == point.unanswerable == len(queries)
    assert 0.0 < point.min_score < 1.0 and point.balanced_accuracy >= 0.5


def test_eval_retrieval_reports_each_mode_and_a_min_score(embedder: Embedder, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from training.retrieval_evaluation import evaluate_retrieval

    docs = tmp_path / "docs.jsonl"
    docs.write_text(
        "\n".join(json.dumps({"id": d.id, "title": d.title, "text": d.text}) for d in DOCUMENTS[:4])
    )
    queries = tmp_path / "queries.jsonl"
    queries.write_text(
        json.dumps({"query": "KX-4471 switch broken", "doc_id": "lamp-recall"})
        + "\n"
        + json.dumps({"query": "forgot my password", "doc_id": "password"})
    )
    for mode in ("dense", "bm25", "hybrid"):
        result = evaluate_retrieval(docs, queries, embedder, mode=mode)
        assert result["mode"] == mode and result["queries"] == 2 and result["hit@1"] == 1.0
        assert "min_score" in result and 0.0 <= result["no_answer_balanced_accuracy"] <= 1.0


def test_the_runtime_retrieves_with_hybrid_by_default(demo_runtime: Runtime) -> None:
    assert demo_runtime.settings.retrieval_mode == "hybrid"
    retriever = demo_runtime.dialogue.retriever
    assert isinstance(retriever, HybridRetriever)
    [passage] = retriever.run("how long do refunds take", 1)
    assert passage.dense is not None and passage.lexical is not None

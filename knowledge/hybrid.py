"""Lexical (BM25) and hybrid retrieval over a :class:`KnowledgeStore`.

Hybrid fusion is a weighted sum on the cosine scale: ``score = dense + w * lexical``, where
``lexical`` is the chunk's normalised BM25 share in [0, 1) (see knowledge/lexical.py). Unlike
reciprocal rank fusion, it keeps ``score`` comparable across queries, so the dialogue
manager's "no good passage" threshold and its intent boost still mean what they meant
for dense scores; and unlike min-max fusion, the best lexical match of a query with no real
match does not get full marks. RRF with k=60 was measured too and is worse where BM25 is
much weaker than dense retrieval (StackFAQ MRR 0.92 against 0.96 dense), because it gives
both lists equal say.

``w = 0.2``: a chunk holding all of the query's possible lexical evidence gains 0.2 of
cosine, about the gap between a right and a wrong passage's cosine, so lexical evidence
settles near ties but does not overrule a clear dense decision. StackFAQ MRR moves by
less than 0.001 for any w in 0.1-0.3, so the value is not fitted to that set.
"""

from __future__ import annotations

from knowledge.documents import Passage
from knowledge.embedder import Embedder
from knowledge.lexical import top_scores
from knowledge.retriever import check_embedder
from knowledge.store import KnowledgeStore

DEFAULT_LEXICAL_WEIGHT = 0.2
# Candidates taken from each side before fusing: enough that the right passage is almost
# always among them (StackFAQ hit@20 is ~1.0 for dense alone), few enough to stay cheap.
CANDIDATE_DEPTH = 30


class LexicalRetriever:
    """BM25 alone; ``score`` is the normalised BM25 share of the query's words."""

    def __init__(self, store: KnowledgeStore) -> None:
        self.store = store

    def run(self, query: str, top_k: int = 5, *, language: str | None = None) -> list[Passage]:
        if not query.strip():
            return []
        hits = self.store.lexical.search(query, top_k)
        return [
            Passage(chunk=self.store.chunks[i], score=s, rank=rank, lexical=s)
            for rank, (i, s) in enumerate(hits)
        ]


class HybridRetriever:
    """Dense and BM25 candidates, fused as ``dense + lexical_weight * lexical``."""

    def __init__(
        self,
        store: KnowledgeStore,
        embedder: Embedder,
        *,
        lexical_weight: float = DEFAULT_LEXICAL_WEIGHT,
        depth: int = CANDIDATE_DEPTH,
    ) -> None:
        check_embedder(store, embedder)
        if not 0.0 <= lexical_weight <= 1.0:
            raise ValueError(f"lexical_weight must be in [0, 1], got {lexical_weight}")
        if depth < 1:
            raise ValueError(f"depth must be positive, got {depth}")
        self.store = store
        self.embedder = embedder
        self.lexical_weight = lexical_weight
        self.depth = depth

    def warm_up(self) -> None:
        """Build the BM25 index now rather than on the first question."""
        _ = self.store.lexical

    def run(self, query: str, top_k: int = 5, *, language: str | None = None) -> list[Passage]:
        if not query.strip() or len(self.store) == 0:
            return []
        depth = max(top_k, self.depth)
        vector = self.embedder.encode([query])[0]
        dense = {chunk.id: score for chunk, score in self.store.search(vector, depth)}
        lexical_index = self.store.lexical
        all_lexical = lexical_index.scores(query)
        lexical = dict(top_scores(lexical_index.chunk_ids, all_lexical, depth))
        # Each side's score for the other side's candidates, so every candidate is fused
        # from both: the cosine by reconstructing its vectors, BM25 from the full score row.
        missing = [i for i in lexical if i not in dense]
        dense.update(self.store.similarities(vector, missing))
        for chunk_id in dense:
            lexical.setdefault(chunk_id, float(all_lexical[lexical_index.position(chunk_id)]))
        fused = sorted(
            ((dense[i] + self.lexical_weight * lexical[i], i) for i in dense),
            key=lambda pair: (-pair[0], pair[1]),
        )[:top_k]
        return [
            Passage(
                chunk=self.store.chunks[i],
                score=score,
                rank=rank,
                dense=dense[i],
                lexical=lexical[i],
            )
            for rank, (score, i) in enumerate(fused)
        ]

"""Retrieval benchmark: quality on StackFAQ and FAISS at scale.

    python benchmarks/retrieval.py [--data ../shared/data/stackfaq] [--sizes 10000,100000,1000000] [--json]

(a) StackFAQ: the FAQ threads are the documents (question = title, answers = text), the
    users' rephrasings are the queries; hit@1, hit@5 and MRR for dense, BM25 and hybrid
    retrieval, plus the no-answer threshold each mode gets from held-out documents.
(b) Scale: synthetic clustered vectors at each size: build time, memory, single-query
    latency and recall@10 against exact search.
(c) The demo knowledge base: index build from scratch and an unchanged rebuild.

Vectors are synthetic but clustered: a Gaussian mixture of normalised 384-d vectors, since
uniform random vectors have no neighbourhood structure and make every ANN index look bad
(and every exact one look normal). Each cluster stands for a topic; its spread varies, so
some topics are tight and some diffuse. Queries are fresh draws from the same mixture, not
copies of indexed vectors.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import faiss
import numpy as np

from knowledge.builder import build_index, build_store
from knowledge.documents import Document
from knowledge.embedder import Embedder
from knowledge.modes import RetrievalMode, make_retriever
from knowledge.quality import held_out_no_answer_point, ranking_metrics
from knowledge.vector_index import DEFAULT_NPROBE, IndexKind, VectorIndex

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "stackfaq"
DEFAULT_SIZES = "10000,100000,1000000"


class PrecomputedEmbedder(Embedder):
    """The real embedder, with the queries encoded once in batches and then looked up."""

    def __init__(self) -> None:
        super().__init__()
        self._known: dict[str, np.ndarray] = {}

    def remember(self, texts: Sequence[str]) -> None:
        vectors = super().encode(list(texts))
        self._known.update(zip(texts, vectors, strict=True))

    def encode(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        if len(texts) == 1 and texts[0] in self._known:
            return self._known[texts[0]].reshape(1, -1).copy()
        return super().encode(texts, show_progress=show_progress)


def load_stackfaq(data: Path) -> tuple[list[Document], list[tuple[str, str]]]:
    threads = json.loads((data / "stackExchange-FAQ.json").read_text("utf-8"))["root"]["qapair"]
    documents, queries = [], []
    for number, thread in enumerate(threads):
        document_id = f"faq-{number}"
        answers = [a.strip() for a in thread.get("answer") or [] if a and a.strip()]
        documents.append(
            Document(id=document_id, title=thread["question"].strip(), text="\n\n".join(answers))
        )
        # Rephrasings with no letters at all (a lone "*" occurs) are not questions.
        queries += [
            (r.strip(), document_id)
            for r in thread.get("rephr") or []
            if r and any(ch.isalpha() for ch in r)
        ]
    return documents, queries


def stackfaq(data: Path) -> dict[str, dict[str, float]]:
    documents, queries = load_stackfaq(data)
    embedder = PrecomputedEmbedder()
    embedder.warm_up()
    embedder.remember([q for q, _ in queries])
    store = build_store(documents, embedder)
    results: dict[str, dict[str, float]] = {}
    for mode in RetrievalMode:
        metrics = ranking_metrics(make_retriever(store, embedder, mode), queries)
        point = held_out_no_answer_point(
            store, lambda s, m=mode: make_retriever(s, embedder, m), queries
        )
        results[mode.value] = {
            **metrics,
            "no_answer_min_score": point.min_score,
            "no_answer_balanced_accuracy": point.balanced_accuracy,
        }
    results["dataset"] = {"documents": len(documents), "queries": len(queries)}  # type: ignore[assignment]
    return results


DIMENSION = 384
POINTS_PER_TOPIC = 500
TOPICS_PER_AREA = 20
# Spread per coordinate: the cosine of a point to its topic centre is then ~0.6-0.85, and
# of two points of one topic ~0.4-0.7, roughly the range of related support texts.
SPREAD = (0.03, 0.06)
# Topics of one area (say, payments) lie near each other: cosine ~0.7 to the area centre.
AREA_SPREAD = 0.05


class Mixture:
    """Points around topic centres, topic centres around area centres (all normalised)."""

    def __init__(self, vectors: int, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        topics = max(10, vectors // POINTS_PER_TOPIC)
        areas = _normalised(
            self.rng.standard_normal(
                (max(5, topics // TOPICS_PER_AREA), DIMENSION), dtype=np.float32
            )
        )
        area_of = self.rng.integers(0, len(areas), topics)
        noise = self.rng.standard_normal((topics, DIMENSION), dtype=np.float32) * AREA_SPREAD
        self.centres = _normalised(areas[area_of] + noise)
        self.spread = self.rng.uniform(*SPREAD, topics).astype(np.float32)

    def draw(self, count: int, batch: int = 100_000) -> np.ndarray:
        out = np.empty((count, DIMENSION), dtype=np.float32)
        for start in range(0, count, batch):
            size = min(batch, count - start)
            which = self.rng.integers(0, len(self.centres), size)
            noise = self.rng.standard_normal((size, DIMENSION), dtype=np.float32)
            out[start : start + size] = _normalised(
                self.centres[which] + noise * self.spread[which, None]
            )
        return out


def _normalised(matrix: np.ndarray) -> np.ndarray:
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def measure(
    size: int, queries: int, threads: int, nprobe: int = DEFAULT_NPROBE, seed: int = 0
) -> dict[str, float | str]:
    """Build with ``threads`` FAISS threads; query one at a time on one thread, as serving does."""
    mixture = Mixture(size, seed)
    vectors = mixture.draw(size)
    probes = mixture.draw(queries)
    ids = np.arange(size, dtype=np.int64) * 2 + 1  # not 0..n-1, as real chunk ids are not
    faiss.omp_set_num_threads(threads)
    started = time.perf_counter()
    index = VectorIndex.build(vectors, ids, IndexKind.AUTO, nprobe=nprobe, seed=seed)
    build_seconds = time.perf_counter() - started
    # What the index holds (vectors, ids, lists, direct map), as FAISS serialises it; resident
    # memory deltas are unreliable here because freed numpy buffers are reused.
    memory = index.serialized_bytes() / 2**20
    # One query at a time gains nothing from a second thread and, on a busy 2-core machine,
    # waits for it at OpenMP barriers (p50 8 ms instead of 0.1 ms for 2k vectors).
    faiss.omp_set_num_threads(1)
    latencies = []
    found = []
    for probe in probes:
        started = time.perf_counter()
        _, hit_ids = index.search(probe, 10)
        latencies.append(time.perf_counter() - started)
        found.append(hit_ids[0])
    recall = 1.0
    if index.kind is not IndexKind.FLAT:
        exact = faiss.IndexFlatIP(DIMENSION)
        exact.add(vectors)
        _, truth = exact.search(probes, 10)
        truth = truth * 2 + 1
        recall = float(
            np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)])
        )
    milliseconds = np.array(latencies) * 1000
    return {
        "index_type": str(index.describe()["index_type"]),
        "nprobe": index.nprobe or 0,
        "build_seconds": round(build_seconds, 2),
        "memory_mb": round(memory, 1),
        "p50_ms": round(float(np.percentile(milliseconds, 50)), 3),
        "p95_ms": round(float(np.percentile(milliseconds, 95)), 3),
        "recall@10": round(recall, 4),
    }


def demo_build() -> dict[str, float]:
    embedder = Embedder()
    embedder.warm_up()  # model loading is not index building
    with tempfile.TemporaryDirectory() as scratch:
        index = Path(scratch) / "index"
        started = time.perf_counter()
        report = build_index([REPO / "demo" / "kb"], embedder, index, progress=False)
        first = time.perf_counter() - started
        started = time.perf_counter()
        again = build_index([REPO / "demo" / "kb"], embedder, index, progress=False)
        second = time.perf_counter() - started
    assert again.unchanged
    return {
        "documents": report.documents,
        "chunks": report.chunks,
        "build_seconds": round(first, 2),
        "unchanged_seconds": round(second, 2),
    }


def print_tables(result: dict[str, object]) -> None:
    quality = result.get("stackfaq")
    if isinstance(quality, dict):
        print(f"StackFAQ {quality['dataset']}")
        print(f"{'mode':8} {'hit@1':>7} {'hit@5':>7} {'mrr':>7} {'min_score':>10} {'bal.acc':>8}")
        for mode in RetrievalMode:
            row = quality[mode.value]
            print(
                f"{mode.value:8} {row['hit@1']:7.4f} {row['hit@5']:7.4f} {row['mrr']:7.4f}"
                f" {row['no_answer_min_score']:10.4f} {row['no_answer_balanced_accuracy']:8.4f}"
            )
    print(
        f"\n{'vectors':>9} {'index':>12} {'build s':>8} {'MB':>8} {'p50 ms':>8} {'p95 ms':>8} {'R@10':>7}"
    )
    for size, row in result["scale"].items():  # type: ignore[union-attr]
        print(
            f"{size:>9} {row['index_type']:>12} {row['build_seconds']:8.2f} {row['memory_mb']:8.1f}"
            f" {row['p50_ms']:8.3f} {row['p95_ms']:8.3f} {row['recall@10']:7.4f}"
        )
    demo = result.get("demo")
    if isinstance(demo, dict):
        print(f"\ndemo KB: {demo}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="StackFAQ folder")
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help="comma-separated vector counts")
    parser.add_argument("--queries", type=int, default=1000, help="queries per size")
    parser.add_argument("--threads", type=int, default=2, help="FAISS threads for building")
    parser.add_argument("--nprobe", type=int, default=DEFAULT_NPROBE, help="IVF cells per query")
    parser.add_argument("--skip-demo", action="store_true", help="leave out the demo build")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args()
    result: dict[str, object] = {}
    if (args.data / "stackExchange-FAQ.json").exists():
        result["stackfaq"] = stackfaq(args.data)
    else:
        print(f"StackFAQ not found at {args.data}: skipping the quality part", file=sys.stderr)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    result["scale"] = {str(n): measure(n, args.queries, args.threads, args.nprobe) for n in sizes}
    if not args.skip_demo:
        result["demo"] = demo_build()
    if args.json:
        print(json.dumps(result))
    else:
        print_tables(result)


if __name__ == "__main__":
    main()

"""Answer generator: speed on this CPU and answer quality on the held-out demo questions.

    python benchmarks/generator.py [--json] [--limit N] [--no-quality] [--no-speed]
                                   [--runtime onnx|torch] [--precision int4|int8|fp32]
                                   [--no-quantize] [--tuned MODEL_DIR]

Speed (the base model, on the runtime the settings select unless told otherwise): time to
first token for a ~400-token prompt of three passages (``ttft_ms``: a new topic on a
running server, passages never read before; ``ttft_cold_ms``: nothing reused;
``ttft_passages_read_ms``: passages read before in other prompts, in a new combination;
``ttft_repeat_ms``: a follow-up on the previous prompt's passages) and greedy decode speed
in new tokens/s, medians of ``--repeats``; peak resident memory of the process. With the
quality part too (ONNX), ``ttft_questions``: ``p50_ms``/``p90_ms`` for the held-out questions
asked in turn on a fresh server with the passages retrieved for them, and
``passage_hit_rate``, the share of their passage tokens already read by then;
``ttft_questions_read_ahead``: the same after the server read the knowledge base ahead.
Quality, for ``base`` and (when `supportbot train generator` has saved one) ``tuned``: on
demo/generator/heldout.yml, with the passages the retriever finds (the passage holding the
item's answer made sure of, so retrieval misses do not count against the generator), the
share of answers whose draft passed the grounding check whole (``grounded_rate``; the
second draft where the first was rejected before anything was shown, ``redrafted_rate``;
the last one started with a passage's words, ``started_rate``),
ROUGE-L of the final answers against the written references, and the share that ended as
the extractive answer (``fallback_rate``).

With ``--json`` the last line is one JSON object: ``runtime``, ``weights``,
``tokens_per_s``, ``ttft_ms``, ``ttft_cold_ms``, ``ttft_passages_read_ms``, ``ttft_repeat_ms``,
``rss_mb``, ``base`` and ``tuned`` (null
when there is no tuned model) each with ``grounded_rate``, ``rouge_l``, ``fallback_rate``.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

from bot.generation.factory import local_model_location, make_answerer, make_generator
from bot.generation.local import LocalGenerator
from bot.generation.prompt import PromptBuilder, PromptPassage
from bot.generation.types import ChatMessage
from bot.settings import Settings
from knowledge.builder import build_index
from knowledge.embedder import Embedder
from knowledge.modes import make_retriever
from knowledge.store import KnowledgeStore
from training.generator_data import load_generator_items
from training.generator_dataset import passages_for
from training.generator_eval import evaluate_answers

PROMPT_TOKENS = 400


def _passage(number: int) -> PromptPassage:
    """The ``number``-th of an endless supply of distinct ~75-token passages."""
    return PromptPassage(
        f"Returns policy {number}",
        f"You can return most items within {20 + number} days of delivery. " * 5,
        "Time limits",
    )


def _chat(generator: LocalGenerator, passages: list[int], question: str) -> list[ChatMessage]:
    """A ~400-token prompt: the fixed rules, three passages, the question."""
    builder = PromptBuilder(generator.count_tokens, max_prompt_tokens=PROMPT_TOKENS)
    return list(builder.build(question, [_passage(n) for n in passages]).messages)


def _stamp(stamps: list[float], _token: int) -> None:
    stamps.append(time.perf_counter())


def _timed(
    generator: LocalGenerator, messages: list[ChatMessage], new_tokens: int
) -> tuple[float, float | None]:
    """Time to first token (ms, tokenising included) and decode rate (tokens/s)."""
    stamps: list[float] = []
    started = time.perf_counter()
    ids = [int(i) for i in generator.encode_chat(messages)[0].tolist()]
    layout = generator.layout(messages, ids)
    generator.generate_ids(ids, new_tokens, partial(_stamp, stamps), None, layout)
    if not stamps:
        raise SystemExit("the model produced no token for the speed prompt")
    rate = (len(stamps) - 1) / max(stamps[-1] - stamps[0], 1e-9) if len(stamps) > 1 else None
    return (stamps[0] - started) * 1000, rate


def speed(generator: LocalGenerator, repeats: int, new_tokens: int) -> dict[str, Any]:
    """Time to first token and decode tokens/s through the generator's own decode loop.

    ONNX Runtime keeps the passages it has read (``BlockCache``) and decoder states between
    turns (``KeptPrompts``); four cases, each a new question:
    ``ttft_cold_ms`` nothing kept; ``ttft_ms`` a new topic, three passages never read
    before (only the fixed rules are reused); ``ttft_passages_read_ms`` three passages read
    before in other prompts, now in a new combination and order (a running server's common
    case: its popular articles are read); ``ttft_repeat_ms`` the passages of the previous
    prompt (a follow-up), continued from its kept state. Torch computes every prompt whole.
    The repetition stop is off here: the synthetic passages repeat themselves and the
    model with them, and the point is to time ``new_tokens`` tokens.
    """
    repeat_stop_size, generator.repeat_stop_size = generator.repeat_stop_size, 0
    onnx = getattr(generator, "runtime", "torch") == "onnx"
    cold, new_topic, read, repeat, rates = [], [], [], [], []
    fresh = iter(range(10**6))

    def new_passages() -> list[int]:
        return [next(fresh) for _ in range(3)]

    try:
        _timed(generator, _chat(generator, new_passages(), "How long do I have?"), new_tokens)
        for round_ in range(repeats):
            if onnx:
                generator.forget_prefix()  # type: ignore[attr-defined]
                cold.append(_timed(generator, _chat(generator, new_passages(), "Why?"), 1)[0])
            question = f"How long do I have to return lamp number {round_}?"
            topic = new_passages()
            ttft, rate = _timed(generator, _chat(generator, topic, question), new_tokens)
            new_topic.append(ttft)
            rates += [rate] if rate else []
            if not onnx:
                continue
            follow_up = f"And is lamp number {round_} refundable?"
            repeat.append(_timed(generator, _chat(generator, topic, follow_up), 1)[0])
            earlier = new_passages()
            _timed(generator, _chat(generator, earlier, "Can I send it back?"), 1)
            mixed = [earlier[2], topic[0], earlier[0]]  # read before, never together
            read.append(_timed(generator, _chat(generator, mixed, question + " Really?"), 1)[0])
    finally:
        generator.repeat_stop_size = repeat_stop_size

    def median(values: list[float]) -> float | None:
        return round(statistics.median(values), 1) if values else None

    probe = _chat(generator, new_passages(), "How long do I have?")
    return {
        "runtime": getattr(generator, "runtime", "torch"),
        "prompt_tokens": len(generator.encode_chat(probe)[0]),
        "ttft_ms": median(new_topic),
        "ttft_cold_ms": median(cold),
        "ttft_passages_read_ms": median(read),
        "ttft_repeat_ms": median(repeat),
        "tokens_per_s": median(rates),
    }


def ttft_on_questions(
    generator: LocalGenerator,
    items: list[Any],
    retriever: Any,
    builder: PromptBuilder,
    knowledge: list[PromptPassage] | None = None,
) -> dict[str, Any]:
    """Time to first token for the held-out questions asked one after another on a fresh
    server, with the passages the retriever finds; with ``knowledge``, after the server
    read those passages ahead (as `supportbot serve` does). ``passage_hit_rate``: the share of the
    questions' passage tokens whose block was already read."""
    generator.forget_prefix()  # type: ignore[attr-defined]
    if knowledge is not None:
        generator.read_ahead(knowledge, builder, threading.Event())  # type: ignore[attr-defined]
    blocks = generator.blocks  # type: ignore[attr-defined]
    found, missed = blocks.tokens_found, blocks.tokens_missed
    times = []
    for item in items:
        passages = [PromptPassage.of(p.chunk) for p in passages_for(item, retriever)]
        messages = list(builder.build(item.question, passages, item.history).messages)
        times.append(_timed(generator, messages, 1)[0])
    found, missed = blocks.tokens_found - found, blocks.tokens_missed - missed
    return {
        "p50_ms": round(statistics.median(times), 1),
        "p90_ms": round(statistics.quantiles(times, n=10)[-1], 1),
        "passage_hit_rate": round(found / max(found + missed, 1), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true", help="one JSON object on the last line")
    parser.add_argument("--limit", type=int, default=None, help="quality on N evenly spaced items")
    parser.add_argument("--no-quality", action="store_true", help="speed and memory only")
    parser.add_argument("--no-speed", action="store_true", help="quality and memory only")
    parser.add_argument("--no-quantize", action="store_true", help="torch: fp32 linear layers")
    parser.add_argument(
        "--runtime", choices=["onnx", "torch"], default=None, help="default: the settings'"
    )
    parser.add_argument("--precision", choices=["int4", "int8", "fp32"], default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument(
        "--tuned", type=Path, default=None, help="the tuned model folder (default: serving's)"
    )
    args = parser.parse_args()

    overrides: dict[str, Any] = {"generator_backend": "local"}
    if args.no_quantize:
        overrides["generator_quantize"] = False
    if args.runtime:
        overrides["generator_runtime"] = args.runtime
    if args.precision:
        overrides["generator_onnx_precision"] = args.precision
    settings = Settings(**overrides)
    base = settings.model_copy(
        update={"generator_model_dir": settings.generator_base_dir, "generator_adapter_dir": None}
    )
    base_generator = _local(base)
    base_generator.warm_up()
    result: dict[str, Any] = (
        {"runtime": getattr(base_generator, "runtime", "torch")}
        if args.no_speed
        else speed(base_generator, args.repeats, args.new_tokens)
    )
    result["weights"] = (
        settings.generator_onnx_precision
        if result["runtime"] == "onnx"
        else ("int8" if settings.generator_quantize else "fp32")
    )
    result["base"] = result["tuned"] = None
    if not args.no_quality:
        embedder = Embedder(settings.embedder_path)
        items = load_generator_items(settings.tenant_dir / "generator" / "heldout.yml")
        if args.limit and args.limit < len(items):
            # Evenly spaced, so that unanswerable and injection items (listed last) are in.
            step = len(items) / args.limit
            items = [items[int(i * step)] for i in range(args.limit)]
        with tempfile.TemporaryDirectory() as index_dir:
            build_index([settings.kb_dir], embedder, Path(index_dir), progress=False)
            store = KnowledgeStore.load(Path(index_dir), expected_embedder=embedder.name)
            retriever = make_retriever(store, embedder, settings.retrieval_mode)
            if not args.no_speed and result["runtime"] == "onnx":
                builder = PromptBuilder(
                    base_generator.count_tokens,
                    company=settings.tenant_name,
                    max_prompt_tokens=settings.generator_max_prompt_tokens,
                )
                result["ttft_questions"] = ttft_on_questions(
                    base_generator, items, retriever, builder
                )
                knowledge = [PromptPassage.of(c) for c in store.chunks.values()]
                result["ttft_questions_read_ahead"] = ttft_on_questions(
                    base_generator, items, retriever, builder, knowledge
                )
            answerer = make_answerer(base, embedder, base_generator)
            result["base"] = evaluate_answers(items, retriever, answerer)  # type: ignore[arg-type]
            tuned_dir, tuned_adapter = (
                (args.tuned, None)
                if args.tuned
                else local_model_location(settings.model_copy(update={"generator_model_dir": None}))
            )
            if (tuned_dir, tuned_adapter) != (settings.generator_base_dir, None):
                tuned = settings.model_copy(
                    update={
                        "generator_model_dir": tuned_dir,
                        "generator_adapter_dir": tuned_adapter,
                    }
                )
                tuned_generator = _local(tuned)
                # Loaded (and exported to ONNX, the first time) before the clock runs, as
                # for the base model: otherwise the first question times out on the export.
                tuned_generator.warm_up()
                answerer = make_answerer(tuned, embedder, tuned_generator)
                result["tuned"] = evaluate_answers(items, retriever, answerer)  # type: ignore[arg-type]
    result["rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:<14} {value}")


def _local(settings: Settings) -> LocalGenerator:
    generator = make_generator(settings)
    if not isinstance(generator, LocalGenerator):
        raise SystemExit("the speed benchmark runs the local backend")
    return generator


if __name__ == "__main__":
    main()

"""Answer generator: speed on this CPU and answer quality on the held-out demo questions.

    python benchmarks/generator.py [--json] [--limit N] [--no-quality] [--no-speed]
                                   [--runtime onnx|torch] [--precision int4|int8|fp32]
                                   [--no-quantize]

Speed (the base model, on the runtime the settings select unless told otherwise): time to
first token for a ~400-token prompt (``ttft_ms``: a turn after the first, where ONNX Runtime
reuses the fixed rules' keys and values; ``ttft_cold_ms``: nothing reused) and greedy decode
speed in new tokens/s, medians of ``--repeats``; peak resident memory of the process.
Quality, for ``base`` and (when `supportbot train generator` has saved one) ``tuned``: on
demo/generator/heldout.yml, with the passages the retriever finds (the passage holding the
item's answer made sure of, so retrieval misses do not count against the generator), the
share of drafts that passed the grounding check whole (``grounded_rate``), ROUGE-L of the
final answers against the written references, and the share that ended as the extractive
answer (``fallback_rate``).

With ``--json`` the last line is one JSON object: ``runtime``, ``weights``,
``tokens_per_s``, ``ttft_ms``, ``ttft_cold_ms``, ``rss_mb``, ``base`` and ``tuned`` (null
when there is no tuned model) each with ``grounded_rate``, ``rouge_l``, ``fallback_rate``.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

from bot.generation.factory import local_model_location, make_answerer, make_generator
from bot.generation.local import LocalGenerator
from bot.generation.prompt import PromptBuilder, PromptPassage
from bot.settings import Settings
from knowledge.builder import build_index
from knowledge.embedder import Embedder
from knowledge.modes import make_retriever
from knowledge.store import KnowledgeStore
from training.generator_data import load_generator_items
from training.generator_eval import evaluate_answers

PROMPT_TOKENS = 400


def _prompt_ids(generator: LocalGenerator, variant: int) -> list[int]:
    """A ~400-token prompt; each variant differs after the fixed rules, as real turns do."""
    passage = PromptPassage(
        f"Returns policy {variant}",
        f"You can return most items within {20 + variant} days. " * 60,
    )
    builder = PromptBuilder(generator.count_tokens, max_prompt_tokens=PROMPT_TOKENS)
    question = f"How long do I have to return lamp number {variant}?"
    messages = builder.build(question, [passage]).messages
    return [int(i) for i in generator.encode_chat(messages)[0].tolist()]


def _stamp(stamps: list[float], _token: int) -> None:
    stamps.append(time.perf_counter())


def speed(generator: LocalGenerator, repeats: int, new_tokens: int) -> dict[str, Any]:
    """Time to first token and decode tokens/s through the generator's own decode loop.

    ``ttft_ms``: a served turn after the first (with ONNX Runtime the fixed rules' keys and
    values are reused; torch computes every prompt whole); ``ttft_cold_ms``: a prompt with
    nothing reused. The repetition stop is off here: the synthetic passage repeats itself
    and the model with it, and the point is to time ``new_tokens`` tokens.
    """
    repeat_stop_size, generator.repeat_stop_size = generator.repeat_stop_size, 0
    forget = getattr(generator, "forget_prefix", None)
    cold, warm, rates, counts = [], [], [], []
    try:
        for run in range(2 * repeats + 1):  # run 0 warms caches and is not counted
            ids = _prompt_ids(generator, run)
            is_cold = forget is not None and run % 2 == 1
            if is_cold:
                forget()
            stamps: list[float] = []
            started = time.perf_counter()
            generator.generate_ids(ids, new_tokens, partial(_stamp, stamps))
            if not run or not stamps:
                continue
            ttft = (stamps[0] - started) * 1000
            (cold if is_cold or forget is None else warm).append(ttft)
            if len(stamps) > 1:
                rates.append((len(stamps) - 1) / max(stamps[-1] - stamps[0], 1e-9))
                counts.append(len(stamps))
    finally:
        generator.repeat_stop_size = repeat_stop_size
    return {
        "runtime": getattr(generator, "runtime", "torch"),
        "prompt_tokens": len(_prompt_ids(generator, 0)),
        "ttft_ms": round(statistics.median(warm or cold), 1),
        "ttft_cold_ms": round(statistics.median(cold), 1) if cold else None,
        "tokens_per_s": round(statistics.median(rates), 1) if rates else None,
        "decoded_tokens": min(counts) if counts else 0,
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
            answerer = make_answerer(base, embedder, base_generator)
            result["base"] = evaluate_answers(items, retriever, answerer)  # type: ignore[arg-type]
            tuned_dir, tuned_adapter = local_model_location(
                settings.model_copy(update={"generator_model_dir": None})
            )
            if (tuned_dir, tuned_adapter) != (settings.generator_base_dir, None):
                tuned = settings.model_copy(
                    update={
                        "generator_model_dir": tuned_dir,
                        "generator_adapter_dir": tuned_adapter,
                    }
                )
                answerer = make_answerer(tuned, embedder, _local(tuned))
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

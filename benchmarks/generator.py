"""Answer generator: speed on this CPU and answer quality on the held-out demo questions.

    python benchmarks/generator.py [--json] [--limit N] [--no-quality] [--no-quantize]

Speed (the local model the settings select, base unless told otherwise): time to first
token for a ~400-token prompt and greedy decode speed in new tokens/s, median of
``--repeats``; peak resident memory of the process. Quality, for ``base`` and (when
`supportbot train generator` has saved one) ``tuned``: on demo/generator/heldout.yml, with
the passages the retriever finds (the item's article made sure of, so retrieval misses do
not count against the generator), the share of drafts that passed the grounding check
whole (``grounded_rate``), ROUGE-L of the final answers against the written references,
and the share that ended as the extractive answer (``fallback_rate``).

With ``--json`` the last line is one JSON object: ``tokens_per_s``, ``ttft_ms``, ``rss_mb``,
``base`` and ``tuned`` (null when there is no tuned model) each with ``grounded_rate``,
``rouge_l``, ``fallback_rate``.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import time
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


def speed(generator: LocalGenerator, repeats: int, new_tokens: int) -> dict[str, float]:
    """TTFT (prefill + first token) and decode tokens/s, straight on the model."""
    import torch
    from transformers import TextStreamer

    passage = PromptPassage("Returns policy", "You can return most items within 30 days. " * 60)
    builder = PromptBuilder(generator.count_tokens, max_prompt_tokens=PROMPT_TOKENS)
    messages = builder.build("How long do I have to return a lamp?", [passage]).messages
    input_ids = generator.encode_chat(messages)
    model = generator.model

    class FirstToken(TextStreamer):
        def __init__(self) -> None:
            super().__init__(generator.tokenizer, skip_prompt=True)
            self.first: float | None = None

        def put(self, value: Any) -> None:
            if self.first is None and self.next_tokens_are_prompt is False:
                self.first = time.perf_counter()
            super().put(value)

        def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
            pass

    ttfts, rates = [], []
    with torch.inference_mode():
        for run in range(repeats + 1):  # the first run warms caches and is not counted
            streamer = FirstToken()
            started = time.perf_counter()
            model.generate(
                input_ids=input_ids,
                attention_mask=torch.ones_like(input_ids),
                max_new_tokens=new_tokens,
                min_new_tokens=new_tokens,
                do_sample=False,
                streamer=streamer,
            )
            ended = time.perf_counter()
            if run:
                first = streamer.first or ended
                ttfts.append((first - started) * 1000)
                rates.append((new_tokens - 1) / max(ended - first, 1e-9))
    return {
        "prompt_tokens": int(input_ids.shape[1]),
        "ttft_ms": round(statistics.median(ttfts), 1),
        "tokens_per_s": round(statistics.median(rates), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true", help="one JSON object on the last line")
    parser.add_argument("--limit", type=int, default=None, help="quality on N evenly spaced items")
    parser.add_argument("--no-quality", action="store_true", help="speed and memory only")
    parser.add_argument("--no-quantize", action="store_true", help="fp32 linear layers")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--new-tokens", type=int, default=64)
    args = parser.parse_args()

    settings = Settings(generator_backend="local", generator_quantize=not args.no_quantize)
    base = settings.model_copy(
        update={"generator_model_dir": settings.generator_base_dir, "generator_adapter_dir": None}
    )
    base_generator = _local(base)
    base_generator.warm_up()
    result: dict[str, Any] = {
        "quantized": settings.generator_quantize,
        **speed(base_generator, args.repeats, args.new_tokens),
    }
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

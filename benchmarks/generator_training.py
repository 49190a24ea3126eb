"""Generator fine-tuning cost per example: prompts read whole (learning through the whole
prompt, or through the answer's tokens only) against passages read as blocks.

    python benchmarks/generator_training.py [--data var/generator/train.jsonl] [--examples 160]
                                            [--steps 6] [--json]

All three read the same first ``--examples`` training examples with the settings' base
model and LoRA defaults, then run ``--steps`` optimizer steps' forward and backward passes
(no update, so all see the same weights). Reported per example: the frozen layers' pass
(``frozen_s``), a training step (``step_s``), and for blocks the passage tokens one step
runs through the trainable layers (``block_tokens_per_step``; whole prompts run every
example's passages).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path
from typing import Any

from bot.generation.prompt import PromptBuilder
from bot.settings import Settings
from training.frozen_blocks import PassageBlocks
from training.generator_data import read_training_jsonl
from training.generator_training import (
    GeneratorTrainingConfig,
    encode_example,
    make_trainable,
    prompt_reader,
)


def measure(
    base_dir: Path, rows: list[Any], config: GeneratorTrainingConfig, steps: int
) -> dict[str, Any]:
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(config.seed)
    model = make_trainable(
        AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32), config
    )
    model.eval()
    started = time.perf_counter()
    reader, prompts = prompt_reader(model, base_dir, config, rows, progress=False)
    frozen_s = (time.perf_counter() - started) / len(rows)
    chosen = reader.steps(range(len(rows)), config.grad_accumulation, random.Random(config.seed))
    chosen = chosen[: steps + 1]
    model.train()
    seconds, examples = 0.0, 0
    for number, indices in enumerate(chosen):
        started = time.perf_counter()
        step = reader.step(indices)
        for index in indices:
            (step.loss(index) / len(indices)).backward()
        step.backward()
        model.zero_grad(set_to_none=True)
        if number:  # the first step warms the kernels up
            seconds += time.perf_counter() - started
            examples += len(indices)
    result: dict[str, Any] = {
        "prompts": prompts,
        "frozen_s": round(frozen_s, 3),
        "step_s": round(seconds / max(examples, 1), 3),
    }
    if isinstance(reader, PassageBlocks):
        result["block_tokens_per_step"] = statistics.median(
            reader.step_tokens(indices) for indices in chosen[1:]
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path("var/generator/train.jsonl"))
    parser.add_argument("--examples", type=int, default=160)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--json", action="store_true", help="one JSON object on the last line")
    args = parser.parse_args()
    if not args.data.is_file():
        raise SystemExit(f"{args.data} not found: run `supportbot train generator-data` first")
    from transformers import AutoTokenizer

    settings = Settings()
    base_dir = settings.generator_base_dir
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    builder = PromptBuilder(
        lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"]),
        company=settings.tenant_name,
        max_prompt_tokens=settings.generator_max_prompt_tokens,
    )
    examples = read_training_jsonl(args.data)[: args.examples]
    rows = [encode_example(tokenizer, builder, example) for example in examples]
    result = {
        "examples": len(rows),
        "whole": measure(
            base_dir, rows, GeneratorTrainingConfig(prompt_gradients=True), args.steps
        ),
        "answer_gradients": measure(base_dir, rows, GeneratorTrainingConfig(), args.steps),
        "blocks": measure(
            base_dir, rows, GeneratorTrainingConfig(passages_as_blocks=True), args.steps
        ),
    }
    if args.json:
        print(json.dumps(result))
    else:
        for kind in ("whole", "answer_gradients", "blocks"):
            print(kind, result[kind])


if __name__ == "__main__":
    main()

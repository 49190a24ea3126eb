"""Fine-tune the answer generator on grounded answers: LoRA by default, or full weights.

Only the answer tokens carry the loss (the prompt is the one serving builds: rules,
passages, history, question). Only the top ``trainable_layers`` layers learn, so the
backward pass stops there, and what the frozen layers below compute for an example is
computed once for the whole run (``training.frozen_layers``): on 2 CPU cores that is what
keeps a run of several epochs within minutes. With ``passages_as_blocks`` the passages are
read as blocks, the way serving reads them (``training.frozen_blocks``).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from tqdm import tqdm

from bot.errors import ConfigError
from bot.generation.block_reuse import prompt_layout
from bot.generation.prompt import PromptBuilder
from bot.generation.torch_passages import model_rotary
from training.frozen_blocks import PassageBlocks
from training.frozen_layers import (
    IGNORED,
    EncodedExample,
    FrozenPrefix,
    PromptReader,
    WholePrompts,
    common_prefix_length,
)
from training.generator_data import TrainingExample, read_training_jsonl

MANIFEST = "supportbot-generator.json"
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass(frozen=True)
class GeneratorTrainingConfig:
    method: Literal["lora", "full"] = "lora"
    epochs: int = 3
    learning_rate: float | None = None  # default 3e-4 for LoRA, 3e-5 for full weights
    lora_rank: int = 16
    lora_alpha: int = 32
    # No dropout by default: drawing its masks took a seventh of a training step on CPU.
    lora_dropout: float = 0.0
    trainable_layers: int = 10
    grad_accumulation: int = 8
    eval_fraction: float = 0.1
    patience: int = 1  # epochs without a better eval loss before stopping
    max_prompt_tokens: int = 512
    company: str = "the company"
    seed: int = 0
    # True: passages read as blocks, as serving reads them (training.frozen_blocks); measured
    # no better than whole prompts on the demo set (README), so not the default.
    passages_as_blocks: bool = False
    # False (the default): the trainable layers read a whole prompt without gradients and
    # learn through the answer's tokens only (training.frozen_layers). On the demo set that
    # trained in 16.3 min instead of 19.9, grounded as often within the seed spread and with
    # a higher ROUGE-L on two seeds (docs/generator-experiments.md). Passages read as blocks
    # always learn through the prompt.
    prompt_gradients: bool = False

    def __post_init__(self) -> None:
        if self.method not in ("lora", "full"):
            raise ConfigError(f"method must be lora or full, got {self.method!r}")
        if self.epochs < 1 or self.grad_accumulation < 1 or self.trainable_layers < 1:
            raise ConfigError("epochs, grad_accumulation and trainable_layers must be >= 1")
        if not 0.0 < self.eval_fraction < 0.5:
            raise ConfigError(f"eval_fraction must be within (0, 0.5), got {self.eval_fraction}")

    @property
    def lr(self) -> float:
        return self.learning_rate or (3e-4 if self.method == "lora" else 3e-5)


@dataclass(frozen=True)
class GeneratorTrainingResult:
    output_dir: Path
    merged_dir: Path | None
    train_examples: int
    eval_examples: int
    epochs_run: int
    eval_loss_before: float
    eval_loss: float
    seconds: float


def encode_example(
    tokenizer: Any, builder: PromptBuilder, example: TrainingExample
) -> EncodedExample:
    """Token ids of prompt + answer, the prompt masked out of the labels, and where the
    prompt's passages lie."""
    prompt = builder.build(example.question, example.passages, example.history)
    prompt_ids = tokenizer.apply_chat_template(
        [m.as_dict() for m in prompt.messages], add_generation_prompt=True, tokenize=True
    )
    if isinstance(prompt_ids, dict) or hasattr(prompt_ids, "keys"):
        prompt_ids = prompt_ids["input_ids"]
    end = tokenizer.eos_token or "<|im_end|>"
    answer_ids = tokenizer(example.answer.strip() + end, add_special_tokens=False)["input_ids"]
    return EncodedExample(
        input_ids=list(prompt_ids) + list(answer_ids),
        labels=[IGNORED] * len(prompt_ids) + list(answer_ids),
        layout=prompt_layout(tokenizer, prompt.messages, list(prompt_ids)),
    )


def split_examples(
    examples: list[TrainingExample], fraction: float, seed: int
) -> tuple[list[TrainingExample], list[TrainingExample]]:
    shuffled = examples[:]
    random.Random(seed).shuffle(shuffled)
    held = max(1, round(len(shuffled) * fraction))
    return shuffled[held:], shuffled[:held]


def train_generator(
    data: Path,
    base_dir: Path,
    output_dir: Path,
    config: GeneratorTrainingConfig,
    *,
    merge: bool = False,
    progress: bool = True,
) -> GeneratorTrainingResult:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    examples = read_training_jsonl(data)
    if len(examples) < 4:
        raise ConfigError(f"{data}: {len(examples)} examples are too few to train and evaluate")
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    builder = PromptBuilder(
        lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"]),
        company=config.company,
        max_prompt_tokens=config.max_prompt_tokens,
    )
    train_set, eval_set = split_examples(examples, config.eval_fraction, config.seed)
    train_rows = [encode_example(tokenizer, builder, e) for e in train_set]
    eval_rows = [encode_example(tokenizer, builder, e) for e in eval_set]
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    model = make_trainable(model, config)
    model.eval()
    rows = train_rows + eval_rows
    reader, prompts = prompt_reader(model, base_dir, config, rows, progress)
    train_indices = list(range(len(train_rows)))
    eval_indices = list(range(len(train_rows), len(rows)))
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=config.lr, weight_decay=0.0)
    steps = math.ceil(len(train_rows) / config.grad_accumulation) * config.epochs
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.1, 1 - s / steps))
    staging = output_dir.with_name(output_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    best = before = _eval_loss(model, reader, rows, eval_indices)
    epochs_run, stale = 0, 0
    _save(model, tokenizer, staging, config)  # the best so far is always on disk
    rng = random.Random(config.seed)
    for epoch in range(1, config.epochs + 1):
        model.train()
        bar = tqdm(
            total=len(train_rows), desc=f"epoch {epoch}/{config.epochs}", disable=not progress
        )
        running = None
        for indices in reader.steps(train_indices, config.grad_accumulation, rng):
            # One optimizer step: what its examples share (the rules, passages) runs once.
            step = reader.step(indices)
            for index in indices:
                loss = step.loss(index)
                (loss / config.grad_accumulation).backward()
                running = loss.item() if running is None else 0.9 * running + 0.1 * loss.item()
                bar.update(1)
                bar.set_postfix(loss=f"{running:.3f}")
            step.backward()
            torch.nn.utils.clip_grad_norm_(parameters, 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
        bar.close()
        epochs_run = epoch
        current = _eval_loss(model, reader, rows, eval_indices)
        if progress:
            tqdm.write(f"epoch {epoch}: eval loss {current:.4f} (best {best:.4f})")
        if current < best - 1e-4:
            best, stale = current, 0
            _save(model, tokenizer, staging, config)
        else:
            stale += 1
            if stale >= config.patience:
                break
    seconds = time.perf_counter() - started
    manifest = {
        "method": config.method,
        "base_model": str(base_dir),
        "data": str(data),
        "data_sha256": hashlib.sha256(data.read_bytes()).hexdigest(),
        "train_examples": len(train_rows),
        "eval_examples": len(eval_rows),
        "epochs_run": epochs_run,
        "eval_loss_before": round(before, 4),
        "eval_loss": round(best, 4),
        "seconds": round(seconds, 1),
        "prompts": prompts,
        "prompt_gradients": prompts == "blocks" or config.prompt_gradients,
        "config": asdict(config),
    }
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2), "utf-8")
    merged_dir = None
    if merge and config.method == "lora":
        merged_dir = _merge(base_dir, staging, tokenizer)
    if output_dir.exists():
        shutil.rmtree(output_dir)
    staging.rename(output_dir)
    if merged_dir is not None or config.method == "full":
        merged_dir = output_dir / "merged"
    return GeneratorTrainingResult(
        output_dir, merged_dir, len(train_rows), len(eval_rows), epochs_run, before, best, seconds
    )


def prompt_reader(
    model: Any,
    base_dir: Path,
    config: GeneratorTrainingConfig,
    rows: list[EncodedExample],
    progress: bool,
) -> tuple[PromptReader, str]:
    """Passages as blocks when every prompt has them after the same rules and the model's
    keys can be moved; otherwise (or when asked) prompts read whole."""
    first = _first_trainable(model, config)
    if config.passages_as_blocks:
        rules = _shared_rules(rows)
        rotary = model_rotary(model, base_dir)
        if rules and rotary is not None:
            return PassageBlocks(
                FrozenPrefix(model, first, rules), rotary, rows, progress
            ), "blocks"
        if progress:
            tqdm.write("prompts are read whole: not every prompt has passages after the same rules")
    frozen = FrozenPrefix(model, first, _shared_prompt(rows))
    reader = WholePrompts(frozen, rows, progress, prompt_gradients=config.prompt_gradients)
    return reader, "whole"


def _shared_rules(rows: list[EncodedExample]) -> list[int]:
    """The rules every prompt's passages follow, or [] when some prompt has other rules (a
    prompt in another language) or no passages."""
    layouts = [row.layout for row in rows]
    if not all(layout and layout.blocks for layout in layouts):
        return []
    ends = {layout.rules_end for layout in layouts if layout}
    rules = rows[0].input_ids[: min(ends)]
    if len(ends) != 1 or any(row.input_ids[: len(rules)] != rules for row in rows):
        return []
    return rules


def _shared_prompt(rows: list[EncodedExample]) -> list[int]:
    """The token prefix every prompt starts with (the fixed rules), short of any answer."""
    prompt_lengths = [row.prompt_length for row in rows]
    length = min(common_prefix_length([row.input_ids for row in rows]), min(prompt_lengths) - 1)
    return rows[0].input_ids[: max(length, 0)]


def _first_trainable(model: Any, config: GeneratorTrainingConfig) -> int:
    return max(0, model.config.num_hidden_layers - config.trainable_layers)


def make_trainable(model: Any, config: GeneratorTrainingConfig) -> Any:
    top = list(range(_first_trainable(model, config), model.config.num_hidden_layers))
    if config.method == "lora":
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(
            r=config.lora_rank,
            lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout,
            target_modules=LORA_TARGETS,
            layers_to_transform=top,
            task_type="CAUSAL_LM",
        )
        return get_peft_model(model, lora)
    for parameter in model.parameters():
        parameter.requires_grad = False
    for index in top:
        for parameter in model.model.layers[index].parameters():
            parameter.requires_grad = True
    for parameter in model.model.norm.parameters():
        parameter.requires_grad = True
    return model


def _eval_loss(
    model: Any, reader: PromptReader, rows: list[EncodedExample], indices: list[int]
) -> float:
    """Mean loss per answer token over the examples at ``indices``."""
    import torch

    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        step = reader.step(indices)
        for index in indices:
            answer_tokens = rows[index].answer_tokens
            total += step.loss(index).item() * answer_tokens
            count += answer_tokens
    return total / max(count, 1)


def _save(model: Any, tokenizer: Any, directory: Path, config: GeneratorTrainingConfig) -> None:
    """LoRA: the adapter in ``directory``; full weights: the model in ``directory/merged``."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory if config.method == "lora" else directory / "merged"
    model.save_pretrained(target, safe_serialization=True)
    if config.method == "full":
        tokenizer.save_pretrained(target)


def _merge(base_dir: Path, adapter_dir: Path, tokenizer: Any) -> Path:
    """Fold the saved (best) adapter into the base weights: a plain model, no peft at load."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    merged = PeftModel.from_pretrained(base, adapter_dir).merge_and_unload()
    target = adapter_dir / "merged"
    merged.save_pretrained(target, safe_serialization=True)
    tokenizer.save_pretrained(target)
    return target

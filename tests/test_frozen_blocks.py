"""Training reads passages as blocks exactly as serving does, and shares them within a step."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from bot.generation.block_reuse import PromptLayout
from bot.generation.torch_passages import model_rotary, read_passages
from tests.tiny_lm import build_tiny_lm, needs_generator_base
from training.frozen_blocks import PassageBlocks
from training.frozen_layers import IGNORED, EncodedExample, FrozenPrefix

pytestmark = needs_generator_base

RULES = [5, 9, 14, 3]
PASSAGE_A = [40, 41, 42]
PASSAGE_B = [50, 51]
MARK = [7]


def _model(tmp_path: Path) -> tuple[torch.nn.Module, Path]:
    from transformers import AutoModelForCausalLM

    directory = build_tiny_lm(tmp_path / "lm")
    model = AutoModelForCausalLM.from_pretrained(directory)
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad = False
    for parameter in model.model.layers[-1].parameters():
        parameter.requires_grad = True
    return model, directory


def _example(blocks: list[list[int]], conversation: list[int], answer: list[int]) -> EncodedExample:
    ids, spans = list(RULES), []
    for block in blocks:
        spans.append((len(ids), len(ids) + len(block)))
        ids += block
    prompt = ids + conversation
    return EncodedExample(
        input_ids=prompt + answer,
        labels=[IGNORED] * len(prompt) + answer,
        layout=PromptLayout(len(RULES), tuple(spans)),
    )


def _served_loss(model: torch.nn.Module, directory: Path, row: EncodedExample) -> float:
    """The answer loss with the passages read by serving's torch reader."""
    layout = row.layout
    assert layout is not None
    rotary = model_rotary(model, directory)
    assert rotary is not None
    with torch.no_grad():
        cache = read_passages(model, row.input_ids, layout, rotary)
        after = row.input_ids[layout.passages_end :]
        logits = model(input_ids=torch.tensor([after]), cache=cache).logits[0]
    labels = row.labels[layout.passages_end :]
    keep = [i for i in range(len(after) - 1) if labels[i + 1] != IGNORED]
    targets = torch.tensor([labels[i + 1] for i in keep])
    return torch.nn.functional.cross_entropy(logits[keep], targets).item()


def _reader(model: torch.nn.Module, directory: Path, rows: list[EncodedExample]) -> PassageBlocks:
    rotary = model_rotary(model, directory)
    assert rotary is not None
    return PassageBlocks(FrozenPrefix(model, 1, RULES), rotary, rows)


def test_the_training_loss_is_the_loss_of_the_prompt_as_serving_reads_it(tmp_path: Path) -> None:
    model, directory = _model(tmp_path)
    rows = [
        _example([PASSAGE_A, MARK, PASSAGE_B], [60, 61], [22, 8, 11]),
        _example([PASSAGE_B, MARK, PASSAGE_A], [62], [23, 9]),  # the same passages, other ranks
    ]
    reader = _reader(model, directory, rows)
    assert reader.distinct_blocks == 3  # each passage and the mark read once for both
    with torch.no_grad():
        step = reader.step([0, 1])
        for index, row in enumerate(rows):
            assert step.loss(index).item() == pytest.approx(
                _served_loss(model, directory, row), rel=1e-5
            )


def test_a_passage_shared_in_a_step_gives_the_gradients_of_separate_steps(tmp_path: Path) -> None:
    model, directory = _model(tmp_path)
    rows = [
        _example([PASSAGE_A, MARK, PASSAGE_B], [60, 61], [22, 8, 11]),
        _example([PASSAGE_A], [63, 64], [24, 10]),
    ]
    reader = _reader(model, directory, rows)
    trainable = [p for p in model.parameters() if p.requires_grad]
    for index in (0, 1):  # each example in a step of its own
        step = reader.step([index])
        step.loss(index).backward()
        step.backward()
    expected = [p.grad.clone() for p in trainable]
    model.zero_grad()
    step = reader.step([0, 1])  # passage A and the rules run once for both
    for index in (0, 1):
        step.loss(index).backward()
    step.backward()
    for got, want in zip(trainable, expected, strict=True):
        assert want.abs().sum() > 0
        torch.testing.assert_close(got.grad, want, rtol=1e-4, atol=1e-6)


def test_steps_put_examples_showing_the_same_passages_together(tmp_path: Path) -> None:
    model, directory = _model(tmp_path)
    passage_c, passage_d = [70, 71, 72, 73], [80, 81, 82, 83, 84]
    rows = [
        _example([PASSAGE_A], [60], [22]),
        _example([passage_c], [61], [23]),
        _example([PASSAGE_A, MARK, PASSAGE_B], [62], [24]),
        _example([passage_d], [63], [25]),
        _example([passage_c, MARK, passage_d], [64], [26]),
        _example([passage_d, MARK, passage_c], [65], [27]),
    ]
    reader = _reader(model, directory, rows)
    for seed in range(5):
        steps = reader.steps(range(len(rows)), 2, random.Random(seed))
        assert sorted(i for step in steps for i in step) == list(range(len(rows)))
        assert [0, 2] in [sorted(step) for step in steps]  # the only two that show A


def test_prompts_that_do_not_follow_the_rules_are_refused(tmp_path: Path) -> None:
    model, directory = _model(tmp_path)
    other_rules = _example([PASSAGE_A], [60], [22])
    other_rules.input_ids[0] = 6
    with pytest.raises(ValueError, match="do not follow the shared rules"):
        _reader(model, directory, [other_rules])
    no_passages = EncodedExample([*RULES, 60, 22], [IGNORED] * 5 + [22], None)
    with pytest.raises(ValueError, match="without passage blocks"):
        _reader(model, directory, [no_passages])

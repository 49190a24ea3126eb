"""Training on cached frozen-layer outputs computes the same loss and gradients as the full model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.tiny_lm import build_tiny_lm, needs_generator_base
from training.frozen_layers import (
    EncodedExample,
    FrozenPrefix,
    WholePrompts,
    common_prefix_length,
)

pytestmark = needs_generator_base


def _model(tmp_path: Path) -> torch.nn.Module:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(build_tiny_lm(tmp_path / "lm"))
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad = False
    for parameter in model.model.layers[-1].parameters():
        parameter.requires_grad = True
    return model


def test_cached_prefix_gives_the_full_models_answer_loss_and_gradients(tmp_path: Path) -> None:
    model = _model(tmp_path)
    frozen = FrozenPrefix(model, len(model.model.layers) - 1)
    ids = [5, 9, 14, 3, 7, 22, 8, 11]
    labels = [-100, -100, -100, -100, -100, 22, 8, 11]  # the prompt is masked out
    full = model(input_ids=torch.tensor([ids]), labels=torch.tensor([labels])).loss
    full.backward()
    expected = [p.grad.clone() for p in model.model.layers[-1].parameters()]
    model.zero_grad()
    cached = frozen.answer_loss(frozen.hidden_states(ids), labels)
    cached.backward()
    assert cached.item() == pytest.approx(full.item(), rel=1e-5)
    for got, want in zip(model.model.layers[-1].parameters(), expected, strict=True):
        torch.testing.assert_close(got.grad, want, rtol=1e-4, atol=1e-5)
    # The frozen layers are back in place after each step: saving writes the real model.
    assert all(type(layer).__name__ != "_PassThrough" for layer in model.model.layers)


def test_a_shared_prompt_prefix_computed_once_gives_each_examples_loss_and_the_summed_gradients(
    tmp_path: Path,
) -> None:
    model = _model(tmp_path)
    prompt = [5, 9, 14, 3, 7]
    examples = [
        (prompt + [40, 41, 22, 8], [-100] * 7 + [22, 8]),
        (prompt + [33, 12, 11, 6, 19], [-100] * 7 + [11, 6, 19]),
    ]
    assert common_prefix_length([ids for ids, _ in examples]) == len(prompt)
    full_losses = []
    for ids, labels in examples:
        loss = model(input_ids=torch.tensor([ids]), labels=torch.tensor([labels])).loss
        loss.backward()
        full_losses.append(loss.item())
    expected = [p.grad.clone() for p in model.model.layers[-1].parameters()]
    model.zero_grad()

    frozen = FrozenPrefix(model, len(model.model.layers) - 1, shared_ids=prompt)
    shared = frozen.shared_prefix()
    assert shared is not None and shared.length == len(prompt)
    for (ids, labels), want in zip(examples, full_losses, strict=True):
        hidden = frozen.hidden_states(ids)
        assert hidden.shape[1] == len(ids) - len(prompt)  # only the tokens after the prefix
        loss = frozen.answer_loss(hidden, labels, shared)
        loss.backward()
        assert loss.item() == pytest.approx(want, rel=1e-5)
    shared.backward()  # the prefix's share of the gradients, once for both examples
    for got, want in zip(model.model.layers[-1].parameters(), expected, strict=True):
        torch.testing.assert_close(got.grad, want, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="shared prompt prefix"):
        frozen.hidden_states([5, 9, 99, 3, 7, 1])


def test_an_example_without_answer_tokens_is_refused(tmp_path: Path) -> None:
    model = _model(tmp_path)
    frozen = FrozenPrefix(model, 1)
    with pytest.raises(ValueError, match="without answer tokens"):
        frozen.answer_loss(frozen.hidden_states([1, 2, 3]), [-100, -100, -100])
    with pytest.raises(ValueError, match="out of range"):
        FrozenPrefix(model, len(model.model.layers))


def test_a_prompt_read_without_gradients_learns_through_the_answer_tokens_only(
    tmp_path: Path,
) -> None:
    from transformers import DynamicCache

    model = _model(tmp_path)
    prompt = [5, 9, 14, 3, 7]
    rows = [
        EncodedExample(prompt + [40, 41, 22, 8], [-100] * 7 + [22, 8]),
        EncodedExample(prompt + [33, 12, 11, 6, 19], [-100] * 7 + [11, 6, 19]),
    ]
    # The reference: the full model reads each prompt (all but its last token) without
    # gradients, then the rest with them.
    losses = []
    for row in rows:
        read = row.prompt_length - 1
        cache = DynamicCache()
        with torch.no_grad():
            model(input_ids=torch.tensor([row.input_ids[:read]]), cache=cache, use_cache=True)
        logits = model(input_ids=torch.tensor([row.input_ids[read:]]), cache=cache).logits
        loss = torch.nn.functional.cross_entropy(
            logits[0, :-1], torch.tensor(row.labels[read + 1 :])
        )
        loss.backward()
        losses.append(loss.item())
    expected = [p.grad.clone() for p in model.model.layers[-1].parameters()]
    model.zero_grad()

    frozen = FrozenPrefix(model, len(model.model.layers) - 1, shared_ids=prompt)
    reader = WholePrompts(frozen, rows, progress=False, prompt_gradients=False)
    step = reader.step([0, 1])
    for index, want in enumerate(losses):
        loss = step.loss(index)
        loss.backward()
        assert loss.item() == pytest.approx(want, rel=1e-5)
    step.backward()  # nothing flows into the shared prefix
    for got, want in zip(model.model.layers[-1].parameters(), expected, strict=True):
        torch.testing.assert_close(got.grad, want, rtol=1e-4, atol=1e-5)

"""Training on cached frozen-layer outputs computes the same loss and gradients as the full model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.tiny_lm import build_tiny_lm, needs_generator_base
from training.frozen_layers import FrozenPrefix

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


def test_an_example_without_answer_tokens_is_refused(tmp_path: Path) -> None:
    model = _model(tmp_path)
    frozen = FrozenPrefix(model, 1)
    with pytest.raises(ValueError, match="without answer tokens"):
        frozen.answer_loss(frozen.hidden_states([1, 2, 3]), [-100, -100, -100])
    with pytest.raises(ValueError, match="out of range"):
        FrozenPrefix(model, len(model.model.layers))

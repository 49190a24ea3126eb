"""Run a causal LM's frozen bottom layers once per example, and the loss on answer tokens only.

Fine-tuning changes only the top ``trainable_layers`` decoder layers, so what the layers below
them compute for an example is the same in every epoch and every evaluation. It is computed
once and kept; each later step feeds it to the first trainable layer (as ``inputs_embeds``,
with the frozen layers swapped for pass-throughs) and runs only the top of the model.
The vocabulary projection (49k x 576 per position in SmolLM2) is applied only where an
answer token is predicted, not to the prompt positions whose labels are masked out anyway.

Every training prompt also opens with the same tokens (the fixed rules, about a third of a
prompt). Attention is causal, so what any layer computes for them does not depend on the
example: the frozen layers run them once for the whole run, and the trainable layers once
per optimizer step (``SharedPrefix``), each example of the step attending to their keys and
values, with a single backward pass through them for the whole step.

With ``prompt_gradients=False`` the trainable layers read each prompt without gradients and
learn only through the answer's tokens (the rules' and passages' keys and values are taken
as they are). A training step then costs about two thirds; the gradient is the full one's
direction within a cosine of ~0.87 on the demo set (README).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from tqdm import tqdm

from bot.generation.block_reuse import PromptLayout
from bot.generation.kept_prompts import common_prefix

IGNORED = -100

KeysValues = list[tuple[Any, Any]]  # per layer: (keys, values), each (1, heads, tokens, dim)


@dataclass(frozen=True)
class EncodedExample:
    """Prompt and answer token ids; the prompt is masked out of ``labels`` (``IGNORED``)."""

    input_ids: list[int]
    labels: list[int]
    layout: PromptLayout | None = None  # where the prompt's passages lie, if it has any

    @property
    def prompt_length(self) -> int:
        return next(i for i, label in enumerate(self.labels) if label != IGNORED)

    @property
    def answer_tokens(self) -> int:
        return sum(1 for label in self.labels[1:] if label != IGNORED)


class _StopForward(Exception):
    """Raised by a hook once the frozen layers' output is captured: the rest is not needed."""


def decoder_stack(model: Any) -> Any:
    """The module holding ``embed_tokens`` and ``layers`` inside a (peft-wrapped) causal LM."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    return inner.model


def common_prefix_length(sequences: Sequence[Sequence[int]]) -> int:
    """Length of the token prefix every sequence starts with."""
    if not sequences:
        return 0
    return min(common_prefix(sequences[0], other) for other in sequences)


class SharedPrefix:
    """The shared prompt prefix's keys and values in every layer, for one optimizer step.

    The trainable layers' part is computed once with gradients; examples attend to detached
    copies of it, whose gradients ``backward`` then sends through the prefix in one pass.
    """

    def __init__(self, frozen: KeysValues, computed: KeysValues) -> None:
        self.frozen = frozen
        self.computed = computed
        self.leaves = [
            (k.detach().requires_grad_(k.requires_grad), v.detach().requires_grad_(v.requires_grad))
            for k, v in computed
        ]

    @property
    def length(self) -> int:
        return int(self.leaves[0][0].shape[-2])

    def cache(self) -> Any:
        """A fresh cache holding the prefix (each example's forward appends its own tokens)."""
        from transformers import DynamicCache

        return DynamicCache(ddp_cache_data=[*self.frozen, *self.leaves])

    def backward(self) -> None:
        """Carry the examples' gradients on the prefix's keys and values into the weights."""
        outputs, grads = [], []
        for computed, leaf in zip(self.computed, self.leaves, strict=True):
            for tensor, copy in zip(computed, leaf, strict=True):
                if copy.grad is not None:
                    outputs.append(tensor)
                    grads.append(copy.grad)
        if outputs:
            torch.autograd.backward(outputs, grads)


class FrozenPrefix:
    """Hidden states entering layer ``first_trainable`` for each example, computed once.

    With ``shared_ids`` (the token prefix every prompt starts with) the cached states are
    those of the tokens after it, and the prefix itself is computed once (see module doc).
    """

    def __init__(self, model: Any, first_trainable: int, shared_ids: Sequence[int] = ()) -> None:
        self.model = model
        self.first_trainable = first_trainable
        self.stack = decoder_stack(model)
        if not 0 <= first_trainable < len(self.stack.layers):
            raise ValueError(f"first trainable layer {first_trainable} is out of range")
        self.shared_ids = list(shared_ids)
        self._shared_hidden: Any = None
        self._shared_frozen: KeysValues = []
        if self.shared_ids:
            self._shared_hidden, self._shared_frozen = self.run_frozen(self.shared_ids, None)

    @property
    def shared_frozen(self) -> KeysValues:
        """The frozen layers' keys and values of the shared prefix."""
        return self._shared_frozen

    def hidden_states(self, input_ids: Sequence[int]) -> Any:
        """What the frozen layers pass on for ``input_ids`` (after the shared prefix)."""
        ids = list(input_ids)
        shared = len(self.shared_ids)
        if ids[:shared] != self.shared_ids or len(ids) <= shared:
            raise ValueError("the example does not continue the shared prompt prefix")
        hidden, _ = self.run_frozen(ids[shared:], self._shared_frozen if shared else None)
        return hidden

    def run_frozen(self, ids: list[int], past: KeysValues | None) -> tuple[Any, KeysValues]:
        """The frozen layers' output for ``ids`` after ``past`` (their keys and values), and
        their keys and values with those of ``ids`` appended."""
        from transformers import DynamicCache

        tensor = torch.tensor([ids])
        if self.first_trainable == 0:
            with torch.no_grad():
                return self.stack.embed_tokens(tensor), []
        captured: list[Any] = []

        def capture(_module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            captured.append(args[0] if args else kwargs["hidden_states"])
            raise _StopForward

        cache = DynamicCache(ddp_cache_data=past) if past else DynamicCache()
        hook = self.stack.layers[self.first_trainable].register_forward_pre_hook(
            capture, with_kwargs=True
        )
        try:
            with torch.no_grad():  # not inference_mode: these tensors feed autograd later
                self.stack(input_ids=tensor, cache=cache, use_cache=True)
        except _StopForward:
            pass
        finally:
            hook.remove()
        frozen = [(layer.keys, layer.values) for layer in cache.layers[: self.first_trainable]]
        return captured[0].detach(), frozen

    def shared_prefix(self) -> SharedPrefix | None:
        """The prefix through the trainable layers (with gradients unless under no_grad)."""
        if not self.shared_ids:
            return None
        from transformers import DynamicCache

        cache = DynamicCache()
        with self.skipping_frozen_layers():
            self.stack(inputs_embeds=self._shared_hidden, cache=cache, use_cache=True)
        computed = [(layer.keys, layer.values) for layer in cache.layers[self.first_trainable :]]
        return SharedPrefix(self._shared_frozen, computed)

    def prompt_cache(self, hidden: Any, shared: SharedPrefix | None) -> Any:
        """A cache holding the trainable layers' keys and values for the shared prefix and
        then ``hidden`` (a prompt's tokens after it, as the frozen layers pass them on),
        computed without gradients: the prompt is read, not learned through."""
        from transformers import DynamicCache

        before = shared.length if shared is not None else 0
        trainable = [(k.detach(), v.detach()) for k, v in shared.leaves] if shared else []
        cache = DynamicCache(ddp_cache_data=[*self._placeholders(before), *trainable])
        if hidden.shape[1]:  # nothing between the shared prefix and the answer: nothing to read
            with torch.no_grad(), self.skipping_frozen_layers():
                self.stack(inputs_embeds=hidden, cache=cache, use_cache=True)
        # The pass-throughs never read their cache entries, but the attention mask is sized
        # from the first layer's: they must grow with the prompt.
        for layer, (keys, values) in zip(
            cache.layers, self._placeholders(before + hidden.shape[1]), strict=False
        ):
            layer.keys, layer.values = keys, values
        return cache

    def _placeholders(self, tokens: int) -> KeysValues:
        """Empty keys and values of ``tokens`` length for each frozen layer."""
        config = self.model.config
        heads = config.num_key_value_heads
        size = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        empty = torch.zeros(1, heads, tokens, size)
        return [(empty, empty) for _ in range(self.first_trainable)]

    @contextmanager
    def skipping_frozen_layers(self) -> Iterator[None]:
        """Within the block the frozen layers pass their input through unchanged."""
        original = self.stack.layers
        passthrough = [_PassThrough() for _ in range(self.first_trainable)]
        self.stack.layers = torch.nn.ModuleList(
            [*passthrough, *list(original)[self.first_trainable :]]
        )
        try:
            yield
        finally:
            self.stack.layers = original

    def answer_loss(
        self, hidden: Any, labels: Sequence[int], shared: SharedPrefix | None = None
    ) -> Any:
        """Mean cross-entropy of the answer tokens, the prompt fed as cached ``hidden``.

        ``labels`` cover the whole sequence; with ``shared`` (from ``shared_prefix``)
        ``hidden`` holds only the tokens after the shared prefix.
        """
        offset = len(self.shared_ids) if shared is not None else 0
        cache = shared.cache() if shared is not None else None
        return self.loss_after(hidden, labels, offset, cache)

    def loss_after(self, hidden: Any, labels: Sequence[int], offset: int, cache: Any) -> Any:
        """Mean cross-entropy of the answer tokens of ``labels[offset:]``, fed as ``hidden``
        after ``cache`` (which holds the ``offset`` tokens before them, or is None)."""
        positions = [i - offset for i in range(len(labels) - 1) if labels[i + 1] != IGNORED]
        if not positions:
            raise ValueError("an example without answer tokens")
        if positions[0] < 0:
            raise ValueError("answer tokens inside the cached part of the prompt")
        keep = torch.tensor(positions)
        targets = torch.tensor([labels[i + 1 + offset] for i in positions])
        with self.skipping_frozen_layers():
            logits = self.model(
                inputs_embeds=hidden,
                cache=cache,
                use_cache=cache is not None,
                logits_to_keep=keep,
            ).logits
        return torch.nn.functional.cross_entropy(logits[0].float(), targets)


class TrainingStep(Protocol):
    """One optimizer step's examples: each one's loss, then the shared parts' gradients."""

    def loss(self, index: int) -> Any: ...

    def backward(self) -> None: ...


class PromptReader(Protocol):
    """How training reads its examples' prompts (whole, or passages as blocks)."""

    def steps(self, indices: Sequence[int], size: int, rng: random.Random) -> list[list[int]]: ...

    def step(self, indices: Sequence[int]) -> TrainingStep: ...


class WholePrompts:
    """Each prompt read whole after the shared prefix; its frozen-layer output kept. With
    ``prompt_gradients`` the trainable layers learn through the prompt too, else through
    the answer's tokens only."""

    def __init__(
        self,
        frozen: FrozenPrefix,
        rows: Sequence[EncodedExample],
        progress: bool,
        *,
        prompt_gradients: bool,
    ) -> None:
        self.frozen = frozen
        self.rows = rows
        self.prompt_gradients = prompt_gradients
        self.hidden = [
            frozen.hidden_states(row.input_ids)
            for row in tqdm(rows, desc="frozen layers", disable=not progress)
        ]

    def steps(self, indices: Sequence[int], size: int, rng: random.Random) -> list[list[int]]:
        order = list(indices)
        rng.shuffle(order)
        return [order[start : start + size] for start in range(0, len(order), size)]

    def step(self, indices: Sequence[int]) -> TrainingStep:
        if self.prompt_gradients:
            return _WholeStep(self, self.frozen.shared_prefix())
        with torch.no_grad():
            return _WholeStep(self, self.frozen.shared_prefix())


class _WholeStep:
    def __init__(self, reader: WholePrompts, shared: SharedPrefix | None) -> None:
        self.reader = reader
        self.shared = shared

    def loss(self, index: int) -> Any:
        row, hidden = self.reader.rows[index], self.reader.hidden[index]
        frozen = self.reader.frozen
        if self.reader.prompt_gradients:
            return frozen.answer_loss(hidden, row.labels, self.shared)
        offset = self.shared.length if self.shared is not None else 0
        # The prompt's last token predicts the answer's first: it runs with the answer.
        read = row.prompt_length - 1 - offset
        cache = frozen.prompt_cache(hidden[:, :read], self.shared)
        return frozen.loss_after(hidden[:, read:], row.labels, offset + read, cache)

    def backward(self) -> None:
        if self.shared is not None:
            self.shared.backward()


class _PassThrough(torch.nn.Module):
    """Stands in for a frozen layer whose output is already in the cached hidden states."""

    def forward(self, hidden_states: Any, *args: Any, **kwargs: Any) -> Any:
        return hidden_states

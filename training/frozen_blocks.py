"""Train on prompts read the way serving reads them: each passage as a block after the rules.

Serving reads every retrieved passage (and every "[2]" mark) as if it stood right after the
fixed rules, attending to the rules and to itself only, and then moves its keys to where it
lies in the prompt (``bot.generation.block_reuse``); the conversation after the passages
attends to everything. Training reads its prompts the same way, so the model learns from the
attention pattern it answers with.

It is also cheaper than reading prompts whole. A block's frozen-layer output depends on its own
tokens alone, so the frozen layers run once per distinct passage in the data, not once per
example that shows it. Within an optimizer step, a passage that several examples show runs
through the trainable layers once, and ``steps`` puts examples that show the same passages in
the same step. Each example then computes only its conversation and answer.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from tqdm import tqdm

from bot.generation.block_reuse import Rotary
from training.frozen_layers import (
    EncodedExample,
    FrozenPrefix,
    KeysValues,
    SharedPrefix,
    TrainingStep,
)


def shifted(keys: Any, delta: int, rotary: Rotary) -> Any:
    """``keys`` (last axes: positions, head dimensions) moved ``delta`` positions later; the
    torch twin of ``Rotary.shift``, so gradients flow through the move."""
    if delta == 0:
        return keys
    cos, sin = (torch.from_numpy(part) for part in rotary.turn(delta))
    first, second = keys[..., : rotary.half], keys[..., rotary.half :]
    return torch.cat([first * cos - second * sin, second * cos + first * sin], dim=-1)


@dataclass(frozen=True)
class _Placed:
    block: int  # index among the distinct blocks
    start: int  # where it lies in the prompt


@dataclass(frozen=True)
class _BlockExample:
    row: EncodedExample
    placed: tuple[_Placed, ...]
    passages_end: int
    hidden: Any  # the frozen layers' output for the tokens after the passages


class PassageBlocks:
    """The examples' prompts as shared rules, passage blocks and a conversation (module doc).

    ``frozen.shared_ids`` must be the rules: every example's layout starts its first block
    right after them.
    """

    def __init__(
        self,
        frozen: FrozenPrefix,
        rotary: Rotary,
        rows: Sequence[EncodedExample],
        progress: bool = False,
    ) -> None:
        self.frozen = frozen
        self.rotary = rotary
        self.rules_end = len(frozen.shared_ids)
        if not self.rules_end:
            raise ValueError("passage blocks are read after the rules: no shared rules given")
        self._index: dict[tuple[int, ...], int] = {}
        self._hidden: list[Any] = []  # per distinct block: frozen-layer output
        self._frozen_kv: list[KeysValues] = []  # per distinct block, as read after the rules
        self._lengths: list[int] = []
        self.examples = [
            self._example(row) for row in tqdm(rows, desc="frozen layers", disable=not progress)
        ]

    @property
    def distinct_blocks(self) -> int:
        return len(self._hidden)

    def _example(self, row: EncodedExample) -> _BlockExample:
        layout = row.layout
        ids = row.input_ids
        if layout is None or not layout.blocks:
            raise ValueError("an example without passage blocks")
        if layout.rules_end != self.rules_end or ids[: self.rules_end] != self.frozen.shared_ids:
            raise ValueError("the example's passages do not follow the shared rules")
        if row.prompt_length <= layout.passages_end:
            raise ValueError("the example's answer starts inside its passages")
        placed = tuple(_Placed(self._block(ids[start:end]), start) for start, end in layout.blocks)
        past = [
            self.placed_keys_values(
                layer, self.frozen.shared_frozen[layer], placed, self._frozen_kv
            )
            for layer in range(self.frozen.first_trainable)
        ]
        hidden, _ = self.frozen.run_frozen(ids[layout.passages_end :], past)
        return _BlockExample(row, placed, layout.passages_end, hidden)

    def _block(self, ids: list[int]) -> int:
        key = tuple(ids)
        if key not in self._index:
            hidden, kv = self.frozen.run_frozen(ids, self.frozen.shared_frozen)
            start = self.rules_end
            self._index[key] = len(self._hidden)
            self._hidden.append(hidden)
            self._frozen_kv.append([(k[:, :, start:], v[:, :, start:]) for k, v in kv])
            self._lengths.append(len(ids))
        return self._index[key]

    def placed_keys_values(
        self,
        layer: int,
        rules: tuple[Any, Any],
        placed: Sequence[_Placed],
        blocks: Mapping[int, KeysValues] | Sequence[KeysValues],
    ) -> tuple[Any, Any]:
        """One layer's keys and values for the rules, then each block moved to its place;
        ``blocks[i][layer]`` holds block ``i``'s pair as read right after the rules."""
        keys, values = [rules[0]], [rules[1]]
        for place in placed:
            block_keys, block_values = blocks[place.block][layer]
            keys.append(shifted(block_keys, place.start - self.rules_end, self.rotary))
            values.append(block_values)
        return torch.cat(keys, dim=2), torch.cat(values, dim=2)

    def steps(self, indices: Sequence[int], size: int, rng: random.Random) -> list[list[int]]:
        """Steps of ``size`` examples; each step grows from a random example by the examples
        that share the most passage tokens with it, so shared passages are computed once."""
        blocks = {i: {p.block for p in self.examples[i].placed} for i in indices}
        remaining = list(indices)
        rng.shuffle(remaining)
        steps = []
        while remaining:
            step = [remaining.pop()]
            shown = set(blocks[step[0]])
            while len(step) < size and remaining:
                shared = [sum(self._lengths[b] for b in blocks[i] & shown) for i in remaining]
                pick = remaining.pop(shared.index(max(shared)))
                step.append(pick)
                shown |= blocks[pick]
            steps.append(step)
        rng.shuffle(steps)
        return steps

    def step_tokens(self, indices: Sequence[int]) -> int:
        """Passage tokens a step of these examples runs through the trainable layers."""
        blocks = {place.block for i in indices for place in self.examples[i].placed}
        return sum(self._lengths[block] for block in blocks)

    def step(self, indices: Sequence[int]) -> TrainingStep:
        rules = self.frozen.shared_prefix()
        assert rules is not None  # the constructor requires shared rules
        needed = sorted({p.block for i in indices for p in self.examples[i].placed})
        return _BlockStep(
            self, rules, {block: self._through_trainable(rules, block) for block in needed}
        )

    def _through_trainable(self, rules: SharedPrefix, block: int) -> SharedPrefix:
        """The block read after the rules by the trainable layers (with gradients unless
        under no_grad); examples attend to detached copies, as to the rules."""
        cache = rules.cache()
        with self.frozen.skipping_frozen_layers():
            self.frozen.stack(inputs_embeds=self._hidden[block], cache=cache, use_cache=True)
        start, first = self.rules_end, self.frozen.first_trainable
        computed = [
            (layer.keys[:, :, start:], layer.values[:, :, start:]) for layer in cache.layers[first:]
        ]
        return SharedPrefix(self._frozen_kv[block], computed)


class _BlockStep:
    def __init__(
        self, reader: PassageBlocks, rules: SharedPrefix, blocks: dict[int, SharedPrefix]
    ) -> None:
        self.reader = reader
        self.rules = rules
        self.blocks = blocks

    def loss(self, index: int) -> Any:
        from transformers import DynamicCache

        reader = self.reader
        example = reader.examples[index]
        first = reader.frozen.first_trainable
        # The frozen layers are passed through here: their cache entries only carry the
        # prompt's length (for positions and the mask), so a 1-wide stand-in will do.
        stand_in = torch.zeros(1, 1, example.passages_end, 1)
        trainable = {block: part.leaves for block, part in self.blocks.items()}
        layers = [(stand_in, stand_in)] * first + [
            reader.placed_keys_values(layer, self.rules.leaves[layer], example.placed, trainable)
            for layer in range(len(self.rules.leaves))
        ]
        cache = DynamicCache(ddp_cache_data=layers)
        return reader.frozen.loss_after(
            example.hidden, example.row.labels, example.passages_end, cache
        )

    def backward(self) -> None:
        # Blocks first: their gradients reach the rules' copies, which then go back at once.
        for block in self.blocks.values():
            block.backward()
        self.rules.backward()

"""Passage blocks put into an ONNX decoder state from what was read before (``block_reuse``).

A block is read once, after the rules alone, in a state kept per rules prefix (one per
answer language); its keys and values are kept in the ``BlockCache`` and copied into every
later prompt that shows it, keys rotated to the block's place there.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from pathlib import Path

import numpy as np

from bot.generation.block_reuse import BlockCache, BlockKeysValues, PromptLayout, Rotary
from bot.generation.ort_decoder import DecoderState, OrtDecoder

logger = logging.getLogger(__name__)

# Rules prefixes (one per answer language) whose computed state is kept to read blocks after.
KEPT_RULES = 4


def checked_rotary(decoder: OrtDecoder, model_dir: Path) -> Rotary | None:
    """The key rotation of the model in ``model_dir``, if it moves the export's keys
    exactly; else None (passages are then read with ordinary attention), with a warning."""
    try:
        rotary = Rotary.from_model_config(model_dir, decoder.shape.head_size)
    except Exception as exc:  # noqa: BLE001 - any unreadable config: no reuse
        logger.warning("passage blocks will not be reused: %s", exc)
        return None
    # The first layer's keys depend only on each token and its position.
    tokens, offset = [11, 12, 13, 14], 5
    alone, after = decoder.new_state(16), decoder.new_state(16)
    decoder.append(alone, tokens)
    decoder.append(after, [10] * offset + tokens)
    moved = rotary.shift(alone.keys[0][0, :, : len(tokens)], offset)
    expected = after.keys[0][0, :, offset : offset + len(tokens)]
    if not np.allclose(moved, expected, rtol=1e-3, atol=1e-3 * float(np.abs(expected).max())):
        logger.warning("this export's keys do not move by rotation: blocks are not reused")
        return None
    return rotary


class PassageReader:
    def __init__(
        self, decoder: OrtDecoder, rotary: Rotary, blocks: BlockCache, *, context_tokens: int
    ) -> None:
        self.decoder = decoder
        self.rotary = rotary
        self.blocks = blocks
        self.context_tokens = context_tokens
        self._after_rules: OrderedDict[tuple[int, ...], DecoderState] = OrderedDict()

    def place(
        self, state: DecoderState, input_ids: list[int], layout: PromptLayout, shared: int
    ) -> int:
        """Write the rules and every passage block ``state`` lacks; the tokens it now holds.

        ``shared`` tokens are already right: a block wholly inside them was placed by an
        earlier prompt with the same tokens there.
        """
        rules = tuple(input_ids[: layout.rules_end])
        after_rules = self._state_after(rules, room=len(input_ids) - len(rules))
        if shared < len(rules):
            for mine, theirs in zip(
                (*state.keys, *state.values), (*after_rules.keys, *after_rules.values), strict=True
            ):
                mine[0, :, : len(rules)] = theirs[0, :, : len(rules)]
        for start, end in layout.blocks:
            if end <= shared:
                continue
            block = tuple(input_ids[start:end])
            read = self.blocks.get(rules, block) or self._read(after_rules, rules, block)
            keys = self.rotary.shift(read.keys, start - len(rules))
            for layer in range(len(state.keys)):
                state.keys[layer][0, :, start:end] = keys[layer]
                state.values[layer][0, :, start:end] = read.values[layer]
        state.set_length(layout.passages_end)
        return layout.passages_end

    def read_ahead(self, input_ids: list[int], layout: PromptLayout) -> bool:
        """Read the blocks of ``input_ids`` not yet kept, before a question shows them;
        False (nothing more read) once one would not fit the cache without dropping others."""
        rules = tuple(input_ids[: layout.rules_end])
        after_rules = self._state_after(rules, room=len(input_ids) - len(rules))
        per_token = self.decoder.shape.bytes_per_token
        for start, end in layout.blocks:
            block = tuple(input_ids[start:end])
            if self.blocks.contains(rules, block):
                continue
            if self.blocks.bytes + len(block) * per_token > self.blocks.max_bytes:
                return False
            self._read(after_rules, rules, block)
        return True

    def forget(self) -> None:
        """Drop the kept rules states (the block cache is the caller's)."""
        self._after_rules.clear()

    def _state_after(self, rules: tuple[int, ...], room: int) -> DecoderState:
        """A state holding the rules with ``room`` tokens after them, to read blocks in."""
        state = self._after_rules.get(rules)
        if state is None or state.capacity < len(rules) + room:
            state = self.decoder.new_state(max(self.context_tokens, len(rules) + room))
            self.decoder.append(state, list(rules))
            self._after_rules[rules] = state
            while len(self._after_rules) > KEPT_RULES:
                self._after_rules.popitem(last=False)
        self._after_rules.move_to_end(rules)
        return state

    def _read(
        self, after_rules: DecoderState, rules: tuple[int, ...], block: tuple[int, ...]
    ) -> BlockKeysValues:
        """``block`` read after the rules alone, at the position right after them; kept."""
        start, end = len(rules), len(rules) + len(block)
        after_rules.rewind_to(start)
        self.decoder.append(after_rules, list(block))
        read = BlockKeysValues(
            keys=np.stack([k[0, :, start:end] for k in after_rules.keys]),
            values=np.stack([v[0, :, start:end] for v in after_rules.values]),
        )
        self.blocks.put(rules, block, read)
        return read

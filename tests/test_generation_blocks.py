"""Passages as reusable blocks: where they lie in a prompt, moving keys, the block cache,
and the ONNX decoder's state and config checks (no model needed)."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bot.errors import AssetError, ConfigError
from bot.generation.block_reuse import (
    BlockCache,
    BlockKeysValues,
    PromptLayout,
    Rotary,
    prompt_layout,
)
from bot.generation.ort_decoder import DecoderShape, DecoderState
from bot.generation.prompt import PromptBuilder, PromptPassage, passage_cuts
from bot.generation.types import ChatMessage
from tests.tiny_lm import needs_generator_base, real_generator_dir

RETURNS = PromptPassage("Returns", "Items can be returned within 30 days.", "Policy")
SHIPPING = PromptPassage("Shipping", "Orders ship in two days.", "Delivery")
QUESTION = "how do returns work?"
# What RETURNS then SHIPPING split into: a mark, a passage, a mark, a passage.
BLOCKS = [
    "[1]",
    " Returns - Policy\nItems can be returned within 30 days.",
    "\n\n[2]",
    " Shipping - Delivery\nOrders ship in two days.",
]


def build(passages: list[PromptPassage]) -> tuple[ChatMessage, ...]:
    return PromptBuilder(lambda t: len(t.split())).build(QUESTION, passages).messages


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(real_generator_dir())


def encode(tokenizer: Any, messages: tuple[ChatMessage, ...]) -> list[int]:
    return tokenizer.apply_chat_template(
        [m.as_dict() for m in messages], add_generation_prompt=True, tokenize=True, return_dict=True
    )["input_ids"]


def layout_of(tokenizer: Any, passages: list[PromptPassage]) -> tuple[list[int], PromptLayout]:
    messages = build(passages)
    ids = encode(tokenizer, messages)
    layout = prompt_layout(tokenizer, messages, ids)
    assert layout is not None
    return ids, layout


def test_passage_cuts_split_marks_from_passage_bodies_and_end_at_the_text_end() -> None:
    system = build([RETURNS, SHIPPING])[0].content
    cuts = passage_cuts(system)
    assert [system[a:b] for a, b in pairwise(cuts)] == BLOCKS
    assert system[: cuts[0]].endswith("\nPassages:\n")
    assert cuts[-1] == len(system)


def test_passage_cuts_are_empty_for_the_none_placeholder() -> None:
    system = build([])[0].content
    assert system.endswith("(none)")
    assert passage_cuts(system) == []


def test_passage_cuts_are_empty_without_a_passages_heading() -> None:
    assert passage_cuts("You are a helpful assistant.\n[1] Returns\nItems.") == []


@needs_generator_base
def test_prompt_layout_puts_rules_before_the_first_mark_and_the_question_after(
    tokenizer: Any,
) -> None:
    ids, layout = layout_of(tokenizer, [RETURNS, SHIPPING])
    assert tokenizer.decode(ids[: layout.rules_end]).endswith("Passages:\n")
    assert layout.blocks[0][0] == layout.rules_end
    assert [tokenizer.decode(ids[a:b]) for a, b in layout.blocks] == BLOCKS
    assert all(a == b for (_, a), (b, _) in pairwise(layout.blocks))
    tail = tokenizer.decode(ids[layout.passages_end :])
    assert QUESTION in tail and "Orders ship" not in tail


@needs_generator_base
def test_a_passage_has_the_same_body_tokens_at_rank_one_and_rank_two(tokenizer: Any) -> None:
    ids, layout = layout_of(tokenizer, [RETURNS, SHIPPING])
    start, end = layout.blocks[1]  # mark 1, body 1, mark 2, body 2
    at_rank_one = ids[start:end]
    ids, layout = layout_of(tokenizer, [SHIPPING, RETURNS])
    start, end = layout.blocks[3]
    assert ids[start:end] == at_rank_one
    assert tokenizer.decode(at_rank_one) == BLOCKS[1]


@needs_generator_base
@pytest.mark.parametrize(
    "messages", [build([RETURNS])[1:], build([])], ids=["no system message", "no passages"]
)
def test_prompt_layout_is_none_without_a_system_message_with_passages(
    tokenizer: Any, messages: tuple[ChatMessage, ...]
) -> None:
    assert prompt_layout(tokenizer, messages, encode(tokenizer, messages)) is None


@needs_generator_base
def test_prompt_layout_is_none_when_the_ids_do_not_match_the_text(tokenizer: Any) -> None:
    messages = build([RETURNS, SHIPPING])
    ids = list(encode(tokenizer, messages))
    ids[-3] = ids[-3] + 1
    assert prompt_layout(tokenizer, messages, ids) is None


def random_keys(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((2, 3, 5, 16)).astype(np.float32)


def test_shifts_add_up() -> None:
    rotary, keys = Rotary(16, 10000.0), random_keys()
    combined = rotary.shift(rotary.shift(keys, 7), 12)
    assert np.allclose(combined, rotary.shift(keys, 19), atol=1e-5)


def test_shifting_by_zero_leaves_keys_unchanged_and_other_shifts_change_them() -> None:
    rotary, keys = Rotary(16, 10000.0), random_keys()
    assert np.array_equal(rotary.shift(keys, 0), keys)
    assert not np.allclose(rotary.shift(keys, 3), keys, atol=1e-3)


def test_shifting_keeps_each_key_vectors_norm() -> None:
    rotary, keys = Rotary(16, 10000.0), random_keys()
    norms = np.linalg.norm(rotary.shift(keys, 41), axis=-1)
    assert np.allclose(norms, np.linalg.norm(keys, axis=-1), rtol=1e-5)


def test_a_key_at_position_zero_shifted_by_p_is_the_rope_of_that_key_at_p() -> None:
    head, theta, position = 16, 10000.0, 37
    key = random_keys(1)[0, 0, 0]
    inv_freq = 1.0 / theta ** (np.arange(0, head, 2, dtype=np.float64) / head)
    angles = np.concatenate([position * inv_freq] * 2)
    rotated_half = np.concatenate([-key[head // 2 :], key[: head // 2]])
    expected = key * np.cos(angles) + rotated_half * np.sin(angles)
    assert np.allclose(Rotary(head, theta).shift(key, position), expected, atol=1e-5)


@pytest.mark.parametrize(
    "config",
    [{"rope_parameters": {"rope_theta": 10000.0, "rope_type": "default"}}, {"rope_theta": 10000.0}],
    ids=["rope_parameters", "top-level rope_theta"],
)
def test_rotary_reads_theta_from_the_model_config(tmp_path: Path, config: dict[str, Any]) -> None:
    (tmp_path / "config.json").write_text(json.dumps(config))
    rotary = Rotary.from_model_config(tmp_path, 16)
    assert np.allclose(rotary.inv_freq, Rotary(16, 10000.0).inv_freq)
    assert not np.allclose(rotary.inv_freq, Rotary(16, 500000.0).inv_freq)


def test_scaled_rotary_embeddings_are_refused(tmp_path: Path) -> None:
    rope = {"rope_type": "linear", "rope_theta": 10000.0, "factor": 2.0}
    (tmp_path / "config.json").write_text(json.dumps({"rope_parameters": rope}))
    with pytest.raises(ConfigError):
        Rotary.from_model_config(tmp_path, 16)


def block(tokens: int) -> BlockKeysValues:
    """keys and values of ``tokens`` positions, 4 float32 wide: 32 bytes a token in all."""
    return BlockKeysValues(*(np.zeros((1, 1, tokens, 4), np.float32) for _ in range(2)))


RULES = (1, 2, 3)


def test_a_stored_block_is_a_hit_and_an_unknown_one_a_miss() -> None:
    cache, kv = BlockCache(1000), block(2)
    cache.put(RULES, (10,), kv)
    assert cache.get(RULES, (10,)) is kv
    assert cache.get(RULES, (11, 12, 13)) is None
    assert cache.get((9,), (10,)) is None  # the same block after other rules
    assert (cache.hits, cache.misses) == (1, 2)
    assert (cache.tokens_found, cache.tokens_missed) == (1, 4)  # weighed by block length


def test_over_budget_the_least_recently_used_block_goes_and_get_refreshes_it() -> None:
    assert block(2).nbytes == 64
    cache = BlockCache(3 * 64)
    for token in (10, 11, 12):
        cache.put(RULES, (token,), block(2))
    assert cache.get(RULES, (10,)) is not None  # 11 is now the least recently used
    cache.put(RULES, (13,), block(2))
    assert len(cache) == 3 and cache.bytes == 3 * 64
    assert cache.get(RULES, (11,)) is None
    assert all(cache.get(RULES, (t,)) is not None for t in (10, 12, 13))


def test_a_block_bigger_than_the_budget_is_not_stored() -> None:
    cache = BlockCache(100)
    cache.put(RULES, (10,), block(4))
    assert len(cache) == 0 and cache.bytes == 0
    assert cache.get(RULES, (10,)) is None


def test_putting_a_block_again_replaces_it_without_counting_its_bytes_twice() -> None:
    cache = BlockCache(1000)
    cache.put(RULES, (10,), block(2))
    replacement = block(3)
    cache.put(RULES, (10,), replacement)
    assert len(cache) == 1 and cache.bytes == replacement.nbytes
    assert cache.get(RULES, (10,)) is replacement


def test_clear_empties_the_cache() -> None:
    cache = BlockCache(1000)
    cache.put(RULES, (10,), block(2))
    cache.clear()
    assert len(cache) == 0 and cache.bytes == 0
    assert cache.get(RULES, (10,)) is None


def test_a_negative_cache_size_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        BlockCache(-1)


def state(capacity: int = 8) -> DecoderState:
    zeros = [np.zeros((1, 2, capacity, 4), np.float32) for _ in range(2)]
    return DecoderState(zeros, [z.copy() for z in zeros], np.zeros((1, capacity), np.int64), None)


@pytest.mark.parametrize("length", [-1, 9])
def test_rewinding_outside_the_capacity_is_refused(length: int) -> None:
    with pytest.raises(ValueError):
        state(8).rewind_to(length)


def test_set_length_counts_the_first_positions_and_rewinding_uncounts_the_rest() -> None:
    decoder_state = state(8)
    decoder_state.set_length(5)
    assert decoder_state.mask.tolist() == [[1, 1, 1, 1, 1, 0, 0, 0]]
    assert decoder_state.length == 5
    decoder_state.rewind_to(2)
    assert decoder_state.mask.tolist() == [[1, 1, 0, 0, 0, 0, 0, 0]]
    assert decoder_state.length == 2


@pytest.mark.parametrize("config", [None, {"model": {"type": "llama"}}], ids=["none", "no decoder"])
def test_a_folder_without_a_decoder_genai_config_is_an_asset_error(
    tmp_path: Path, config: dict[str, Any] | None
) -> None:
    if config is not None:
        (tmp_path / "genai_config.json").write_text(json.dumps(config))
    with pytest.raises(AssetError):
        DecoderShape.from_genai_config(tmp_path)


def test_decoder_shape_reads_a_minimal_genai_config(tmp_path: Path) -> None:
    names = ("input_ids", "attention_mask", "past_key_names", "past_value_names")
    outputs = ("logits", "present_key_names", "present_value_names")
    decoder = {
        "num_hidden_layers": 3,
        "num_key_value_heads": 2,
        "head_size": 8,
        "inputs": {name: f"in.{name}.%d" for name in names},
        "outputs": {name: f"out.{name}.%d" for name in outputs},
    }
    (tmp_path / "genai_config.json").write_text(json.dumps({"model": {"decoder": decoder}}))
    shape = DecoderShape.from_genai_config(tmp_path)
    assert (shape.layers, shape.kv_heads, shape.head_size) == (3, 2, 8)
    assert shape.past_key % 1 == "in.past_key_names.1"
    assert shape.present_value % 2 == "out.present_value_names.2"
    assert (shape.input_ids, shape.attention_mask) == ("in.input_ids.%d", "in.attention_mask.%d")
    assert shape.logits == "out.logits.%d"
    assert shape.bytes_per_token == 2 * 3 * 2 * 8 * 4

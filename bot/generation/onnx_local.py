"""The local model run with ONNX Runtime on its ONNX Runtime GenAI export, reusing keys and values.

Same Generator interface, tokenizer, chat format and stopping rules as the torch backend
(it subclasses it); only the model call differs. The decoder's keys and values live in
buffers this class owns (``OrtDecoder``), so a prompt is assembled from work done before:

* Passages are read as independent blocks (``block_reuse``): a block computed once is
  kept (``BlockCache``) and moved into any later prompt that shows that passage, at any
  rank, next to any other passages. Only the customer's turns and question are computed.
* Decoder states are kept between turns (``KeptPrompts``): a follow-up continues its
  conversation's state, so even its earlier turns are not computed again.

When the export or ONNX Runtime is unavailable the torch model serves instead, with a warning.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import Any

from bot.generation.block_reuse import BlockCache, PromptLayout
from bot.generation.kept_prompts import KeptPrompts
from bot.generation.local import LocalGenerator
from bot.generation.onnx_export import ensure_export
from bot.generation.onnx_passages import PassageReader, checked_rotary
from bot.generation.ort_decoder import DecoderState, OrtDecoder
from bot.generation.prompt import PromptBuilder, PromptPassage
from bot.generation.stopping import decode_greedily

logger = logging.getLogger(__name__)

# Below this many shared tokens a fresh decoder state is as cheap as rewinding.
MIN_REUSED_TOKENS = 16


class OnnxGenerator(LocalGenerator):
    def __init__(
        self,
        model_dir: Path,
        *,
        export_dir: Path,
        precision: str = "int8",
        context_tokens: int = 1024,
        kept_prompts: int = 4,
        passage_cache_mb: int = 768,
        **kwargs: Any,
    ) -> None:
        super().__init__(model_dir, **kwargs)
        self.export_dir = Path(export_dir)
        self.precision = precision
        self.kept_prompts = kept_prompts
        self.context_tokens = context_tokens
        self.runtime = "onnx"  # "torch" after a failed export or load
        self._decoder: OrtDecoder | None = None
        self._passages: PassageReader | None = None  # None: passages are read whole
        self._kept: KeptPrompts[DecoderState] = KeptPrompts(
            kept_prompts, min_reused=MIN_REUSED_TOKENS
        )
        self.blocks = BlockCache(passage_cache_mb * 2**20)

    @property
    def loaded(self) -> bool:
        return self._decoder is not None or super().loaded

    def warm_up(self) -> None:
        if self.loaded:
            return
        self.tokenizer  # noqa: B018 - loads the tokenizer (shared with the torch path)
        with self._load_lock:
            if self._decoder is not None:
                return
            try:
                self._load_onnx()
            except Exception as exc:  # noqa: BLE001 - any failure: serve with torch
                logger.warning("ONNX Runtime could not load the generator, using torch: %s", exc)
                self._decoder = None
        if self._decoder is None:
            self.runtime = "torch"
            super().warm_up()
        else:
            self.name = f"{self.name}[onnx-{self.precision}]"

    def _load_onnx(self) -> None:
        directory = ensure_export(self.model_dir, self.adapter_dir, self.export_dir, self.precision)
        if directory is None:
            return
        from bot.generation.stopping import stop_token_ids

        decoder = OrtDecoder(directory, threads=self.threads or min(os.cpu_count() or 1, 8))
        self._stop_ids = stop_token_ids(self.tokenizer)
        rotary = checked_rotary(decoder, self.model_dir) if self.block_attention else None
        if rotary is not None:
            self._passages = PassageReader(
                decoder, rotary, self.blocks, context_tokens=self.context_tokens
            )
        self._decoder = decoder

    def layout(self, messages: Any, input_ids: list[int]) -> PromptLayout | None:
        if self._decoder is not None and self._passages is None:
            return None  # blocks cannot be moved: ordinary attention, like the export's
        return super().layout(messages, input_ids)

    def generate_ids(
        self,
        input_ids: list[int],
        max_new_tokens: int,
        on_token: Callable[[int], None],
        cancelled: threading.Event | None = None,
        layout: PromptLayout | None = None,
        banned_first: Collection[int] = (),
    ) -> None:
        if self._decoder is None:
            super().generate_ids(
                input_ids, max_new_tokens, on_token, cancelled, layout, banned_first
            )
            return
        decoder = self._decoder
        state = self._prepare(input_ids, max_new_tokens, layout)
        decode_greedily(
            state.logits,
            lambda token: decoder.append(state, [token]),
            max_new_tokens=max_new_tokens,
            stop_ids=set(self._stop_ids),
            on_token=on_token,
            cancelled=cancelled or threading.Event(),
            repeat_size=self.repeat_stop_size,
            banned_first=banned_first,
        )

    def read_ahead(
        self,
        passages: Iterable[PromptPassage],
        builder: PromptBuilder,
        stop: threading.Event,
        language: str = "en",
        ranks: int = 3,
    ) -> int:
        """Read ``passages`` into the passage cache before any question shows them, while
        they fit without dropping others; how many of them are kept when it ends.

        Each passage is read as a prompt shows it whole, and the marks of the first
        ``ranks`` places ("[1]", "[2]", ...) with them. A turn waits for at most one
        passage: the decode lock is taken per passage.
        """
        if self._decoder is None or self._passages is None:
            return 0
        marks = [PromptPassage("-", "-") for _ in range(ranks)]
        kept = -1  # the marks' prompt is not one of the passages
        for group in (marks, *([passage] for passage in passages)):
            if stop.is_set():
                break
            # Tokenising under the lock too: the decode thread shares the tokenizer.
            with self._decode_lock:
                messages = builder.build("?", group, language=language).messages
                ids = [int(i) for i in self.encode_chat(messages)[0].tolist()]
                layout = self.layout(messages, ids)
                if layout is None:
                    continue
                if not self._passages.read_ahead(ids, layout):
                    break
            kept += 1
        return max(kept, 0)

    @property
    def kept_states(self) -> int:
        """How many decoder states are kept for reuse."""
        return len(self._kept)

    def forget_prefix(self, *, passages: bool = True) -> None:
        """Drop the kept decoder states, and the computed passage blocks unless
        ``passages`` is False (the next prompt is computed whole; for benchmarks)."""
        with self._decode_lock:
            self._kept.clear()
            if self._passages is not None:
                self._passages.forget()
            if passages:
                self.blocks.clear()

    def _prepare(
        self, input_ids: list[int], max_new_tokens: int, layout: PromptLayout | None
    ) -> DecoderState:
        """A decoder state holding ``input_ids``, its ``logits`` those of the next token."""
        assert self._decoder is not None
        needed = len(input_ids) + max_new_tokens
        kept, shared = self._kept.take(input_ids, needed)
        if kept is not None:
            state = kept.state
        else:
            state = self._decoder.new_state(max(needed, self.context_tokens))
        if layout is not None and self._passages is not None and shared < layout.passages_end:
            shared = self._passages.place(state, input_ids, layout, shared)
        state.rewind_to(shared)
        self._decoder.append(state, input_ids[shared:])
        # Kept at once (all use is under the decode lock); the answer's tokens it will also
        # hold lie after the prompt, and a later turn rewinds to within the prompt.
        self._kept.keep(state, input_ids, state.capacity)
        return state

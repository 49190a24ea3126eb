"""The local model run with ONNX Runtime GenAI, reusing the KV cache of a shared prompt prefix.

Same Generator interface, tokenizer, chat format and stopping rules as the torch backend
(it subclasses it); only the model call differs. Decoder states are kept between turns
(``KeptPrompts``) and rewound to the longest token prefix a new prompt shares with one:
every prompt starts with the same fixed rules, so those ~150 tokens are never computed
twice (time to first token 1,156 -> 741 ms for a 400-token prompt on 2 cores, measured),
and a prompt with passages seen before (a popular article, a follow-up) computes only
its question and new turns.
When the export or ORT is unavailable the torch model serves instead, with a warning.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.generation.kept_prompts import KeptPrompts
from bot.generation.local import LocalGenerator
from bot.generation.onnx_export import ensure_export
from bot.generation.stopping import should_stop

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
        **kwargs: Any,
    ) -> None:
        super().__init__(model_dir, **kwargs)
        self.export_dir = Path(export_dir)
        self.precision = precision
        self.kept_prompts = kept_prompts
        self.context_tokens = context_tokens
        self.runtime = "onnx"  # "torch" after a failed export or load
        self._og: Any = None
        self._ort_model: Any = None
        self._kept: KeptPrompts[Any] = KeptPrompts(kept_prompts, min_reused=MIN_REUSED_TOKENS)

    @property
    def loaded(self) -> bool:
        return self._ort_model is not None or super().loaded

    def warm_up(self) -> None:
        if self.loaded:
            return
        self.tokenizer  # noqa: B018 - loads the tokenizer (shared with the torch path)
        with self._load_lock:
            if self._ort_model is not None:
                return
            try:
                self._load_onnx()
            except Exception as exc:  # noqa: BLE001 - any failure: serve with torch
                logger.warning(
                    "ONNX Runtime GenAI could not load the generator, using torch: %s", exc
                )
                self._ort_model = None
        if self._ort_model is None:
            self.runtime = "torch"
            super().warm_up()
        else:
            self.name = f"{self.name}[onnx-{self.precision}]"

    def _load_onnx(self) -> None:
        directory = ensure_export(self.model_dir, self.adapter_dir, self.export_dir, self.precision)
        if directory is None:
            return
        import onnxruntime_genai as og

        from bot.generation.stopping import stop_token_ids

        threads = self.threads or min(os.cpu_count() or 1, 8)
        config = og.Config(str(directory))
        options = {
            "intra_op_num_threads": threads,
            "inter_op_num_threads": 1,
            # Sleep instead of spinning between tokens: the grounding check embeds each
            # streamed sentence on the same cores meanwhile.
            "session.intra_op.allow_spinning": "0",
        }
        config.overlay(json.dumps({"model": {"decoder": {"session_options": options}}}))
        self._og = og
        self._ort_model = og.Model(config)
        self._stop_ids = stop_token_ids(self.tokenizer)

    def generate_ids(
        self,
        input_ids: list[int],
        max_new_tokens: int,
        on_token: Callable[[int], None],
        cancelled: threading.Event | None = None,
    ) -> None:
        if self._ort_model is None:
            super().generate_ids(input_ids, max_new_tokens, on_token, cancelled)
            return
        cancelled = cancelled or threading.Event()
        state = self._prepare(input_ids, max_new_tokens)
        stop_ids = set(self._stop_ids)
        new: list[int] = []
        while len(new) < max_new_tokens:
            state.generate_next_token()
            token = int(state.get_next_tokens()[0])
            if token in stop_ids:
                break
            new.append(token)
            on_token(token)
            if state.is_done() or should_stop(new, cancelled, self.repeat_stop_size):
                break

    @property
    def kept_states(self) -> int:
        """How many decoder states are kept for reuse."""
        return len(self._kept)

    def forget_prefix(self) -> None:
        """Drop the kept decoder states (the next prompt is computed whole; for benchmarks)."""
        with self._decode_lock:
            self._kept.clear()

    def _prepare(self, input_ids: list[int], max_new_tokens: int) -> Any:
        """A decoder state holding ``input_ids``: a kept one rewound, or a fresh one."""
        needed = len(input_ids) + max_new_tokens
        kept, shared = self._kept.take(input_ids, needed)
        if kept is not None:
            state, length = kept.state, kept.max_length
            state.rewind_to(shared)
        else:
            params = self._og.GeneratorParams(self._ort_model)
            length = max(needed, self.context_tokens)
            params.set_search_options(max_length=length, do_sample=False)
            state = self._og.Generator(self._ort_model, params)
        state.append_tokens(input_ids[shared:])
        # Kept at once (all use is under the decode lock); the answer's tokens it will also
        # hold lie after the prompt, and a later turn rewinds to within the prompt.
        self._kept.keep(state, input_ids, length)
        return state

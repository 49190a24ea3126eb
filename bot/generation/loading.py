"""Load a causal LM folder for serving: optional LoRA adapter folded in, optional int8 linears."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.errors import AssetError


def load_causal_lm(
    model_dir: Path, adapter_dir: Path | None = None, *, quantize: bool = False
) -> Any:
    """The model in eval mode, in fp32 (bf16 is emulated, and slower, on CPUs without AVX512-BF16).

    An adapter is merged into the weights so decoding pays nothing for it. ``quantize``
    swaps every ``nn.Linear`` for a dynamically quantised int8 one (weights int8,
    activations quantised per call): a quarter of the memory traffic per token.
    """
    import torch
    from transformers import AutoModelForCausalLM

    try:
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    except (OSError, ValueError) as exc:
        raise AssetError(f"{model_dir} could not be loaded as a causal LM: {exc}") from exc
    if adapter_dir is not None:
        from peft import PeftModel

        try:
            model = PeftModel.from_pretrained(model, adapter_dir).merge_and_unload()
        except (OSError, ValueError) as exc:
            raise AssetError(f"adapter {adapter_dir} does not fit {model_dir}: {exc}") from exc
    model.eval()
    if quantize:
        model = quantize_linear_layers(model)
    return model


def quantize_linear_layers(model: Any) -> Any:
    """Dynamic int8 quantisation of the linear layers (fbgemm kernels, AVX2 is enough)."""
    import torch
    from torch.ao.quantization import quantize_dynamic

    # In place: a copy would double the peak memory of loading (fp32 + int8 side by side).
    return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)

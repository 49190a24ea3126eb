"""The console script as users run it: JSON output, clear errors, no tracebacks."""

from __future__ import annotations

import csv
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SHARED_DATA

TOPICS = {
    "shipping": [
        "when will my parcel arrive",
        "how long is delivery",
        "is shipping fast",
        "delivery date for my order",
        "how many days until it ships",
        "track the courier for my box",
        "where is my delivery now",
    ],
    "refund": [
        "I want my money back",
        "refund my purchase please",
        "when is my refund coming",
        "money not returned yet",
        "give me a refund",
        "the refund is late",
        "how do refunds work",
    ],
    "login": [
        "I cannot sign in",
        "password not accepted",
        "locked out of my account",
        "login keeps failing",
        "forgot my password",
        "the sign in page rejects me",
        "account access problem",
    ],
}


def _run(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )


def _write_csv(
    path: Path, rows: list[tuple[str, str]], header: tuple[str, str] = ("text", "category")
) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_eval_intents_json_detects_category_column(tmp_path: Path) -> None:
    rows = [(text, label) for label, texts in TOPICS.items() for text in texts]
    random.Random(0).shuffle(rows)
    train = _write_csv(tmp_path / "train.csv", rows[:15])
    test = _write_csv(tmp_path / "test.csv", rows[15:])
    result = _run("eval", "intents", "--train", str(train), "--test", str(test), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert 0.0 <= report["macro_f1"] <= 1.0 and report["accuracy"] >= 0.5
    assert report["test_examples"] == len(rows) - 15


def test_eval_intents_bad_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = _write_csv(tmp_path / "bad.csv", [("hello", "greet"), ("bye", "")])
    result = _run("eval", "intents", "--train", str(bad), "--test", str(bad), "--json")
    assert result.returncode == 2
    assert "bad.csv:3: empty label" in result.stderr and "Traceback" not in result.stderr


def test_eval_retrieval_json(tmp_path: Path) -> None:
    docs = tmp_path / "docs.jsonl"
    docs.write_text(
        "\n".join(
            json.dumps(d)
            for d in [
                {
                    "id": "a",
                    "title": "Resetting your password",
                    "text": "Use the forgot password link on the sign-in page.",
                },
                {
                    "id": "b",
                    "title": "Shipping times",
                    "text": "Parcels arrive within three to five working days.",
                },
                {
                    "id": "c",
                    "title": "Refunds",
                    "text": "Refunds reach your card within a week of the return arriving.",
                },
            ]
        )
    )
    queries = tmp_path / "queries.jsonl"
    queries.write_text(
        "\n".join(
            json.dumps(q)
            for q in [
                {"query": "I forgot my login password", "doc_id": "a"},
                {"query": "how long does delivery take", "doc_id": "b"},
                {"query": "when do I get my money back", "doc_id": "c"},
            ]
        )
    )
    result = _run("eval", "retrieval", "--docs", str(docs), "--queries", str(queries), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["hit@1"] == 1.0 and report["mrr"] == 1.0 and report["queries"] == 3


def test_serve_without_artifacts_says_what_to_run(tmp_path: Path) -> None:
    result = _run("kb", "search", "anything", env_extra={"SUPPORTBOT_DATA_HOME": str(tmp_path)})
    assert (
        result.returncode == 2 and "kb build" in result.stderr and "Traceback" not in result.stderr
    )


@pytest.mark.slow
def test_banking77_eval_if_present() -> None:
    train, test = SHARED_DATA / "banking77" / "train.csv", SHARED_DATA / "banking77" / "test.csv"
    if not train.exists():
        pytest.skip(f"BANKING77 not found at {train}")
    # The frozen-embedding head: a minute in CI; tuned layers (about 7 minutes) are
    # measured by benchmarks/intents.py instead.
    result = _run(
        "eval",
        "intents",
        "--train",
        str(train),
        "--test",
        str(test),
        "--tune-layers",
        "0",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["intents"] == 77 and report["accuracy"] >= 0.90
    assert report["model"] == "embedding+logistic-regression"

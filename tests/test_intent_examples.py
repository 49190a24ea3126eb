"""Loading labelled intent examples from tenant YAML, CSV and JSONL, with line-numbered errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.errors import ConfigError, InputError
from bot.intents.examples import LabeledText, data_hash, load_examples

TENANT_YAML = """\
language: en
intents:
  greet:
    kind: smalltalk
    responses: ["Hello!"]
    examples: [hi there, good morning]
  track_order:
    examples:
      - where is my parcel
      - has my order shipped
"""

PAIRS = [
    ("where is my parcel", "track_order"),
    ("has my order shipped", "track_order"),
    ("I want my money back", "refund"),
    ("refund my last purchase please", "refund"),
]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def csv_text(header: str, rows: list[tuple[str, str]]) -> str:
    return header + "\n" + "".join(f'"{a}","{b}"\n' for a, b in rows)


def as_pairs(examples: list[LabeledText]) -> list[tuple[str, str]]:
    return [(e.text, e.label) for e in examples]


# --- formats ---------------------------------------------------------------------------


def test_yaml_tenant_file(tmp_path: Path) -> None:
    examples = load_examples(write(tmp_path, "intents.yml", TENANT_YAML))
    assert as_pairs(examples) == [
        ("hi there", "greet"),
        ("good morning", "greet"),
        ("where is my parcel", "track_order"),
        ("has my order shipped", "track_order"),
    ]


def test_csv_with_text_and_label(tmp_path: Path) -> None:
    path = write(tmp_path, "train.csv", csv_text("text,label", PAIRS))
    assert as_pairs(load_examples(path)) == PAIRS


def test_csv_with_category_column_is_auto_detected(tmp_path: Path) -> None:
    rows = [(label, text) for text, label in PAIRS]
    path = write(tmp_path, "train.csv", csv_text(" category , utterance ", rows))  # padded header
    assert as_pairs(load_examples(path)) == PAIRS


def test_csv_with_explicit_columns(tmp_path: Path) -> None:
    # 'text' here is an agent note; the explicit mapping must win over auto-detection
    body = "".join(f'"agent note {i}","{t}","{l}"\n' for i, (t, l) in enumerate(PAIRS))
    path = write(tmp_path, "train.csv", "text,message,topic\n" + body)
    assert as_pairs(load_examples(path, text_col="message", label_col="topic")) == PAIRS


def test_explicit_column_that_does_not_exist(tmp_path: Path) -> None:
    path = write(tmp_path, "train.csv", csv_text("text,label", PAIRS))
    with pytest.raises(InputError, match=r"train\.csv:1: no label column 'topic'"):
        load_examples(path, label_col="topic")


def test_jsonl(tmp_path: Path) -> None:
    lines = [json.dumps({"text": t, "label": l, "source": "chat"}) for t, l in PAIRS]
    path = write(
        tmp_path, "train.jsonl", "\n".join(lines[:2]) + "\n\n" + "\n".join(lines[2:]) + "\n"
    )
    assert as_pairs(load_examples(path)) == PAIRS


def test_jsonl_with_custom_keys(tmp_path: Path) -> None:
    lines = [json.dumps({"utterance": t, "intent": l}) for t, l in PAIRS]
    path = write(tmp_path, "train.jsonl", "\n".join(lines))
    assert as_pairs(load_examples(path, text_col="utterance", label_col="intent")) == PAIRS


# --- errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ('"where is my parcel","track_order"\n"refund please",""\n', 3, "empty label"),
        ('"where is my parcel","track_order"\n"   ","refund"\n', 3, "empty text"),
        ('"where is my parcel"\n', 2, "empty label"),  # a short row has no label at all
    ],
)
def test_csv_errors_name_file_and_line(tmp_path: Path, body: str, line: int, message: str) -> None:
    path = write(tmp_path, "train.csv", "text,label\n" + body)
    with pytest.raises(InputError) as caught:
        load_examples(path)
    assert str(caught.value) == f"{path}:{line}: {message}"


def test_csv_without_recognisable_columns(tmp_path: Path) -> None:
    path = write(tmp_path, "train.csv", csv_text("message,topic", PAIRS))
    with pytest.raises(InputError) as caught:
        load_examples(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:1:")
    assert "message, topic" in message and "--text-col" in message


def test_csv_without_a_label_column(tmp_path: Path) -> None:
    path = write(tmp_path, "train.csv", csv_text("text,topic", PAIRS))
    with pytest.raises(
        InputError, match=r"train\.csv:1: cannot tell the label column.*--label-col"
    ):
        load_examples(path)


@pytest.mark.parametrize(
    ("line3", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"text": "refund please"}', "expected an object with 'text' and 'label'"),
        ('["refund please", "refund"]', "expected an object"),
        ('{"text": "refund please", "label": "  "}', "empty label"),
        ('{"text": "", "label": "refund"}', "empty text"),
    ],
)
def test_jsonl_errors_name_file_and_line(tmp_path: Path, line3: str, message: str) -> None:
    good = json.dumps({"text": "where is my parcel", "label": "track_order"})
    path = write(tmp_path, "train.jsonl", f"{good}\n\n{line3}\n{good}\n")
    with pytest.raises(InputError) as caught:
        load_examples(path)
    assert str(caught.value).startswith(f"{path}:3: {message}")


def test_single_class_is_a_clear_error(tmp_path: Path) -> None:
    path = write(
        tmp_path, "train.csv", csv_text("text,label", [p for p in PAIRS if p[1] == "refund"])
    )
    with pytest.raises(InputError) as caught:
        load_examples(path)
    message = str(caught.value)
    assert (
        str(path) in message
        and "1 class" in message
        and "refund" in message
        and "at least 2" in message
    )
    assert len(load_examples(path, min_classes=1)) == 2


def test_header_only_csv_has_no_examples(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no examples"):
        load_examples(write(tmp_path, "train.csv", "text,label\n"))


@pytest.mark.parametrize("name", ["train.txt", "train.json", "train"])
def test_unsupported_extension(tmp_path: Path, name: str) -> None:
    with pytest.raises(
        InputError, match=r"unsupported training file type.*\.yml, \.csv or \.jsonl"
    ):
        load_examples(write(tmp_path, name, "text,label\nhi,greet\nbye,goodbye\n"))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_examples(tmp_path / "absent.csv")


def test_broken_tenant_yaml_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="intents.yml"):
        load_examples(write(tmp_path, "intents.yml", "intents: [unclosed"))


def test_csv_with_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_bytes(b"\xef\xbb\xbf" + csv_text("text,label", PAIRS).encode())
    assert as_pairs(load_examples(path)) == PAIRS


# --- data_hash -------------------------------------------------------------------------


def test_data_hash_is_order_independent_and_content_sensitive() -> None:
    examples = [LabeledText(t, l) for t, l in PAIRS]
    base = data_hash(examples)
    assert data_hash(list(reversed(examples))) == base
    assert data_hash(examples[1:] + examples[:1]) == base
    assert data_hash(examples[:-1]) != base
    assert data_hash([*examples[:-1], LabeledText(PAIRS[-1][0] + "!", PAIRS[-1][1])]) != base
    assert data_hash([*examples[:-1], LabeledText(PAIRS[-1][0], "track_order")]) != base
    # the separators keep text and label apart: moving a character across them changes the hash
    assert data_hash([LabeledText("ab", "c")]) != data_hash([LabeledText("b", "ac")])

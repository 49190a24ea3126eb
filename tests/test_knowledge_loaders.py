"""Loading knowledge sources (markdown, JSONL), skip reporting, chunking and checksums."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from pathlib import Path

import pytest

from knowledge.chunking import chunk_document, split_sections, window_paragraphs
from knowledge.documents import Document
from knowledge.errors import KnowledgeError
from knowledge.loaders import load_jsonl, load_markdown, load_sources

RETURNS_MD = """---
id: returns-policy
title: Returning an item
tags: [returns, refunds]
url: https://help.example.com/returns
---
You can return most items within 30 days of delivery.
"""

SHIPPING_MD = """---
id: shipping-costs
title: Shipping costs
---
Standard delivery is free on orders over 40 euros.
"""


def write(directory: Path, name: str, content: str | bytes) -> Path:
    path = directory / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def skipped_reason(report, name: str) -> str:
    reasons = [reason for path, reason in report.skipped if Path(path).name == name]
    assert len(reasons) == 1, f"{name} should be skipped exactly once: {report.skipped}"
    return reasons[0]


# --- markdown --------------------------------------------------------------------------


def test_markdown_front_matter_becomes_document_fields(tmp_path: Path) -> None:
    path = write(tmp_path, "returns.md", RETURNS_MD)
    document = load_markdown(path)
    assert document.id == "returns-policy"
    assert document.title == "Returning an item"
    assert document.tags == ("returns", "refunds")
    assert document.url == "https://help.example.com/returns"
    assert document.language == "en"  # no language in the front matter
    assert document.text == "You can return most items within 30 days of delivery."
    assert document.source == str(path)


def test_markdown_language_and_comma_separated_tags(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "de.md",
        "---\nid: rueckgabe\ntitle: Rücksendung\nlanguage: de\ntags: retouren, erstattung\n---\nText.\n",
    )
    document = load_markdown(path)
    assert document.language == "de"
    assert document.tags == ("retouren", "erstattung")
    assert document.url is None


BAD_FILES = {
    "no-id.md": ("---\ntitle: Missing its id\n---\nSome text.\n", "id"),
    "no-title.md": ("---\nid: untitled\n---\nSome text.\n", "title"),
    "broken-yaml.md": ("---\nid: broken\ntitle: [unclosed\n---\nSome text.\n", "front matter"),
    "empty.md": ("", "empty"),
    "only-front-matter.md": ("---\nid: hollow\ntitle: Hollow\n---\n\n", "no text"),
    "binary.md": (b"---\nid: bin\n\x00\x01\x02 title", "binary"),
    "latin1.md": ("---\nid: latin\ntitle: Caf\xe9\n---\nR\xe9sum\xe9\n".encode("latin-1"), "UTF-8"),
    "notes.txt": ("just some notes", "unsupported"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_file_is_skipped_with_its_name_and_reason(tmp_path: Path, name: str) -> None:
    write(tmp_path, "returns.md", RETURNS_MD)
    content, reason_word = BAD_FILES[name]
    write(tmp_path, name, content)
    report = load_sources([tmp_path])
    assert [d.id for d in report.documents] == ["returns-policy"]
    reason = skipped_reason(report, name)
    assert name in reason
    assert reason_word.lower() in reason.lower()


def test_many_bad_files_are_all_reported_and_good_ones_load(tmp_path: Path) -> None:
    for name, (content, _) in BAD_FILES.items():
        write(tmp_path, name, content)
    write(tmp_path, "returns.md", RETURNS_MD)
    write(tmp_path, "shipping.md", SHIPPING_MD)
    report = load_sources([tmp_path])
    assert sorted(d.id for d in report.documents) == ["returns-policy", "shipping-costs"]
    assert sorted(Path(p).name for p, _ in report.skipped) == sorted(BAD_FILES)


def test_duplicate_id_across_files_keeps_the_first_and_names_it(tmp_path: Path) -> None:
    first = write(tmp_path, "a-returns.md", RETURNS_MD)
    write(tmp_path, "b-returns-copy.md", RETURNS_MD.replace("30 days", "14 days"))
    report = load_sources([tmp_path])
    assert len(report.documents) == 1
    assert "30 days" in report.documents[0].text
    reason = skipped_reason(report, "b-returns-copy.md")
    assert "duplicate" in reason and "returns-policy" in reason and str(first) in reason


def test_hidden_files_are_ignored_and_missing_path_raises(tmp_path: Path) -> None:
    write(tmp_path, ".draft.md", "not front matter at all")
    write(tmp_path, "returns.md", RETURNS_MD)
    report = load_sources([tmp_path])
    assert report.skipped == []
    with pytest.raises(KnowledgeError, match="no such file"):
        load_sources([tmp_path / "nowhere"])


def test_non_list_tags_skip_the_file_instead_of_crashing(tmp_path: Path) -> None:
    write(tmp_path, "returns.md", RETURNS_MD)
    write(tmp_path, "odd-tags.md", "---\nid: odd\ntitle: Odd\ntags: 5\n---\nText.\n")
    report = load_sources([tmp_path])  # either tolerated or skipped, never a crash
    ids = {d.id for d in report.documents}
    assert "returns-policy" in ids
    assert "odd" in ids or "odd-tags.md" in skipped_reason(report, "odd-tags.md")


# --- jsonl -----------------------------------------------------------------------------


def test_jsonl_loads_good_lines(tmp_path: Path) -> None:
    lines = [
        {
            "id": "faq-1",
            "title": "Opening hours",
            "text": "We answer chats from 9 to 5.",
            "url": "https://x/1",
        },
        {
            "id": "faq-2",
            "question": "Do you ship abroad?",
            "answer": "Yes, to 20 countries.",
            "language": "en",
        },
        {"id": "faq-3", "question": "Is gift wrapping available?"},
    ]
    path = write(
        tmp_path,
        "faq.jsonl",
        "\n".join(json.dumps(x) for x in lines[:2]) + "\n\n" + json.dumps(lines[2]),
    )
    documents = list(load_jsonl(path))
    assert [d.id for d in documents] == ["faq-1", "faq-2", "faq-3"]
    assert documents[0].url == "https://x/1" and documents[0].text == "We answer chats from 9 to 5."
    assert (
        documents[1].title == "Do you ship abroad?" and documents[1].text == "Yes, to 20 countries."
    )
    assert documents[2].text == documents[2].title  # a title-only record uses the title as text
    assert documents[2].source == f"{path}:4"  # the blank line still counts


def test_jsonl_bad_line_reports_its_line_number(tmp_path: Path) -> None:
    good = json.dumps({"id": "faq-1", "title": "Hours", "text": "9 to 5"})
    write(tmp_path, "faq.jsonl", f"{good}\n{good.replace('faq-1', 'faq-2')}\n{{not json\n")
    write(tmp_path, "returns.md", RETURNS_MD)
    with pytest.raises(KnowledgeError, match=r"faq\.jsonl:3: not valid JSON"):
        list(load_jsonl(tmp_path / "faq.jsonl"))
    report = load_sources([tmp_path])
    assert [d.id for d in report.documents] == ["returns-policy"]
    assert "faq.jsonl:3" in skipped_reason(report, "faq.jsonl")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"title": "no id", "text": "x"}', "needs an 'id'"),
        ('["a", "list"]', "needs an 'id'"),
        ('{"id": "empty"}', "has no text"),
    ],
)
def test_jsonl_invalid_records(tmp_path: Path, line: str, message: str) -> None:
    path = write(
        tmp_path, "faq.jsonl", json.dumps({"id": "ok", "text": "fine"}) + "\n" + line + "\n"
    )
    with pytest.raises(KnowledgeError, match=rf"faq\.jsonl:2: .*{message}"):
        list(load_jsonl(path))


# --- chunking --------------------------------------------------------------------------

ARTICLE = Document(
    id="returns-policy",
    title="Returning an item",
    language="fr",
    url="https://help.example.com/returns",
    text=(
        "Most items can be returned.\n\n"
        "## How to start a return\n"
        "Open your order and choose Return.\n\n"
        "Print the label we email you.\n\n"
        "### Refund timing\n"
        "Refunds arrive within 5 working days."
    ),
)


def test_chunks_follow_headings_and_keep_their_origin() -> None:
    chunks = chunk_document(ARTICLE)
    assert [c.section for c in chunks] == ["", "How to start a return", "Refund timing"]
    assert chunks[1].text == "Open your order and choose Return.\n\nPrint the label we email you."
    assert all(c.document_id == "returns-policy" and c.title == "Returning an item" for c in chunks)
    assert all(c.language == "fr" and c.url == ARTICLE.url for c in chunks)
    assert chunks[2].embedding_text.startswith("Returning an item - Refund timing\n")
    assert chunks[0].embedding_text.startswith("Returning an item\n")


def test_empty_sections_produce_no_chunks() -> None:
    assert split_sections("# Only a heading\n\n## Another\n   \n") == []


def test_long_section_is_windowed_with_paragraph_overlap() -> None:
    paragraphs = [
        f"Paragraph {i}: refund details, refund details" for i in range(8)
    ]  # 43 chars each
    document = replace(ARTICLE, text="## Refunds\n" + "\n\n".join(paragraphs))
    chunks = chunk_document(document, max_chars=100)
    assert len(chunks) > 1
    assert all(len(c.text) <= 100 for c in chunks)
    assert all(c.section == "Refunds" for c in chunks)
    for before, after in itertools.pairwise(chunks):
        assert after.text.split("\n\n")[0] == before.text.split("\n\n")[-1]  # overlap
    covered = {p for c in chunks for p in c.text.split("\n\n")}
    assert covered == set(paragraphs)


def test_a_paragraph_longer_than_the_window_stands_alone() -> None:
    windows = window_paragraphs("short one\n\n" + "x" * 300 + "\n\nshort two", max_chars=100)
    assert windows == ["short one", "x" * 300, "short two"]


def test_windows_never_exceed_max_chars_when_paragraphs_fit() -> None:
    windows = window_paragraphs("a" * 40 + "\n\n" + "b" * 80 + "\n\n" + "c" * 30, max_chars=100)
    assert all(len(w) <= 100 for w in windows)


def test_heading_keeps_a_trailing_hash_that_is_part_of_the_text() -> None:
    assert split_sections("## Paying in C#\nbody") == [("Paying in C#", "body")]


def test_chunk_ids_are_stable_and_distinct() -> None:
    first = chunk_document(ARTICLE)
    again = chunk_document(ARTICLE)
    other = chunk_document(replace(ARTICLE, id="shipping-costs"))
    assert [c.id for c in first] == [c.id for c in again]
    ids = [c.id for c in first + other]
    assert len(set(ids)) == len(ids)
    assert all(0 < i < 2**63 for i in ids)


def test_checksum_changes_with_content_only() -> None:
    base = ARTICLE.checksum
    assert replace(ARTICLE).checksum == base
    assert replace(ARTICLE, source="elsewhere.md").checksum == base  # the path is not content
    assert replace(ARTICLE, text=ARTICLE.text + " Extra sentence.").checksum != base
    assert replace(ARTICLE, title="Returns").checksum != base
    assert replace(ARTICLE, tags=("returns",)).checksum != base

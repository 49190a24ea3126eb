"""HTML pages and CSV FAQ tables as knowledge sources, and sentence windows in long paragraphs."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from knowledge.chunking import chunk_document, split_sentences, window_paragraphs
from knowledge.documents import Document
from knowledge.faq_loader import load_faq_csv
from knowledge.html_loader import load_html
from knowledge.loaders import load_sources

PAGE = """<!doctype html>
<html lang="de-AT">
<head>
  <title>Rücksendungen</title>
  <meta name="id" content="returns-de">
  <link rel="canonical" href="https://help.example.com/de/returns">
  <style>body { color: red; }</style>
  <script>var tracking = "do not index me";</script>
</head>
<body>
  <nav><a href="/">Home</a> | <a href="/shop">Menu entry</a></nav>
  <main>
    <h1>Rücksendungen</h1>
    <p>Sie können Artikel innerhalb
       von 30 Tagen zurücksenden.</p>
    <h2>Etikett drucken</h2>
    <p>Öffnen Sie Ihre <b>Bestellung</b> und wählen Sie <em>Rücksendung</em>.</p>
    <ul><li>Etikett drucken</li><li>Paket abgeben</li></ul>
    <h3>Erstattung</h3>
    <div>Das Geld kommt nach 5 Tagen.<br>Bei Karten kann es länger dauern.</div>
  </main>
  <footer>Copyright notice</footer>
</body>
</html>
"""


def write(directory: Path, name: str, content: str) -> Path:
    path = directory / name
    path.write_text(content, encoding="utf-8")
    return path


def test_html_page_keeps_text_sections_and_metadata(tmp_path: Path) -> None:
    document = load_html(write(tmp_path, "returns.html", PAGE))
    assert document.id == "returns-de"
    assert document.title == "Rücksendungen"
    assert document.language == "de"
    assert document.url == "https://help.example.com/de/returns"
    # Line breaks of the source inside a paragraph are not kept; inline tags flow.
    assert "Sie können Artikel innerhalb von 30 Tagen zurücksenden." in document.text
    assert "Öffnen Sie Ihre Bestellung und wählen Sie Rücksendung." in document.text
    for furniture in ("tracking", "color: red", "Menu entry", "Copyright"):
        assert furniture not in document.text
    chunks = chunk_document(document)
    assert [c.section for c in chunks] == ["", "Etikett drucken", "Erstattung"]
    assert all(c.language == "de" and c.url == document.url for c in chunks)
    assert "Paket abgeben" in chunks[1].text
    assert chunks[2].text.splitlines()[0] == "Das Geld kommt nach 5 Tagen."


def test_html_title_falls_back_to_h1_and_id_to_file_name(tmp_path: Path) -> None:
    page = "<html><body><h1>Gift cards</h1><p>They never expire.</p></body></html>"
    document = load_html(write(tmp_path, "gift-cards.htm", page))
    assert (document.id, document.title, document.language) == ("gift-cards", "Gift cards", "en")
    assert document.text == "They never expire."


@pytest.mark.parametrize(
    ("page", "reason"),
    [
        ("<html><body><p>No heading at all.</p></body></html>", "neither a <title> nor an <h1>"),
        (
            "<html><head><title>Empty</title></head><body><script>x()</script></body></html>",
            "no text",
        ),
    ],
)
def test_unusable_html_is_skipped_with_a_reason(tmp_path: Path, page: str, reason: str) -> None:
    write(tmp_path, "bad.html", page)
    write(tmp_path, "good.html", "<title>Good</title><p>Fine text.</p>")
    report = load_sources([tmp_path])
    assert [d.id for d in report.documents] == ["good"]
    [(path, message)] = report.skipped
    assert Path(path).name == "bad.html" and "bad.html" in message and reason in message


def test_faq_csv_rows_become_documents(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "faq.csv",
        "Question,Answer,id,url,language\n"
        'Can I pay later?,"Yes, with an invoice.",pay-later,https://x.test/pay,en\n'
        "Wie lange dauert der Versand?,Zwei bis drei Tage.,,,de\n",
    )
    first, second = load_faq_csv(path)
    assert (first.id, first.title, first.text, first.url) == (
        "pay-later",
        "Can I pay later?",
        "Yes, with an invoice.",
        "https://x.test/pay",
    )
    assert second.id == "faq/wie-lange-dauert-der-versand" and second.language == "de"
    assert second.url is None and second.source == f"{path}:3"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("question,text\nA?,B\n", "answer"),
        ("question,answer\nA?,B\n,only an answer\n", "faq.csv:3"),
    ],
)
def test_bad_faq_csv_is_skipped_with_the_reason(tmp_path: Path, content: str, reason: str) -> None:
    write(tmp_path, "faq.csv", content)
    write(tmp_path, "ok.csv", "question,answer\nQ?,A.\n")
    report = load_sources([tmp_path])
    assert [d.title for d in report.documents] == ["Q?"]
    [(path, message)] = report.skipped
    assert Path(path).name == "faq.csv" and reason in message


def test_faq_jsonl_uses_question_and_answer(tmp_path: Path) -> None:
    write(
        tmp_path, "faq.jsonl", '{"id": "q1", "question": "Do you ship abroad?", "answer": "Yes."}\n'
    )
    [document] = load_sources([tmp_path]).documents
    assert (document.title, document.text) == ("Do you ship abroad?", "Yes.")


def test_sentences_split_at_sentence_ends_only() -> None:
    text = 'It costs $4.95. Orders over 50 ship free! Why? "Because" we like you. version 2.1 works'
    assert split_sentences(text) == [
        "It costs $4.95.",
        "Orders over 50 ship free!",
        "Why?",
        '"Because" we like you. version 2.1 works',
    ]


def test_long_paragraph_becomes_overlapping_sentence_windows() -> None:
    sentences = [f"Sentence {i} tells one more detail." for i in range(20)]
    windows = window_paragraphs(" ".join(sentences), max_chars=120)
    assert len(windows) > 3 and all(len(w) <= 120 for w in windows)
    for before, after in itertools.pairwise(windows):
        assert split_sentences(after)[0] == split_sentences(before)[-1]
    assert {s for w in windows for s in split_sentences(w)} == set(sentences)


def test_long_paragraph_chunks_keep_the_document_fields() -> None:
    document = Document(
        id="long", title="Long", text=" ".join(f"Fact {i} is here." for i in range(300)), url="u"
    )
    chunks = chunk_document(document, max_chars=400)
    assert len(chunks) > 5 and all(len(c.text) <= 400 for c in chunks)
    assert {(c.document_id, c.title, c.url, c.language) for c in chunks} == {
        ("long", "Long", "u", "en")
    }

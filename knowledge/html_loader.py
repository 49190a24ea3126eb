"""HTML articles: text through a real parser, headings kept as markdown-style sections."""

from __future__ import annotations

import re
from pathlib import Path

from bs4 import BeautifulSoup, NavigableString, Tag

from knowledge.documents import Document
from knowledge.errors import KnowledgeError
from knowledge.text_files import read_source_text

HTML_SUFFIXES = frozenset({".html", ".htm"})
HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
# Elements whose text starts a new paragraph; everything else flows inline.
BLOCKS = (
    "p", "div", "section", "article", "main", "li", "ul", "ol", "dl", "dt", "dd", "pre",
    "blockquote", "table", "tr", "td", "th", "figcaption", "details", "summary", "address",
)  # fmt: skip
# Page furniture, not content: menus, scripts and the like are dropped before reading.
DROPPED = ("script", "style", "noscript", "template", "nav", "aside", "footer", "form", "svg")


def load_html(path: Path) -> Document:
    """One HTML page as a document.

    id: ``<meta name="id">`` (or ``document-id``), else the file name without its suffix;
    title: ``<title>``, else the first ``<h1>``; language: ``<html lang>``; url:
    ``<link rel="canonical">`` or ``<meta property="og:url">``.
    """
    soup = BeautifulSoup(read_source_text(path), "html.parser")
    for tag in soup.find_all(DROPPED):
        tag.decompose()
    first_h1 = soup.find("h1")
    title = _text(soup.title) or _text(first_h1)
    if not title:
        raise KnowledgeError(f"{path}: the page has neither a <title> nor an <h1>")
    root = soup.find("main") or soup.find("article") or soup.body or soup
    if isinstance(first_h1, Tag) and _text(first_h1) == title:
        first_h1.decompose()  # the title is carried by the document, not repeated as a section
    text = html_to_sectioned_text(root)
    if not text:
        raise KnowledgeError(f"{path}: the page has no text")
    html = soup.find("html")
    language = html.get("lang") if isinstance(html, Tag) else None
    return Document(
        id=_meta(soup, "id") or _meta(soup, "document-id") or path.stem,
        title=title,
        text=text,
        language=str(language).split("-")[0].lower() if language else "en",
        url=_canonical_url(soup),
        source=str(path),
    )


def html_to_sectioned_text(root: Tag | BeautifulSoup) -> str:
    """Text of ``root`` with ``## heading`` lines and blank lines between blocks."""
    for string in list(root.find_all(string=True)):
        # Source line breaks inside a paragraph are layout, not meaning.
        string.replace_with(NavigableString(re.sub(r"\s+", " ", str(string))))
    for heading in root.find_all(HEADINGS):
        heading.replace_with(NavigableString(f"\n\n## {_text(heading)}\n\n"))
    for line_break in root.find_all("br"):
        line_break.replace_with(NavigableString("\n"))
    for block in root.find_all(BLOCKS):
        block.insert_before(NavigableString("\n\n"))
        block.insert_after(NavigableString("\n\n"))
    lines = [line.strip() for line in root.get_text().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _text(tag: object) -> str:
    return " ".join(tag.get_text(" ").split()) if isinstance(tag, Tag) else ""


def _meta(soup: BeautifulSoup, name: str) -> str | None:
    tag = soup.find("meta", attrs={"name": name})
    content = tag.get("content") if isinstance(tag, Tag) else None
    return str(content).strip() or None if content else None


def _canonical_url(soup: BeautifulSoup) -> str | None:
    link = soup.find("link", rel="canonical")
    if isinstance(link, Tag) and link.get("href"):
        return str(link["href"])
    og_url = soup.find("meta", attrs={"property": "og:url"})
    if isinstance(og_url, Tag) and og_url.get("content"):
        return str(og_url["content"])
    return None

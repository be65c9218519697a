"""HTML and Markdown reports.

HTML: readability-lxml finds the main content (falling back to the body without navigation when it
finds too little); headings h1-h4 become sections. Markdown is rendered with markdown-it-py and read
through the same walker, so both formats produce identical structure.
"""
from __future__ import annotations

import re

import lxml.html
from lxml import etree
from markdown_it import MarkdownIt

from ..errors import RejectedFile
from .about import COVER_CHARS, describe
from .document import Document, TextBuilder, clean_inline

_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 4, "h6": 4}
_BLOCKS = {"p", "li", "blockquote", "pre", "td", "th", "dd", "dt", "figcaption", "caption", "summary"}
_DROP = {"script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form", "button",
         "svg", "iframe", "object", "select"}
_BOILERPLATE = re.compile(
    r"^(back to top|skip to (main )?content|share (this|on)\b.*|print this page|cookies?( settings| policy)?|"
    r"accept( all)? cookies|reject( all)? cookies|menu|search|home|contents|table of contents|related content|"
    r"was this page useful\??|yes|no|report a problem with this page|sign up for .*|subscribe.*|"
    r"(previous|next)( page)?|breadcrumb)$",
    re.I,
)
_TITLE_SEPARATOR = re.compile(r"\s+[|–—-]\s+")
_DATE_META = ("article:published_time", "dc.date", "dcterms.created", "dc.date.issued", "date", "govuk:first-published-at")


def _parse(markup: str | bytes):
    try:
        return lxml.html.document_fromstring(markup)
    except (etree.ParserError, ValueError) as exc:
        raise RejectedFile(f"not readable HTML ({exc})") from exc


def _walk(root, builder: TextBuilder) -> None:
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        tag = el.tag.lower()
        if tag in _HEADINGS:
            builder.heading(el.text_content(), _HEADINGS[tag])
        elif tag in _BLOCKS:
            if any(isinstance(a.tag, str) and a.tag.lower() in _BLOCKS | set(_HEADINGS) for a in el.iterancestors()):
                continue
            nested = any(isinstance(c.tag, str) and c.tag.lower() in _BLOCKS for c in el.iterdescendants())
            if nested:
                # Text directly inside a list item or cell that also holds blocks.
                own = " ".join(t for t in el.xpath("text()"))
                if clean_inline(own) and not _BOILERPLATE.match(clean_inline(own)):
                    builder.paragraph(own)
                continue
            text = clean_inline(el.text_content())
            if text and not _BOILERPLATE.match(text):
                builder.paragraph(text)


def strip_chrome(root) -> None:
    """Drop scripts, styles, navigation... and comments, keeping the text that follows each (as
    ``drop_tree`` does), in one pass in C: ``drop_tree`` one by one costs O(siblings) each, 12 s for a
    page of 100,000 scripts."""
    tags = {el.tag for el in root.iter() if isinstance(el.tag, str) and el.tag.lower() in _DROP and el is not root}
    etree.strip_elements(root, *tags, etree.Comment, etree.ProcessingInstruction, etree.Entity, with_tail=False)


def _title(root, site: str) -> str | None:
    """og:title, else the first <h1> outside navigation, else <title> less the site name."""
    for found in (root.xpath("string(//meta[@property='og:title']/@content)"),
                  root.xpath("string((//h1[not(ancestor::nav or ancestor::header or ancestor::footer)])[1])")):
        if clean_inline(found):
            return clean_inline(found)
    parts = _TITLE_SEPARATOR.split(clean_inline(root.xpath("string(//title)")))
    if len(parts) > 1:
        named = [p for p in parts if p.lower() != site.lower()]
        parts = named if site and len(named) < len(parts) else parts[:-1]
    return " - ".join(parts) or None


def _meta(root) -> dict:
    meta: dict = {}
    publisher = clean_inline(root.xpath("string(//meta[@property='og:site_name']/@content)"))
    title = _title(root, publisher)
    if title:
        meta["title"] = title
    for name in _DATE_META:
        value = root.xpath(f"string(//meta[translate(@name,'ABCDEFGHIJKLMNOPQRSTUVWXYZ','abcdefghijklmnopqrstuvwxyz')='{name}' or @property='{name}']/@content)")
        m = re.match(r"\d{4}-\d{2}-\d{2}", value.strip())
        if m:
            meta["published"] = m.group()
            break
    if publisher:
        meta["publisher"] = publisher
    return meta


def _read(root, meta: dict, kind: str) -> Document:
    strip_chrome(root)
    builder = TextBuilder()
    _walk(root, builder)
    return builder.build(dict(meta), kind)


# readability's cost grows much faster than the page (14 s for 10 MB of script, 7 s for 50,000
# paragraphs); past these sizes the whole body without navigation is used, as when readability fails.
READABILITY_MAX_BYTES = 2 * 2**20
READABILITY_MAX_ELEMENTS = 30_000


def extract_html(data: bytes, name: str) -> Document:
    from readability import Document as Readable

    root = _parse(data)
    meta = _meta(root)
    masthead = " ".join(clean_inline(h.text_content()) for h in root.xpath("//header"))
    elements = sum(1 for _ in root.iter())
    full = _read(root, meta, "html")
    main = None
    if len(data) <= READABILITY_MAX_BYTES and elements <= READABILITY_MAX_ELEMENTS:
        try:
            main = _read(_parse(Readable(data).summary(html_partial=True)), meta, "html")
        except RejectedFile:
            raise
        except Exception:  # readability gives up on some pages; the whole body without navigation is the fallback
            main = None
    doc = main if main is not None and len(main.text) >= 0.3 * len(full.text) else full
    title = doc.meta.get("title") or (doc.headings[0].title if doc.headings else None)
    doc.meta = describe(f"{masthead}\n{doc.text[:COVER_CHARS]}", doc.meta, title)
    return doc


def extract_markdown(text: str, name: str) -> Document:
    rendered = MarkdownIt("commonmark").enable("table").render(text)
    doc = _read(_parse(f"<html><body>{rendered}</body></html>"), {}, "markdown")
    doc.meta = describe(doc.text[:COVER_CHARS], {}, doc.headings[0].title if doc.headings else None)
    return doc

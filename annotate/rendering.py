"""Untrusted text (prompts, model responses, instructions) → safe HTML.

Two layers: markdown-it renders with raw HTML *disabled* (a response that contains ``<script>``
shows the tag as text, which is what an annotator needs to see) and its own link validation;
then nh3 (ammonia) cleans the result against an allow-list, so a bug in either layer alone
cannot produce an executable page. Code blocks are highlighted by Pygments into spans with
classes only.
"""
from functools import lru_cache

import nh3
from django.utils.html import escape
from django.utils.safestring import mark_safe
from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name, guess_lexer
from pygments.util import ClassNotFound

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "del", "div", "em", "h1", "h2", "h3", "h4", "h5", "h6",
    "hr", "i", "ins", "kbd", "li", "ol", "p", "pre", "s", "span", "strong", "sub", "sup", "table",
    "tbody", "td", "th", "thead", "tr", "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "code": {"class"},
    "div": {"class"},
    "pre": {"class"},
    "span": {"class"},
    "td": {"style"},
    "th": {"style"},
    "ol": {"start"},
}
URL_SCHEMES = {"http", "https", "mailto"}
_FORMATTER = HtmlFormatter(nowrap=True, classprefix="hl-")


def _highlight(code, lang, _attrs):
    try:
        lexer = get_lexer_by_name(lang) if lang else guess_lexer(code)
    except ClassNotFound:
        return ""  # markdown-it falls back to escaping
    if not lang and lexer.name == "Text only":
        return ""
    return highlight(code, lexer, _FORMATTER)


def _md():
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False, "highlight": _highlight})
    md.enable("table").enable("strikethrough")
    return md


_MARKDOWN = _md()


def clean_html(html):
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        filter_style_properties={"text-align"},
        strip_comments=True,
    )


@lru_cache(maxsize=4096)
def _render(text):
    return clean_html(_MARKDOWN.render(text))


def markdown(text):
    """Markdown → sanitised HTML, marked safe for templates."""
    return mark_safe(_render(text or ""))


def plain(text):
    """Escaped text with line breaks kept (rationales, reasons)."""
    return mark_safe(escape(text or "").replace("\n", "<br>"))


def diff_html(opcodes):
    """Word-level diff opcodes ([[tag, old, new], ...]) → <del>/<ins> spans, everything escaped."""
    parts = []
    for tag, old, new in opcodes or []:
        if tag == "equal":
            parts.append(escape(old))
        if tag in ("delete", "replace") and old:
            parts.append(f'<del class="diff-del">{escape(old)}</del>')
        if tag in ("insert", "replace") and new:
            parts.append(f'<ins class="diff-ins">{escape(new)}</ins>')
    return mark_safe("".join(parts))


def pygments_css():
    return _FORMATTER.get_style_defs(".md .highlight, .md pre")

"""Untrusted text (prompts, model responses, instructions) → safe HTML.

Two layers: markdown-it renders with raw HTML *disabled* (a response that contains ``<script>``
shows the tag as text, which is what an annotator needs to see) and its own link validation;
then nh3 (ammonia) cleans the result against an allow-list, so a bug in either layer alone
cannot produce an executable page. Code blocks are highlighted by Pygments into spans with
classes only.

Links keep an href only when it is absolute http(s)/mailto or a same-page anchor: relative and
protocol-relative ones (`//evil.example`, `/\\evil.example`) would leave the site looking like
a link within it. Bidi embedding/override/isolate controls (U+202A–U+202E, U+2066–U+2069) can make
text read differently from what it is ("Trojan Source"), so they are shown as a visible marker
such as `[U+202E]`; the same happens to every HTML page (`annotate.middleware`).
"""

import re
from functools import lru_cache

import nh3
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name, guess_lexer
from pygments.util import ClassNotFound

ALLOWED_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "del",
    "div",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "ins",
    "kbd",
    "li",
    "ol",
    "p",
    "pre",
    "s",
    "span",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
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
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
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


def neutralise_bidi(text):
    """Bidi controls replaced by a visible marker naming them (no markup: safe in any HTML context)."""
    return BIDI_CONTROLS.sub(lambda m: f"[U+{ord(m.group()):04X}]", text)


def _same_page_only(url):
    """nh3 asks about relative URLs: keep same-page anchors, drop the rest."""
    return url if url.startswith("#") else None


def clean_html(html):
    return neutralise_bidi(
        nh3.clean(
            html,
            tags=ALLOWED_TAGS,
            attributes=ALLOWED_ATTRIBUTES,
            url_schemes=URL_SCHEMES,
            url_relative=_same_page_only,
            link_rel="noopener noreferrer nofollow",
            filter_style_properties={"text-align"},
            strip_comments=True,
        )
    )


@lru_cache(maxsize=4096)
def _render(text):
    return clean_html(_MARKDOWN.render(text))


def markdown(text):
    """Markdown → sanitised HTML, marked safe for templates."""
    return mark_safe(_render(text or ""))


def plain(text):
    """Escaped text with line breaks kept (rationales, reasons)."""
    return mark_safe(neutralise_bidi(escape(text or "")).replace("\n", "<br>"))


def diff_html(opcodes: list[list[str]] | None) -> SafeString:
    """Word-level diff opcodes ([[tag, old, new], ...]) → <del>/<ins> spans, everything escaped."""
    parts: list[str] = []
    for tag, old, new in opcodes or []:
        if tag == "equal":
            parts.append(escape(old))
        if tag in ("delete", "replace") and old:
            parts.append(f'<del class="diff-del">{escape(old)}</del>')
        if tag in ("insert", "replace") and new:
            parts.append(f'<ins class="diff-ins">{escape(new)}</ins>')
    return mark_safe(neutralise_bidi("".join(parts)))


def pygments_css():
    return _FORMATTER.get_style_defs(".md .highlight, .md pre")

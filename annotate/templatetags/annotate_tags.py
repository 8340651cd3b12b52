"""Template filters for untrusted text: every model or user string goes through one of these."""

from django import template

from annotate import rendering
from annotate.models import PREFERENCE_LABELS

register = template.Library()


@register.filter
def markdown(text):
    return rendering.markdown(text)


@register.filter
def plain(text):
    return rendering.plain(text)


@register.filter
def diff(opcodes):
    return rendering.diff_html(opcodes)


@register.filter
def preference_label(value):
    return PREFERENCE_LABELS.get(value, "")


@register.filter
def get(mapping, key):
    return (mapping or {}).get(key, "")


@register.filter
def percent(value):
    return f"{float(value or 0):.0f}%"

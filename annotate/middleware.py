"""Bidi controls (U+202A–U+202E, U+2066–U+2069) in any HTML page become visible markers.

Model and user text reaches pages through many templates (`{{ }}` escapes markup, not bidi
controls), so this runs once on the finished page instead of relying on every template to
remember a filter. The marker is plain ASCII (`[U+202E]`, from `rendering.neutralise_bidi`),
valid in text, attributes and textareas alike; pages without such a character are untouched.
"""

import re

from annotate.rendering import neutralise_bidi

# rendering.BIDI_CONTROLS in UTF-8: E2 80 AA–AE and E2 81 A6–A9.
_BIDI_UTF8 = re.compile(rb"\xe2(?:\x80[\xaa-\xae]|\x81[\xa6-\xa9])")


def _marker(match):
    return neutralise_bidi(match.group().decode()).encode()


class BidiControlsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.streaming
            or not response.get("Content-Type", "").startswith("text/html")
            or (response.charset or "").lower().replace("-", "") != "utf8"
        ):
            return response
        content, count = _BIDI_UTF8.subn(_marker, response.content)
        if count:
            response.content = content
            if response.has_header("Content-Length"):
                response["Content-Length"] = str(len(content))
        return response

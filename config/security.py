"""Deployment safety that settings alone cannot express: the secret key, and the
Content-Security-Policy header (Django 5.2 has no CSP of its own).

`secret_key` never falls back to a key anyone can read: a local install (the demo, the embedded
default) gets one generated once under the var folder; production without SECRET_KEY and with
DEBUG off refuses to start.
"""

import os
import secrets
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# The key earlier versions used when SECRET_KEY was unset: public, so never accepted with DEBUG off.
PUBLIC_DEV_KEYS = {"insecure-dev-key-set-SECRET_KEY-in-production"}
KEY_FILE = "secret_key"


def secret_key(configured: str | None, debug: bool, local: bool, var_dir: Path) -> str:
    """The SECRET_KEY to use, or ImproperlyConfigured with what to do."""
    if configured:
        if configured in PUBLIC_DEV_KEYS and not debug:
            raise ImproperlyConfigured(
                "SECRET_KEY is the public development key; set a secret one (50+ random characters)"
            )
        return configured
    if not (debug or local):
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. With DATABASE_URL set and DEBUG off Tandem runs as a production server: "
            "set SECRET_KEY to 50+ random characters (python -c 'import secrets; print(secrets.token_urlsafe(50))'), "
            "or TANDEM_DEMO=1 for a local install that keeps a generated key under TANDEM_VAR_DIR"
        )
    return local_secret_key(var_dir)


def local_secret_key(var_dir: Path) -> str:
    """A key generated on first use and kept in var_dir/secret_key (mode 0600)."""
    path = Path(var_dir) / KEY_FILE
    try:
        key = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        key = ""
    if key:
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    # O_EXCL: two processes starting at once agree on the first one's key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(key + "\n")
    return key


def content_security_policy() -> str:
    """The default policy. Scripts only from this site's static files (no inline script, no eval);
    styles from its files too, plus inline `style` attributes (progress-bar widths, chart colours:
    they cannot run script), never `<style>` elements."""
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "style-src-elem 'self'",
            "style-src-attr 'unsafe-inline'",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


class ContentSecurityPolicyMiddleware:
    """Adds settings.CONTENT_SECURITY_POLICY to every response that does not set its own."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.policy = settings.CONTENT_SECURITY_POLICY

    def __call__(self, request):
        response = self.get_response(request)
        if self.policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = self.policy
        return response


def csrf_failure(request, reason=""):
    """CSRF refusals: JSON for API clients (under /api/), the styled 403 page for people."""
    from django.http import JsonResponse
    from django.views.csrf import csrf_failure as page

    if "/api/" in request.path:
        return JsonResponse(
            {"error": f"CSRF check failed: {reason}; send the csrftoken cookie back as X-CSRFToken", "errors": {}},
            status=403,
        )
    return page(request, reason=reason)

"""Export tokens for training jobs: `Authorization: Token <key>`, scoped to one project, read-only.

A token answers only while it is not revoked, not expired, and its issuer could still export the
project themselves: an active user who manages it (or an admin). Removing the issuer from the
project, demoting them or deactivating them stops their tokens at once; so does deleting them.
"""

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from annotate.permissions import can_manage
from curation.models import ExportToken


def token_refusal(token: ExportToken, now=None) -> str | None:
    """Why `token` does not work (now), or None when it does."""
    now = now or timezone.now()
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= now:
        return "expired"
    issuer = token.created_by
    if issuer is None or not issuer.is_active or not can_manage(issuer, token.project):
        return "its issuer no longer has access to the project"
    return None


class ExportTokenUser:
    """The identity a token request runs as: authenticated, but no Django user and no rights of its own."""

    is_authenticated = True
    is_active = True
    is_anonymous = False
    is_superuser = False
    is_staff = False
    pk = None
    id = None

    def __init__(self, token):
        self.token = token

    def get_username(self):
        return f"token:{self.token.prefix}"

    def __str__(self):
        return self.get_username()


class ExportTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Token <key>'.")
        try:
            key = header[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        token = (
            ExportToken.objects.select_related("project", "created_by")
            .filter(key_hash=ExportToken.hash_key(key))
            .first()
        )
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        now = timezone.now()
        refusal = token_refusal(token, now)
        if refusal:
            raise exceptions.AuthenticationFailed(f"Token no longer valid: {refusal}.")
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            ExportToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return ExportTokenUser(token), token

    def authenticate_header(self, request):
        return self.keyword


class ExportTokenScheme(OpenApiAuthenticationExtension):
    target_class = "curation.authentication.ExportTokenAuthentication"
    name = "exportToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <key>`: an export token scoped to one project (read-only).",
        }

"""Export tokens for training jobs: `Authorization: Token <key>`, scoped to one project, read-only."""
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from .models import ExportToken


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
        token = ExportToken.objects.select_related("project").filter(key_hash=ExportToken.hash_key(key)).first()
        if token is None or token.revoked_at is not None:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        now = timezone.now()
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            ExportToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return ExportTokenUser(token), token

    def authenticate_header(self, request):
        return self.keyword


class ExportTokenScheme(OpenApiAuthenticationExtension):
    target_class = "curation.authentication.ExportTokenAuthentication"
    name = "exportToken"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": "`Token <key>`: an export token scoped to one project (read-only)."}

"""Django's ModelBackend, with the user that every request loads read without ORM compilation."""
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import ValidationError
from django.db import connection

from .rows import first


class UserBackend(ModelBackend):
    """Logins, permissions and checks are ModelBackend's; only `get_user`, run by the
    authentication middleware on every request, reads its one row through `annotate.rows`."""

    def get_user(self, user_id):
        User = get_user_model()
        try:
            pk = User._meta.pk.to_python(user_id)
        except ValidationError:
            return None
        user = first(User, "u", f"u.{connection.ops.quote_name(User._meta.pk.column)} = %s", [pk])
        return user if user is not None and self.user_can_authenticate(user) else None

"""Django's ModelBackend, with the user that every request loads read without ORM compilation."""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied, ValidationError
from psycopg.sql import SQL, Identifier

from annotate import login_throttle
from annotate.rows import first


class UserBackend(ModelBackend):
    """Logins, permissions and checks are ModelBackend's; only `get_user`, run by the
    authentication middleware on every request, reads its one row through `annotate.rows`.
    Password logins are throttled (annotate.login_throttle)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        address = login_throttle.client_address(request)
        if login_throttle.locked_out(username, address) is not None:
            raise PermissionDenied("login locked out")  # authenticate() stops here: no backend is tried
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            if username is not None and password is not None:
                login_throttle.record_failure(username, address)
        else:
            login_throttle.record_success(username)
        return user

    def get_user(self, user_id):
        User = get_user_model()
        try:
            pk = User._meta.pk.to_python(user_id)
        except ValidationError:
            return None
        column = User._meta.pk.column
        assert column is not None  # a concrete primary key always has a column
        user = first(User, "u", SQL("{} = %s").format(Identifier("u", column)), [pk])
        return user if user is not None and self.user_can_authenticate(user) else None

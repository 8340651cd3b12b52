"""The request's user is read through annotate.rows: same user, same rules as Django's ModelBackend."""

import pytest
from django.conf import settings
from django.contrib.auth.backends import ModelBackend

from annotate.auth_backend import UserBackend
from tests import factories

pytestmark = pytest.mark.django_db


def test_get_user_reads_the_same_user_as_model_backend(project):
    u = factories.user(project=project)
    mine, django_s = UserBackend().get_user(str(u.pk)), ModelBackend().get_user(u.pk)
    fields = [f.attname for f in type(u)._meta.concrete_fields]
    assert [getattr(mine, f) for f in fields] == [getattr(django_s, f) for f in fields]
    assert mine.check_password("pw-123456")


def test_unknown_malformed_or_inactive_users_are_nobody(project):
    u = factories.user(project=project)
    assert UserBackend().get_user(10**9) is None
    assert UserBackend().get_user("not-a-number") is None
    u.is_active = False
    u.save()
    assert UserBackend().get_user(u.pk) is None


def test_a_logged_in_session_stays_logged_in_until_the_user_is_deactivated(client, project):
    u = factories.user(project=project)
    assert client.login(username=u.username, password="pw-123456")
    assert client.get("/").status_code == 200
    u.is_active = False
    u.save()
    assert client.get("/").status_code == 302  # back to the login page


@pytest.mark.skipif(not settings.REDIS_CACHE_URL, reason="REDIS_CACHE_URL is not set (the PostgreSQL pass sets it)")
def test_with_redis_sessions_are_served_from_the_cache_and_kept_in_the_database(client, project):
    from django.contrib.sessions.backends.cached_db import KEY_PREFIX
    from django.contrib.sessions.models import Session
    from django.core.cache import cache

    u = factories.user(project=project)
    assert client.login(username=u.username, password="pw-123456")
    key = client.cookies["sessionid"].value
    assert cache.get(KEY_PREFIX + key) is not None
    assert Session.objects.filter(session_key=key).exists()  # survives a Redis restart
    cache.delete(KEY_PREFIX + key)
    assert client.get("/").status_code == 200  # read back from the database
    assert cache.get(KEY_PREFIX + key) is not None

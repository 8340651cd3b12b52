import pytest

from tests import factories


@pytest.fixture(scope="session", autouse=True)
def _empty_cache():
    """A shared cache (Redis, with REDIS_CACHE_URL) outlives test runs: start each run empty, so
    no figure cached by an earlier run under a reused key is served."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _fresh_cache_per_test():
    """Database ids can come back after a rollback (SQLite), so a figure cached for one test's
    project must not be served to the next test's project with the same id."""
    from django.core.cache import cache

    yield
    cache.clear()


@pytest.fixture
def project(db):
    return factories.project()


@pytest.fixture
def annotator_user(project):
    return factories.user("ann", project=project)


@pytest.fixture
def manager_user(project):
    return factories.user("mgr", project=project, role="manager")


@pytest.fixture
def admin_user(db):
    return factories.user("root", superuser=True)

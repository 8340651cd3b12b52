import pytest

from tests import factories


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

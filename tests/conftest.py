"""Fixtures shared by the whole suite: two organizations, their people, clients."""

import pytest
from django.test import Client

from pulse.accounts.models import Role
from pulse.core.tenancy import tenant_context
from tests.accounts.factories import PASSWORD, OrganizationFactory, make_member


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # The default hasher costs ~1.5 s per password on a busy 2-core box, and nearly
    # every test makes users; hashing strength is not what the suite is testing.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _locmem_email(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture(autouse=True)
def _tasks_inline(request):
    """Tasks run in the test's own process and database (eager), also when ``REDIS_URL``
    is set: a test asserts what the task did, and no worker shares the test transaction.
    The real broker and worker path is proven by the ``celery_worker`` tests."""
    if request.node.get_closest_marker("celery_worker"):
        yield
        return
    from pulse.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


@pytest.fixture(autouse=True)
def _clear_cache():
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture
def password():
    return PASSWORD


@pytest.fixture
def org(db):
    return OrganizationFactory(name="Acme Ltd")


@pytest.fixture
def other_org(db):
    return OrganizationFactory(name="Globex Corp")


@pytest.fixture
def owner(org):
    return make_member(org, Role.OWNER, full_name="Olivia Owner")


@pytest.fixture
def admin_user(org):
    return make_member(org, Role.ADMIN, full_name="Adam Admin")


@pytest.fixture
def rep(org):
    return make_member(org, Role.SALES_REP, full_name="Rita Rep")


@pytest.fixture
def other_owner(other_org):
    return make_member(other_org, Role.OWNER, full_name="Oscar Other")


@pytest.fixture
def in_org(org, owner):
    """Run the test body inside ``org`` as its owner (services and selectors need it)."""
    with tenant_context(org, actor=owner, source="system"):
        yield org


def login(user, org=None) -> Client:
    """A web client signed in as ``user``, working in ``org``."""
    client = Client()
    client.force_login(user)
    if org is not None:
        session = client.session
        session["pulse_org_id"] = str(org.pk)
        session.save()
    return client


@pytest.fixture
def owner_client(org, owner):
    return login(owner, org)

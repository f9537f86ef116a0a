"""The Celery entry point sets the tenancy context, and only there (rule 1)."""

import uuid

import pytest

from pulse.audit.models import AuditEntry
from pulse.celery import app
from pulse.core import tenancy
from pulse.core.services import record_create
from pulse.core.tasks import TenantTask, tenant_task
from pulse.extras.models import Tag


@tenant_task(name="tests.core.report_context")
def report_context(*, org, actor, label):
    """Report what the task body sees."""
    current = tenancy.get_current_org()
    return {
        "org": str(current.pk),
        "org_arg": str(org.pk),
        "actor": getattr(tenancy.get_current_actor(), "pk", None),
        "actor_arg": getattr(actor, "pk", None),
        "source": tenancy.get_current_source(),
        "label": label,
    }


@tenant_task
def tag_it(*, org, actor, name):
    return str(record_create(Tag, org=org, actor=actor, name=name).pk)


def run(task, **kwargs):
    """Run through Celery's tracer in this process (as a worker would), whatever the broker."""
    return task.apply(kwargs=kwargs).get()


def test_task_runs_inside_its_organization_as_its_actor(org, owner):
    result = run(report_context, **TenantTask.tenant_kwargs(org, owner), label="hello")

    assert result == {
        "org": str(org.pk),
        "org_arg": str(org.pk),
        "actor": owner.pk,
        "actor_arg": owner.pk,
        "source": "task",
        "label": "hello",
    }
    assert tenancy.get_current_org() is None  # the context does not leak out of the task


def test_task_without_actor_runs_as_nobody(org):
    result = run(report_context, **TenantTask.tenant_kwargs(org), label="x")
    assert (result["org"], result["actor"], result["source"]) == (str(org.pk), None, "task")


def test_task_whose_organization_is_gone_exits_cleanly(db):
    assert run(report_context, org_id=str(uuid.uuid4()), actor_id=None, label="x") is None


def test_task_whose_actor_is_gone_runs_without_one(org):
    result = run(report_context, org_id=str(org.pk), actor_id=987654, label="x")
    assert (result["org"], result["actor"]) == (str(org.pk), None)


def test_task_without_org_id_is_refused(db):
    with pytest.raises(TypeError, match="org_id"):
        run(report_context, label="x")


def test_task_writes_are_audited_as_task_with_the_actor(org, owner):
    tag_id = tag_it.apply(kwargs={**TenantTask.tenant_kwargs(org, owner), "name": "Hot"})
    entry = AuditEntry.objects.unscoped().get(object_id=tag_id.get(), action="create")
    assert (entry.organization_id, entry.actor_id, entry.source) == (org.pk, owner.pk, "task")
    assert entry.request_id == tag_id.id.replace("-", "")


def test_decorator_registers_named_and_bare_tasks():
    assert isinstance(app.tasks["tests.core.report_context"], TenantTask)
    assert isinstance(app.tasks["tests.core.test_tasks.tag_it"], TenantTask)


def test_enqueue_checks_arguments_before_sending(org, owner):
    with pytest.raises(TypeError):
        tag_it.enqueue(org=org, actor=owner, nmae="typo")


@pytest.fixture
def eager():
    """Run sent tasks in-process whatever the broker (REDIS_URL may point at a real one)."""
    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


def test_enqueue_on_commit_sends_only_after_commit(
    org, owner, eager, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        tag_it.enqueue_on_commit(org=org, actor=owner, name="Later")
        assert Tag.objects.unscoped().filter(name="Later").count() == 0
    assert len(callbacks) == 1
    callbacks[0]()
    assert Tag.objects.unscoped().filter(name="Later", organization=org).count() == 1

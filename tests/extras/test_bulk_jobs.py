"""Bulk jobs: "select all N matching" in the background, with progress, safe to run twice."""

from __future__ import annotations

import pytest
from django.urls import reverse

from pulse.accounts.models import Role
from pulse.audit.models import AuditEntry
from pulse.contacts.models import Company, Contact
from pulse.contacts.services import bulk_job_start
from pulse.core.errors import ApplicationError, PermissionDeniedError
from pulse.core.tasks import TenantTask
from pulse.core.tenancy import tenant_context
from pulse.core.testing import api_client, web_client
from pulse.core.testing.records import snapshot
from pulse.extras import services as extras_services
from pulse.extras.models import BulkJob, Notification
from pulse.extras.services import bulkjob_run
from pulse.extras.tasks import run_bulk_job
from tests.accounts.factories import make_member
from tests.contacts.factories import make_company, make_contact
from tests.extras.factories import make_bulk_job, make_tag

pytestmark = pytest.mark.django_db


def _start(org, actor, **kwargs):
    """Start a job without running it (the worker would start it after commit)."""
    return bulk_job_start(org=org, actor=actor, model=kwargs.pop("model", Contact), **kwargs)


def test_job_runs_in_chunks_and_reports_progress(in_org, owner, monkeypatch):
    monkeypatch.setattr(extras_services, "JOB_CHUNK_SIZE", 2)
    contacts = [make_contact(in_org, owner, lifecycle_stage="lead") for _ in range(5)]
    job = _start(
        in_org,
        owner,
        action="stage",
        params={"lifecycle_stage": "customer"},
        query="lifecycle_stage=lead",
    )
    assert (job.status, job.total, job.done) == ("queued", 5, 0)

    finished = bulkjob_run(job_id=job.pk, actor=owner)

    assert (finished.status, finished.total, finished.done, finished.failed) == ("done", 5, 5, 0)
    assert finished.result == {"processed": 5, "failed": 0}
    assert finished.percent == 100
    assert finished.cursor == str(max(c.pk for c in contacts))
    assert set(Contact.objects.values_list("lifecycle_stage", flat=True)) == {"customer"}
    # Every record's change is in the change log, by the actor.
    entries = AuditEntry.objects.filter(object_id__in=[str(c.pk) for c in contacts])
    assert entries.filter(action="update").count() == 5


def test_running_a_job_twice_changes_nothing_more(in_org, owner):
    tag = make_tag(in_org, owner, name="Webinar")
    contacts = [make_contact(in_org, owner) for _ in range(3)]
    job = _start(in_org, owner, action="tag", params={"tag": str(tag.pk)}, query="")
    bulkjob_run(job_id=job.pk, actor=owner)
    versions = sorted(Contact.objects.values_list("version", flat=True))

    again = bulkjob_run(job_id=job.pk, actor=owner)

    assert (again.status, again.done) == ("done", 3)
    assert sorted(Contact.objects.values_list("version", flat=True)) == versions
    assert all(list(c.tags.all()) == [tag] for c in contacts)


def test_a_redelivered_job_resumes_after_its_cursor(in_org, owner, monkeypatch):
    monkeypatch.setattr(extras_services, "JOB_CHUNK_SIZE", 2)
    contacts = sorted((make_contact(in_org, owner) for _ in range(4)), key=lambda c: c.pk)
    job = _start(in_org, owner, action="stage", params={"lifecycle_stage": "evangelist"}, query="")
    # A worker died after the first chunk: status running, cursor after two records.
    BulkJob.objects.filter(pk=job.pk).update(status="running", done=2, cursor=str(contacts[1].pk))

    finished = bulkjob_run(job_id=job.pk, actor=owner)

    assert (finished.status, finished.done) == ("done", 4)
    stages = {c.pk: c.lifecycle_stage for c in Contact.objects.all()}
    assert [stages[c.pk] for c in contacts] == ["lead", "lead", "evangelist", "evangelist"]


def test_refused_records_are_skipped_with_their_reason(in_org, owner):
    good = make_contact(in_org, owner, last_name="Good")
    bad = make_contact(in_org, owner, last_name="Bad")
    # A row that no longer validates (written around the services, as old data can be).
    Contact.objects.filter(pk=bad.pk).update(email="not an email")
    job = _start(
        in_org, owner, action="stage", params={"lifecycle_stage": "customer"}, ids=[good.pk, bad.pk]
    )

    finished = bulkjob_run(job_id=job.pk, actor=owner)

    assert (finished.status, finished.done, finished.failed) == ("done", 2, 1)
    assert [e["id"] for e in finished.errors] == [str(bad.pk)]
    assert "email" in finished.errors[0]["message"].lower()
    good.refresh_from_db()
    bad.refresh_from_db()
    assert (good.lifecycle_stage, bad.lifecycle_stage) == ("customer", "lead")


def test_the_starter_is_notified_when_done(in_org, owner, django_capture_on_commit_callbacks):
    make_contact(in_org, owner)
    job = _start(in_org, owner, action="stage", params={"lifecycle_stage": "customer"}, query="")

    with django_capture_on_commit_callbacks(execute=True):
        bulkjob_run(job_id=job.pk, actor=owner)

    note = Notification.objects.get(recipient=owner)
    assert note.verb == "Set lifecycle stage on 1 contact finished: 1 done."
    assert note.url == reverse("contacts:contact_list")


def test_task_runs_the_job_inside_the_organization(in_org, owner, org):
    company = make_company(in_org, owner, industry="")
    rep = make_member(org, Role.SALES_REP)
    job = _start(
        in_org, owner, model=Company, action="assign", params={"assigned_to": rep.pk}, query=""
    )

    status = run_bulk_job.apply(
        kwargs={**TenantTask.tenant_kwargs(org, owner), "job_id": str(job.pk)}
    ).get()

    assert status == "done"
    company.refresh_from_db()
    assert company.assigned_to == rep


def test_a_job_only_touches_what_its_starter_may_edit(org, in_org, owner):
    org.record_visibility = "team"
    org.save(update_fields=["record_visibility"])
    rep = make_member(org, Role.SALES_REP)
    mine = make_contact(in_org, owner, assigned_to=rep)
    theirs = make_contact(in_org, owner, assigned_to=owner)
    before = snapshot(theirs)
    with tenant_context(org, actor=rep):
        job = _start(org, rep, action="stage", params={"lifecycle_stage": "customer"}, query="")
        finished = bulkjob_run(job_id=job.pk, actor=rep)

    assert (finished.total, finished.done) == (1, 1)
    mine.refresh_from_db()
    assert mine.lifecycle_stage == "customer"
    assert snapshot(theirs) == before


def test_bad_requests_are_refused_before_queueing(org, in_org, owner):
    viewer = make_member(org, Role.READ_ONLY)
    cases = [
        (owner, {"action": "explode", "query": ""}, {"action"}),
        (owner, {"action": "tag", "params": {"tag": "nope"}, "query": ""}, {"params.tag"}),
        (
            owner,
            {"action": "assign", "params": {"assigned_to": 999999}, "query": ""},
            {"params.assigned_to"},
        ),
        (
            owner,
            {"action": "stage", "params": {"lifecycle_stage": "x"}, "query": ""},
            {"params.lifecycle_stage"},
        ),
        (owner, {"action": "stage", "model": Company, "query": ""}, {"action"}),
        (owner, {"action": "delete", "query": "created_after=yesterday"}, {"filter"}),
        (owner, {"action": "delete", "ids": []}, {"ids"}),
    ]
    for actor, kwargs, fields in cases:
        with pytest.raises(ApplicationError) as caught:
            _start(in_org, actor, **kwargs)
        assert set(caught.value.errors) == fields, kwargs
    with pytest.raises(PermissionDeniedError):
        _start(in_org, viewer, action="stage", params={"lifecycle_stage": "lead"}, query="")
    assert BulkJob.objects.count() == 0


# --- progress page ---------------------------------------------------------------------


def test_progress_partial_polls_until_finished(org, in_org, owner):
    job = make_bulk_job(in_org, owner, total=10)
    BulkJob.objects.filter(pk=job.pk).update(status="running", done=4)
    client = web_client(owner, org)
    url = reverse("extras:bulkjob_progress", args=[job.pk])

    running = client.get(url, headers={"HX-Request": "true"})
    page = client.get(url)

    content = running.content.decode()
    assert 'hx-trigger="every 1s"' in content
    assert 'aria-valuenow="40"' in content
    assert "4 of 10" in content
    assert "HX-Trigger" not in running
    assert "<html" in page.content.decode()


def test_someone_elses_job_is_not_found(org, in_org, owner):
    job = make_bulk_job(in_org, owner)
    other = web_client(make_member(org, Role.ADMIN), org)

    response = other.get(reverse("extras:bulkjob_progress", args=[job.pk]))

    assert response.status_code == 404


# --- API -------------------------------------------------------------------------------


def test_api_bulk_action_with_ids_then_poll_the_job(
    org, in_org, owner, django_capture_on_commit_callbacks
):
    tag = make_tag(in_org, owner, name="Old")
    contacts = [make_contact(in_org, owner, tags=[tag]) for _ in range(2)]
    client = api_client(owner, org)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("contact-bulk-action-list"),
            {
                "action": "untag",
                "ids": [str(c.pk) for c in contacts],
                "params": {"tag": str(tag.pk)},
            },
            format="json",
        )

    assert response.status_code == 202
    job_id = response.json()["id"]
    assert response.json()["status"] == "queued"
    polled = client.get(reverse("bulkjob-detail", args=[job_id])).json()
    assert (polled["status"], polled["total"], polled["done"], polled["percent"]) == (
        "done",
        2,
        2,
        100,
    )
    assert all(list(c.tags.all()) == [] for c in contacts)
    listed = client.get(reverse("bulkjob-list")).json()["results"]
    assert [j["id"] for j in listed] == [job_id]


def test_api_bulk_action_with_a_filter_on_companies(
    org, in_org, owner, django_capture_on_commit_callbacks
):
    make_company(in_org, owner, name="Initech", industry="Software")
    other = make_company(in_org, owner, name="Acme", industry="Anvils")
    client = api_client(owner, org)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("company-bulk-action-list"),
            {"action": "delete", "filter": "industry=software"},
            format="json",
        )

    assert response.status_code == 202
    assert response.json()["total"] == 1
    assert list(Company.objects.all()) == [other]


def test_api_bulk_action_errors(org, in_org, owner):
    viewer = api_client(make_member(org, Role.READ_ONLY), org)
    client = api_client(owner, org)
    url = reverse("contact-bulk-action-list")

    both = client.post(url, {"action": "delete", "ids": [], "filter": ""}, format="json")
    neither = client.post(url, {"action": "delete"}, format="json")
    bad_param = client.post(
        url, {"action": "tag", "filter": "", "params": {"tag": "x"}}, format="json"
    )
    denied = viewer.post(url, {"action": "delete", "filter": ""}, format="json")

    assert both.status_code == neither.status_code == bad_param.status_code == 400
    assert set(neither.json()["errors"]) == {"ids"}
    assert bad_param.json()["errors"] == {"params.tag": ["Choose a tag."]}
    assert denied.status_code == 403
    assert BulkJob.objects.count() == 0


def test_api_jobs_of_another_organization_are_not_found(org, in_org, owner, other_org):
    from tests.accounts.factories import make_member as member

    job = make_bulk_job(in_org, owner)
    outsider = api_client(member(other_org, Role.OWNER), other_org)

    response = outsider.get(reverse("bulkjob-detail", args=[job.pk]))

    assert response.status_code == 404

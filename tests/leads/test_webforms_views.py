"""Web forms: the admin pages, the API and the filters, from the generic base classes."""

from __future__ import annotations

import pytest
from django.urls import reverse

from pulse.core.testing import APITestCases, FilterSetTestCase, ViewTestCases, web_client
from pulse.leads.filtersets import WebFormFilterSet, WebFormSubmissionFilterSet
from pulse.leads.models import WebForm, WebFormSubmission
from pulse.leads.webforms import webform_submit
from tests.leads.factories import make_web_form, make_web_form_submission

DESIGN = {
    "field_name": ["first_name", "email", ""],
    "field_label": ["Your name", "Work email", ""],
    "field_required": ["0", "1", "0"],
}


class TestWebFormViews(ViewTestCases.PrimaryObjectViewTestCase):
    model = WebForm
    url_names = {"edit": "leads:webform_edit"}
    form_data = {"name": "Contact sales", "default_source": "web_form", "active": "on", **DESIGN}
    edit_data = {"name": "Talk to sales", "default_source": "event", **DESIGN}
    invalid_form_data = {"name": "", **DESIGN}


class TestWebFormAPI(APITestCases.APITestCase):
    model = WebForm
    api_basename = "webform"
    create_data = {
        "name": "API form",
        "fields": [{"name": "email", "label": "Email", "required": True}],
    }
    update_data = {"name": "Renamed", "active": False}
    invalid_create_data = {
        "name": "Bad",
        "fields": [{"name": "password", "label": "Password", "required": True}],
    }
    invalid_create_error_fields = {"fields"}


class TestWebFormSubmissionAPI(APITestCases.ListAPI, APITestCases.RetrieveAPI):
    model = WebFormSubmission
    api_basename = "webformsubmission"


class TestWebFormFilterSet(FilterSetTestCase):
    model = WebForm
    filterset = WebFormFilterSet
    api_basename = "webform"

    def filter_objects(self, world):
        return {
            "sales": make_web_form(world.org, world.owner, name="Contact sales"),
            "paper": make_web_form(
                world.org,
                world.owner,
                name="Whitepaper",
                double_opt_in=True,
                active=False,
            ),
        }

    filter_cases = [
        ({"search": "sales"}, {"sales"}),
        ({"active": "true"}, {"sales"}),
        ({"active": "false"}, {"paper"}),
        ({"double_opt_in": "true"}, {"paper"}),
        ({}, {"sales", "paper"}),
    ]


class TestWebFormSubmissionFilterSet(FilterSetTestCase):
    model = WebFormSubmission
    filterset = WebFormSubmissionFilterSet
    api_basename = "webformsubmission"

    def filter_objects(self, world):
        first = make_web_form(world.org, world.owner)
        second = make_web_form(world.org, world.owner)
        self.first_form = str(first.pk)
        return {
            "ok": make_web_form_submission(world.org, world.owner, form=first),
            "spam": make_web_form_submission(world.org, world.owner, form=first, status="spam"),
            "other": make_web_form_submission(world.org, world.owner, form=second),
        }

    def test_filter_cases(self, world, named_rows):
        self.filter_cases = [
            ({"form": self.first_form}, {"ok", "spam"}),
            ({"status": "spam"}, {"spam"}),
            ({"status": "accepted", "form": self.first_form}, {"ok"}),
        ]
        super().test_filter_cases(world, named_rows)

    def test_api_list_agrees_with_filterset(self, world, named_rows):
        self.filter_cases = [
            ({"form": self.first_form}, {"ok", "spam"}),
            ({"status": "spam"}, {"spam"}),
        ]
        super().test_api_list_agrees_with_filterset(world, named_rows)

    filter_cases = [({"form": "set per test"}, set()), ({"status": "spam"}, {"spam"})]


@pytest.fixture
def world(db):
    from pulse.core.testing import World

    return World.build()


def test_list_shows_submission_and_lead_counts_in_few_queries(
    world, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    with world.inside():
        forms = [make_web_form(world.org, world.owner) for _ in range(3)]
        for i, form in enumerate(forms):
            for j in range(i + 1):
                webform_submit(
                    form=form,
                    data={"first_name": "Ada", "email": f"ada{i}{j}@example.com"},
                    ip=f"10.0.{i}.{j}",
                )
            webform_submit(form=form, data={"homepage": "spam.example"}, ip="10.9.9.9")
    client = web_client(world.owner, world.org)
    client.get(reverse("leads:webform_list"))  # warm the session and permission caches
    with django_assert_max_num_queries(12):
        response = client.get(reverse("leads:webform_list"))
    assert response.status_code == 200
    counts = [
        (c.submission_count, c.lead_count)
        for c in sorted(response.context["object_list"], key=lambda f: f.name)
    ]
    assert counts == [(2, 1), (3, 2), (4, 3)]


def test_detail_shows_url_snippet_preview_and_submissions_in_few_queries(
    world, django_assert_max_num_queries
):
    with world.inside():
        form = make_web_form(world.org, world.owner, name="Contact <b>sales</b>")
        for i in range(5):
            webform_submit(
                form=form,
                data={"first_name": f"Ada {i}", "email": f"ada{i}@example.com"},
                ip="10.0.0.1",
                utm={"utm_source": "newsletter"},
                referrer="https://example.com/pricing",
            )
    client = web_client(world.owner, world.org)
    client.get(reverse("leads:webform_detail", args=[form.pk]))
    with django_assert_max_num_queries(14):
        response = client.get(reverse("leads:webform_detail", args=[form.pk]))
    content = response.content.decode()
    assert response.status_code == 200
    assert f"/f/{form.key}/" in content
    assert "Contact &lt;b&gt;sales&lt;/b&gt;" in content
    assert "<b>sales</b>" not in content
    assert 'data-testid="preview"' in content
    # The snippet is shown as text: its tags are escaped inside the textarea.
    assert "&lt;form action=&quot;http" in content
    assert "newsletter" in content and "https://example.com/pricing" in content
    assert content.count("10.0.0.1") == 5


def test_designer_saves_fields_in_page_order_and_refuses_duplicates(world):
    client = web_client(world.owner, world.org)
    response = client.post(
        reverse("leads:webform_create"),
        {
            "name": "Event sign-up",
            "default_source": "event",
            "field_name": ["email", "company_name", "first_name"],
            "field_label": ["Email", "Company", "Name"],
            "field_required": ["1", "0", "1"],
        },
    )
    assert response.status_code == 302
    form = WebForm.objects.unscoped().get(organization=world.org, name="Event sign-up")
    assert form.fields == [
        {"name": "email", "label": "Email", "required": True},
        {"name": "company_name", "label": "Company", "required": False},
        {"name": "first_name", "label": "Name", "required": True},
    ]
    assert response["Location"] == reverse("leads:webform_detail", args=[form.pk])

    response = client.post(
        reverse("leads:webform_edit", args=[form.pk]),
        {
            "name": "Event sign-up",
            "default_source": "event",
            "field_name": ["email", "email"],
            "field_label": ["Email", "Email again"],
            "field_required": ["1", "1"],
        },
    )
    assert response.status_code == 400
    assert "is on the form twice" in response.content.decode()
    form.refresh_from_db()
    assert len(form.fields) == 3


def test_designer_renders_rows_for_existing_fields(world):
    with world.inside():
        form = make_web_form(world.org, world.owner)
    response = web_client(world.owner, world.org).get(reverse("leads:webform_edit", args=[form.pk]))
    content = response.content.decode()
    assert response.status_code == 200
    assert content.count('name="field_name"') == 4  # 2 fields, 1 blank row, 1 template row
    assert 'value="First name"' in content


def test_a_new_form_starts_with_name_and_email_rows(org, owner):
    html = web_client(owner, org).get(reverse("leads:webform_create")).content.decode()

    for name in ("first_name", "last_name", "email"):
        assert f'value="{name}" selected' in html or f'value="{name}"selected' in html, name

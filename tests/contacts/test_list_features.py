"""List pages: the column chooser, inline edit, untag, "select all N matching", export link."""

from __future__ import annotations

import json

import pytest
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from pulse.accounts.models import Role
from pulse.contacts import tables
from pulse.contacts.models import Company, Contact
from pulse.core.testing import web_client
from pulse.core.testing.records import snapshot
from pulse.extras.models import BulkJob
from pulse.extras.services import customfield_create, savedview_create
from tests.accounts.factories import make_member
from tests.contacts.factories import make_company, make_contact
from tests.extras.factories import make_tag

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture
def client_(org, owner):
    return web_client(owner, org)


def _keys(response) -> list[str]:
    return [c.key for c in response.context["table"].columns]


def _header_keys(response) -> list[str]:
    import re

    head = response.content.decode().split("<thead", 1)[1].split("</thead>", 1)[0]
    return re.findall(r'<th scope="col" data-column="([^"]+)"', head)


# --- the column chooser -------------------------------------------------------------------


def test_contact_list_shows_the_default_columns(in_org, owner, client_):
    make_contact(in_org, owner)

    response = client_.get(reverse("contacts:contact_list"))

    expected = [
        "full_name",
        "email",
        "phone",
        "company",
        "lifecycle_stage",
        "assigned_to",
        "tags",
        "created_at",
    ]
    assert _keys(response) == expected
    assert _header_keys(response) == expected
    assert 'data-testid="column-chooser"' in response.content.decode()


def test_columns_param_chooses_and_orders_the_columns(in_org, owner, client_):
    make_contact(in_org, owner, title="Countess", department="Maths")

    response = client_.get(
        reverse("contacts:contact_list"), {"columns": "department,email,nope,title,email"}
    )

    assert _keys(response) == ["department", "email", "title"]
    assert _header_keys(response) == ["department", "email", "title"]
    row = response.content.decode().split("<tbody>", 1)[1]
    assert row.index("Maths") < row.index("Countess")


def test_repeated_columns_params_work_like_a_comma_list(in_org, owner, client_):
    response = client_.get(reverse("contacts:contact_list"), {"columns": ["email", "title"]})

    assert _keys(response) == ["email", "title"]


def test_only_unknown_columns_fall_back_to_the_defaults(in_org, owner, client_):
    response = client_.get(reverse("contacts:contact_list"), {"columns": "nope,,zilch"})

    assert _keys(response) == tables.default_keys(Contact)
    assert response.context["table"].explicit is False


def test_last_choice_is_remembered_per_list(in_org, owner, client_):
    client_.get(reverse("contacts:contact_list"), {"columns": "email,title"})
    client_.get(reverse("contacts:company_list"), {"columns": "industry,name"})

    contacts = client_.get(reverse("contacts:contact_list"))
    companies = client_.get(reverse("contacts:company_list"))

    assert _keys(contacts) == ["email", "title"]
    assert _keys(companies) == ["industry", "name"]
    # Another person's choice is their own.
    other = web_client(make_member(in_org, Role.SALES_REP), in_org)
    assert _keys(other.get(reverse("contacts:contact_list"))) == tables.default_keys(Contact)


def test_htmx_request_returns_only_the_table_with_the_chosen_columns(in_org, owner, client_):
    make_company(in_org, owner, name="Initech", industry="Software")

    response = client_.get(
        reverse("contacts:company_list"), {"columns": "industry,name"}, headers=HTMX
    )

    content = response.content.decode()
    assert "<html" not in content
    assert _header_keys(response) == ["industry", "name"]
    assert 'data-columns="industry,name"' in content


def test_sort_links_keep_the_chosen_columns(in_org, owner, client_):
    response = client_.get(reverse("contacts:contact_list"), {"columns": "email,last_name"})

    head = response.content.decode().split("<thead", 1)[1].split("</thead>", 1)[0]
    assert "columns=email%2Clast_name&amp;ordering=email" in head
    assert "columns=email%2Clast_name&amp;ordering=last_name" in head


def test_saved_view_keeps_the_columns(in_org, owner, client_):
    view = savedview_create(
        org=in_org,
        actor=owner,
        content_type=ContentType.objects.get_for_model(Contact),
        name="Emails",
        columns=["email", "full_name"],
    )

    response = client_.get(f"{reverse('contacts:contact_list')}?{view.querystring}")

    assert _keys(response) == ["email", "full_name"]


def test_saving_a_view_from_the_page_stores_its_columns(in_org, owner, client_):
    response = client_.post(
        reverse("extras:savedview_create"),
        {
            "content_type": ContentType.objects.get_for_model(Contact).pk,
            "name": "Slim",
            "querystring": "columns=email%2Ctitle&lifecycle_stage=lead",
            "next": reverse("contacts:contact_list"),
        },
    )

    assert response.status_code == 302
    saved = client_.get(response["Location"])
    assert _keys(saved) == ["email", "title"]


def test_custom_field_column_shows_and_sorts(in_org, owner, client_):
    customfield_create(
        org=in_org,
        actor=owner,
        content_type=ContentType.objects.get_for_model(Contact),
        key="budget",
        label="Budget",
        field_type="number",
    )
    make_contact(in_org, owner, last_name="Small", custom_fields={"budget": 5})
    make_contact(in_org, owner, last_name="Big", custom_fields={"budget": 500})

    response = client_.get(
        reverse("contacts:contact_list"),
        {"columns": "last_name,cf_budget", "ordering": "-cf_budget"},
    )

    assert _keys(response) == ["last_name", "cf_budget"]
    names = [record.last_name for record, _cells in response.context["rows"]]
    assert names == ["Big", "Small"]
    chooser = [c.key for c, _shown in response.context["table"].chooser()]
    assert "cf_budget" in chooser


def test_company_contacts_column_counts_visible_contacts(in_org, owner, client_):
    company = make_company(in_org, owner, name="Initech")
    make_contact(in_org, owner, company=company)
    make_contact(in_org, owner, company=company)

    response = client_.get(reverse("contacts:company_list"), {"columns": "name,contacts"})

    record, cells = response.context["rows"][0]
    assert record == company
    assert [column.key for column, _html in cells] == ["name", "contacts"]
    assert f'?company={company.pk}">2</a>' in cells[1][1]


def test_every_column_renders_for_both_lists(in_org, owner, client_):
    parent = make_company(in_org, owner, name="Parent Co")
    company = make_company(
        in_org,
        owner,
        name="Child Co",
        parent=parent,
        annual_revenue="1000000",
        website="https://child.example",
        phone="+359 2 123 4567",
    )
    tag = make_tag(in_org, owner, name="VIP")
    make_contact(
        in_org,
        owner,
        company=company,
        tags=[tag],
        phone="+359 2 987 6543",
        website="https://ada.example",
    )
    for model, url_name in ((Contact, "contact_list"), (Company, "company_list")):
        keys = ",".join(c.key for c in tables.available_columns(model))
        response = client_.get(reverse(f"contacts:{url_name}"), {"columns": keys})
        assert response.status_code == 200
        assert _header_keys(response) == keys.split(",")
    assert "part of Parent Co" in response.content.decode()


# --- inline edit --------------------------------------------------------------------------


def _inline(model_name: str, record, column: str) -> str:
    return reverse(f"contacts:{model_name}_inline_edit", args=[record.pk]) + f"?column={column}"


def test_list_cells_offer_inline_edit_to_editors_only(org, in_org, owner, client_):
    make_contact(in_org, owner)
    viewer = make_member(org, Role.READ_ONLY)

    editor_page = client_.get(reverse("contacts:contact_list")).content.decode()
    viewer_page = web_client(viewer, org).get(reverse("contacts:contact_list")).content.decode()

    assert "cell-edit-btn" in editor_page
    assert "cell-editable" in editor_page
    assert "cell-edit-btn" not in viewer_page


def test_inline_edit_form_then_save_through_the_service(in_org, owner, client_):
    contact = make_contact(in_org, owner, email="old@example.com")
    url = _inline("contact", contact, "email")

    form = client_.get(url + f"&version={contact.version}", headers=HTMX)
    saved = client_.post(
        url, {"email": "new@example.com", "expected_version": contact.version}, headers=HTMX
    )

    assert form.status_code == 200
    assert 'name="email"' in form.content.decode()
    assert f'name="expected_version" value="{contact.version}"' in form.content.decode()
    assert saved.status_code == 200
    assert "mailto:new@example.com" in saved.content.decode()
    contact.refresh_from_db()
    assert contact.email == "new@example.com"
    assert contact.version == 2
    trigger = json.loads(saved["HX-Trigger"])
    assert trigger == {"pulse:rowVersion": {"id": str(contact.pk), "version": 2}}


def test_inline_edit_of_the_name_changes_both_parts(in_org, owner, client_):
    contact = make_contact(in_org, owner, first_name="Ada", last_name="Byron")

    response = client_.post(
        _inline("contact", contact, "full_name"),
        {"first_name": "Augusta", "last_name": "King", "expected_version": contact.version},
        headers=HTMX,
    )

    assert "Augusta King" in response.content.decode()
    contact.refresh_from_db()
    assert (contact.first_name, contact.last_name) == ("Augusta", "King")


def test_inline_edit_of_owner_stage_and_company(in_org, owner, client_):
    rep = make_member(in_org, Role.SALES_REP, full_name="Rita Rep")
    company = make_company(in_org, owner, name="Initech")
    contact = make_contact(in_org, owner)

    for column, data in (
        ("assigned_to", {"assigned_to": rep.pk}),
        ("lifecycle_stage", {"lifecycle_stage": "customer"}),
        ("company", {"company": company.pk}),
    ):
        contact.refresh_from_db()
        response = client_.post(
            _inline("contact", contact, column),
            {**data, "expected_version": contact.version},
            headers=HTMX,
        )
        assert response.status_code == 200, column
    contact.refresh_from_db()
    assert (contact.assigned_to, contact.lifecycle_stage, contact.company) == (
        rep,
        "customer",
        company,
    )
    assert "Initech" in response.content.decode()


def test_stale_version_shows_the_conflict_and_overwrites_nothing(in_org, owner, client_):
    contact = make_contact(in_org, owner, title="CEO")
    opened = contact.version
    # Someone else saves in between.
    client_.post(
        _inline("contact", contact, "title"),
        {"title": "CTO", "expected_version": opened},
        headers=HTMX,
    )

    response = client_.post(
        _inline("contact", contact, "title"),
        {"title": "CFO", "expected_version": opened},
        headers=HTMX,
    )

    content = response.content.decode()
    assert response.status_code == 200  # htmx swaps it into the cell
    assert "Someone else changed this record" in content
    assert 'data-testid="inline-edit-reload"' in content
    contact.refresh_from_db()
    assert contact.title == "CTO"


def test_invalid_value_shows_the_error_in_the_cell(in_org, owner, client_):
    contact = make_contact(in_org, owner, email="ok@example.com")
    before = snapshot(contact)

    htmx = client_.post(
        _inline("contact", contact, "email"),
        {"email": "not-an-email", "expected_version": contact.version},
        headers=HTMX,
    )
    plain = client_.post(
        _inline("contact", contact, "email"),
        {"email": "not-an-email", "expected_version": contact.version},
    )

    assert htmx.status_code == 200
    assert 'data-testid="inline-edit-errors"' in htmx.content.decode()
    assert "valid email" in htmx.content.decode()
    assert plain.status_code == 400
    assert snapshot(contact) == before


def test_service_refusal_shows_in_the_cell(in_org, owner, client_):
    contact = make_contact(in_org, owner, first_name="", last_name="Solo", email="")
    before = snapshot(contact)

    response = client_.post(
        _inline("contact", contact, "last_name"),
        {"last_name": "", "expected_version": contact.version},
        headers=HTMX,
    )

    assert "Give the contact a name or an email address." in response.content.decode()
    assert snapshot(contact) == before


def test_cancel_returns_the_cell_unchanged(in_org, owner, client_):
    contact = make_contact(in_org, owner, title="CEO")

    response = client_.get(_inline("contact", contact, "title") + "&cancel=1", headers=HTMX)

    assert response.status_code == 200
    assert "CEO" in response.content.decode()
    assert "<form" not in response.content.decode()


def test_inline_edit_of_a_company(in_org, owner, client_):
    company = make_company(in_org, owner, name="Initech", industry="")

    form = client_.get(_inline("company", company, "industry"), headers=HTMX)
    response = client_.post(
        _inline("company", company, "industry"),
        {"industry": "Software", "expected_version": company.version},
        headers=HTMX,
    )

    assert 'name="industry"' in form.content.decode()
    assert "Software" in response.content.decode()
    company.refresh_from_db()
    assert company.industry == "Software"


def test_inline_edit_of_a_custom_field_keeps_the_other_values(in_org, owner, client_):
    content_type = ContentType.objects.get_for_model(Contact)
    for key, field_type in (("tier", "choice"), ("budget", "number")):
        customfield_create(
            org=in_org,
            actor=owner,
            content_type=content_type,
            key=key,
            label=key.title(),
            field_type=field_type,
            choices=["gold", "silver"] if field_type == "choice" else None,
        )
    contact = make_contact(in_org, owner, custom_fields={"tier": "gold", "budget": 7})

    response = client_.post(
        _inline("contact", contact, "cf_tier"),
        {"cf_tier": "silver", "expected_version": contact.version},
        headers=HTMX,
    )
    bad = client_.post(
        _inline("contact", contact, "cf_budget"),
        {"cf_budget": "lots", "expected_version": contact.version + 1},
        headers=HTMX,
    )

    assert "silver" in response.content.decode()
    assert 'data-testid="inline-edit-errors"' in bad.content.decode()
    contact.refresh_from_db()
    assert contact.custom_fields == {"tier": "silver", "budget": 7}


def test_read_only_user_cannot_inline_edit(org, in_org, owner):
    contact = make_contact(in_org, owner, title="CEO")
    before = snapshot(contact)
    viewer = web_client(make_member(org, Role.READ_ONLY), org)

    get = viewer.get(_inline("contact", contact, "title"), headers=HTMX)
    post = viewer.post(
        _inline("contact", contact, "title"), {"title": "X", "expected_version": 1}, headers=HTMX
    )

    assert (get.status_code, post.status_code) == (403, 403)
    assert snapshot(contact) == before


def test_unknown_or_read_only_column_is_not_found(in_org, owner, client_):
    contact = make_contact(in_org, owner)

    for column in ("nope", "tags", "created_at", ""):
        response = client_.get(_inline("contact", contact, column), headers=HTMX)
        assert response.status_code == 404, column


def test_other_organizations_record_is_not_found(in_org, owner, other_org, other_owner):
    contact = make_contact(in_org, owner, title="CEO")
    before = snapshot(contact)
    intruder = web_client(other_owner, other_org)

    response = intruder.post(
        _inline("contact", contact, "title"), {"title": "Pwned", "expected_version": 1}
    )

    assert response.status_code == 404
    assert snapshot(contact) == before


# --- bulk: untag, select all matching, export ---------------------------------------------


def test_bulk_untag_removes_only_that_tag(in_org, owner, client_):
    keep, drop = make_tag(in_org, owner, name="Keep"), make_tag(in_org, owner, name="Drop")
    contacts = [make_contact(in_org, owner, tags=[keep, drop]) for _ in range(2)]

    response = client_.post(
        reverse("contacts:contact_bulk"),
        {"action": "untag", "tag": drop.pk, "ids": [c.pk for c in contacts]},
    )

    assert response.status_code == 302
    for contact in contacts:
        assert list(contact.tags.all()) == [keep]


def test_bulk_untag_companies(in_org, owner, client_):
    tag = make_tag(in_org, owner, name="Old")
    company = make_company(in_org, owner, tags=[tag])

    client_.post(
        reverse("contacts:company_bulk"), {"action": "untag", "tag": tag.pk, "ids": [company.pk]}
    )

    assert list(company.tags.all()) == []


def test_bulk_without_selection_is_refused(in_org, owner, client_):
    contact = make_contact(in_org, owner)
    before = snapshot(contact)

    response = client_.post(
        reverse("contacts:contact_bulk"),
        {"action": "stage", "lifecycle_stage": "customer"},
        follow=True,
    )

    assert "Select at least one record." in response.content.decode()
    assert snapshot(contact) == before


def test_select_all_matching_runs_a_background_job_over_the_filter(
    in_org, owner, client_, django_capture_on_commit_callbacks
):
    tag = make_tag(in_org, owner, name="Webinar")
    leads = [make_contact(in_org, owner, lifecycle_stage="lead") for _ in range(3)]
    customer = make_contact(in_org, owner, lifecycle_stage="customer")
    back = reverse("contacts:contact_list") + "?lifecycle_stage=lead"

    with django_capture_on_commit_callbacks(execute=True):
        response = client_.post(
            reverse("contacts:contact_bulk"),
            {
                "action": "tag",
                "tag": tag.pk,
                "select_all": "1",
                "query": "lifecycle_stage=lead&columns=email&ordering=name",
                "ids": [leads[0].pk],
                "next": back,
            },
        )

    assert response.status_code == 302
    job = BulkJob.objects.get()
    assert (job.status, job.total, job.done, job.failed) == ("done", 3, 3, 0)
    assert job.params == {"action": "tag", "tag": str(tag.pk), "query": job.params["query"]}
    assert {c.pk for c in tag.contacts.all()} == {c.pk for c in leads}
    assert list(customer.tags.all()) == []
    # The list page shows the job's progress bar (once).
    page = client_.get(back)
    assert page.context["bulk_jobs"] == [str(job.pk)]
    progress = client_.get(reverse("extras:bulkjob_progress", args=[job.pk]), headers=HTMX)
    assert 'data-status="done"' in progress.content.decode()
    assert json.loads(progress["HX-Trigger"]) == {"pulse:jobFinished": {"id": str(job.pk)}}
    assert client_.get(back).context["bulk_jobs"] == []


def test_select_all_delete_needs_the_delete_permission(
    org, in_org, owner, django_capture_on_commit_callbacks
):
    agent = make_member(org, Role.SUPPORT_AGENT)
    contact = make_contact(in_org, owner, assigned_to=agent)
    before = snapshot(contact)

    with django_capture_on_commit_callbacks(execute=True):
        response = web_client(agent, org).post(
            reverse("contacts:contact_bulk"), {"action": "delete", "select_all": "1", "query": ""}
        )

    assert response.status_code == 403
    assert BulkJob.objects.count() == 0
    assert snapshot(contact) == before


def test_bulk_bar_offers_untag_select_all_and_export(in_org, owner, client_):
    make_contact(in_org, owner)

    content = client_.get(reverse("contacts:contact_list")).content.decode()

    assert '<option value="untag">' in content
    assert 'data-testid="select-all-matching"' in content
    assert 'data-bulk-for="tag untag"' in content
    try:
        export_url = reverse("imports:export", args=["contacts"])
    except Exception:  # noqa: BLE001 - the export page (imports app) may not exist yet
        export_url = None
    if export_url:
        assert f'data-export-url="{export_url}"' in content

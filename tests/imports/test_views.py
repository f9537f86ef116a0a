"""The import screens and the list exports through the web client."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from pulse.accounts.models import Role
from pulse.audit.models import AuditEntry
from pulse.contacts.models import Company, Contact
from pulse.core.testing import web_client
from pulse.imports.models import ImportJob
from tests.accounts.factories import make_member
from tests.contacts.factories import make_company, make_contact
from tests.imports.conftest import FILES

HUBSPOT = (FILES / "hubspot_contacts.csv").read_bytes()


def _upload(client, content=HUBSPOT, name="hubspot.csv", **data):
    return client.post(
        reverse("imports:import_create"),
        {"target": "contacts", "mode": "skip", "file": SimpleUploadedFile(name, content), **data},
    )


def test_the_whole_flow_upload_map_preview_run_summary_undo(
    owner_client, org, owner, django_capture_on_commit_callbacks
):
    # given the upload page
    page = owner_client.get(reverse("imports:import_create") + "?target=contacts")
    assert page.status_code == 200
    assert b"Upload and map columns" in page.content
    # when a HubSpot export is uploaded
    response = _upload(owner_client)
    job = ImportJob.objects.unscoped().get(organization=org)
    assert response.status_code == 302
    assert response["Location"] == reverse("imports:import_mapping", args=[job.pk])
    # then the mapping page shows the guessed fields
    mapping = owner_client.get(response["Location"])
    assert mapping.status_code == 200
    assert mapping.content.count(b'data-testid="mapping-row"') == 17
    assert job.mapping["3"] == "email"
    # when the mapping is saved (Record ID left out)
    form = {f"col_{i}": key for i, key in job.mapping.items()}
    response = owner_client.post(
        reverse("imports:import_mapping", args=[job.pk]), {**form, "mode": "skip", "remember": "on"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("imports:import_preview", args=[job.pk])
    # then the preview flags the broken cells
    preview = owner_client.get(response["Location"])
    assert preview.status_code == 200
    assert preview.content.count(b'data-testid="preview-row"') == 6
    assert b"Enter a valid email address." in preview.content
    # when the import starts (eager: it runs at commit)
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(reverse("imports:import_preview", args=[job.pk]))
    assert response.status_code == 302
    detail = owner_client.get(response["Location"])
    assert detail.status_code == 200
    job.refresh_from_db()
    assert (job.status, job.created_count, job.skipped_count, job.failed_count) == ("done", 3, 1, 2)
    assert b'data-testid="import-done"' in detail.content
    assert b"Download failed rows" in detail.content
    # the htmx poll gets the status block only
    partial = owner_client.get(response["Location"], headers={"HX-Request": "true"})
    assert partial.content.lstrip().startswith(b'<div id="import-status"')
    assert b"hx-trigger" not in partial.content  # finished: no more polling
    # the error file lists the failed rows with line and reason
    errors = owner_client.get(reverse("imports:import_errors", args=[job.pk]))
    rows = list(csv.reader(io.StringIO(b"".join(errors.streaming_content).decode("utf-8-sig"))))
    assert rows[0][-2:] == ["Line", "Error"]
    assert [(r[-2], r[-1].split(":")[0]) for r in rows[1:]] == [
        ("5", "Email"),
        ("7", "Phone Number"),
    ]
    assert rows[2][16] == '\'=HYPERLINK("http://evil.example","click")'
    # the history lists it with an undo button
    history = owner_client.get(reverse("imports:import_list"))
    assert history.content.count(b'data-testid="import-row"') == 1
    assert b'data-testid="undo-import"' in history.content
    # when undone
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(reverse("imports:import_undo", args=[job.pk]))
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == "undone"
    assert Contact.objects.unscoped().filter(organization=org, deleted_at__isnull=True).count() == 0
    assert Company.objects.unscoped().filter(organization=org, deleted_at__isnull=True).count() == 0


def test_upload_errors_are_shown_on_the_form(owner_client, org, settings):
    empty = _upload(owner_client, b"")
    assert empty.status_code == 400
    assert (
        b"The submitted file is empty." in empty.content or b"The file is empty." in empty.content
    )
    settings.IMPORT_MAX_FILE_SIZE = 100
    big = _upload(owner_client, b"Email\n" + b"a@example.com\n" * 20)
    assert big.status_code == 400
    assert b"files up to 0.0 MB can be imported" in big.content
    assert ImportJob.objects.unscoped().filter(organization=org).count() == 0


def test_mapping_to_a_field_that_does_not_exist_is_refused(owner_client, org):
    _upload(owner_client)
    job = ImportJob.objects.unscoped().get(organization=org)
    response = owner_client.post(
        reverse("imports:import_mapping", args=[job.pk]), {"col_3": "password", "mode": "skip"}
    )
    assert response.status_code == 400
    assert (
        b"Select a valid choice. password is not one of the available choices." in response.content
    )


def test_options_read_the_file_again(owner_client, org):
    _upload(owner_client, b"a;b\n1;2\n", name="x.csv")
    job = ImportJob.objects.unscoped().get(organization=org)
    assert job.delimiter == ";"
    response = owner_client.post(
        reverse("imports:import_options", args=[job.pk]),
        {"encoding": "cp1252", "delimiter": ",", "has_header": "yes"},
    )
    assert response.status_code == 302
    job.refresh_from_db()
    assert (job.encoding, job.delimiter, job.headers) == ("cp1252", ",", ["a;b"])


def test_discard_an_import_that_has_not_started(owner_client, org):
    _upload(owner_client)
    job = ImportJob.objects.unscoped().get(organization=org)
    response = owner_client.post(reverse("imports:import_discard", args=[job.pk]))
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.deleted_at is not None


def test_a_sales_rep_may_not_import(org, rep):
    client = web_client(rep, org)
    assert client.get(reverse("imports:import_create")).status_code == 403
    assert _upload(client).status_code == 403
    assert client.get(reverse("imports:import_list")).status_code == 200


def test_import_list_query_count_is_fixed(owner_client, org, owner, django_assert_max_num_queries):
    for _ in range(3):
        _upload(owner_client)
    with django_assert_max_num_queries(12):
        response = owner_client.get(reverse("imports:import_list"))
    assert response.content.count(b'data-testid="import-row"') == 3


# --- export ---------------------------------------------------------------------------------


@pytest.fixture
def people(in_org, owner):
    acme = make_company(in_org, owner, name="Acme")
    return [
        make_contact(
            in_org,
            owner,
            first_name="Ada",
            last_name="Lovelace",
            email="ada@acme.example",
            company=acme,
            lifecycle_stage="customer",
        ),
        make_contact(
            in_org,
            owner,
            first_name="Grace",
            last_name="Hopper",
            email="grace@navy.example",
            title="=cmd|' /C calc'!A0",
        ),
    ]


def _body(response) -> str:
    return b"".join(response.streaming_content).decode("utf-8-sig")


def test_export_csv_applies_the_list_filters_and_columns(owner_client, people):
    url = reverse("imports:export", args=["contacts"])
    response = owner_client.get(
        url, {"format": "csv", "lifecycle_stage": "customer", "columns": "first_name,email,company"}
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(_body(response))))
    assert rows == [["First name", "Email", "Company"], ["Ada", "ada@acme.example", "Acme"]]


def test_export_neutralises_formula_cells_and_selects_ids(owner_client, people):
    url = reverse("imports:export", args=["contacts"])
    response = owner_client.get(
        url, {"format": "csv", "columns": "last_name,title", "id": [str(people[1].pk)]}
    )
    rows = list(csv.reader(io.StringIO(_body(response))))
    assert rows == [["Last name", "Job title"], ["Hopper", "'=cmd|' /C calc'!A0"]]


def test_export_xlsx_and_vcard(owner_client, people):
    from openpyxl import load_workbook

    url = reverse("imports:export", args=["contacts"])
    response = owner_client.get(
        url, {"format": "xlsx", "columns": "full_name,email", "ordering": "name"}
    )
    assert response.status_code == 200
    workbook = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    assert [list(r) for r in workbook.worksheets[0].iter_rows(values_only=True)] == [
        ["Name", "Email"],
        ["Grace Hopper", "grace@navy.example"],
        ["Ada Lovelace", "ada@acme.example"],
    ]
    cards = _body(owner_client.get(url, {"format": "vcf", "ordering": "name"}))
    assert cards.count("BEGIN:VCARD") == 2
    assert "N:Lovelace;Ada;;;\r\n" in cards
    assert "ORG:Acme;\r\n" in cards


def test_export_companies_with_contact_counts(owner_client, people):
    url = reverse("imports:export", args=["companies"])
    rows = list(csv.reader(io.StringIO(_body(owner_client.get(url, {"columns": "name,contacts"})))))
    assert rows == [["Name", "Contacts"], ["Acme", "1"]]


def test_export_refuses_bad_input_without_a_500(owner_client, people):
    url = reverse("imports:export", args=["contacts"])
    assert owner_client.get(url, {"format": "pdf"}).status_code == 302
    assert owner_client.get(url, {"id": "nope"}).status_code == 302
    assert owner_client.get(reverse("imports:export", args=["planets"])).status_code == 404


def test_read_only_members_may_not_export(org, people):
    viewer = make_member(org, Role.READ_ONLY, full_name="Vera Viewer")
    response = web_client(viewer, org).get(reverse("imports:export", args=["contacts"]))
    assert response.status_code == 403


def test_list_pages_offer_import_and_export(owner_client, people):
    page = owner_client.get(reverse("contacts:contact_list") + "?lifecycle_stage=customer")
    assert b'data-testid="import-button"' in page.content
    assert b"/export/contacts/?lifecycle_stage=customer" in page.content
    audit = AuditEntry.objects.unscoped().count()
    assert audit > 0

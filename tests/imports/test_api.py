"""The import and export API: /api/crm/imports/ and /api/crm/exports/<target>/."""

from __future__ import annotations

import csv
import io

from django.core.files.uploadedfile import SimpleUploadedFile

from pulse.accounts.models import Role
from pulse.contacts.models import Contact
from pulse.core.testing import api_client, assert_error_shape
from pulse.imports.models import ImportJob
from tests.accounts.factories import make_member
from tests.contacts.factories import make_contact
from tests.imports.conftest import FILES

URL = "/api/crm/imports/"


def _upload(client, content=None, **data):
    content = content if content is not None else (FILES / "hubspot_contacts.csv").read_bytes()
    return client.post(
        URL,
        {"target": "contacts", "file": SimpleUploadedFile("hubspot.csv", content), **data},
        format="multipart",
    )


def test_upload_map_preview_run_and_undo(org, owner, django_capture_on_commit_callbacks):
    client = api_client(owner, org)
    created = _upload(client, mode="skip")
    assert created.status_code == 201
    job = created.json()
    assert (job["status"], job["file_format"], job["encoding"], job["delimiter"]) == (
        "mapping",
        "csv",
        "utf-8-sig",
        ",",
    )
    assert job["mapping"]["3"] == "email"
    url = f"{URL}{job['id']}/"
    mapped = client.put(
        f"{url}mapping/",
        {"mapping": {"1": "first_name", "3": "email", "7": "company"}},
        format="json",
    )
    assert mapped.status_code == 200
    assert mapped.json()["mapping"] == {"1": "first_name", "3": "email", "7": "company"}
    preview = client.get(f"{url}preview/").json()
    assert [c["key"] for c in preview["columns"]] == ["first_name", "email", "company"]
    assert preview["rows"][3]["cells"][1] == {
        "text": "not-an-email",
        "error": "Enter a valid email address.",
    }
    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(f"{url}run/")
    assert started.status_code == 202
    detail = client.get(url).json()
    assert (
        detail["status"],
        detail["created_count"],
        detail["skipped_count"],
        detail["failed_count"],
        detail["percent"],
    ) == ("done", 4, 1, 1, 100)
    assert detail["errors_url"].endswith(f"{url}errors/")
    errors = client.get(f"{url}errors/")
    assert errors.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(errors.streaming_content).decode("utf-8-sig"))))
    assert rows[1][-2:] == ["5", "Email: Enter a valid email address."]
    listed = client.get(URL).json()
    assert [j["id"] for j in listed["results"]] == [job["id"]]
    with django_capture_on_commit_callbacks(execute=True):
        undone = client.post(f"{url}undo/")
    assert undone.status_code == 202
    assert client.get(url).json()["status"] == "undone"
    assert Contact.objects.unscoped().filter(organization=org, deleted_at__isnull=True).count() == 0


def test_bad_input_answers_400_in_the_error_shape(org, owner):
    client = api_client(owner, org)
    empty = _upload(client, b"")
    assert empty.status_code == 400
    assert_error_shape(empty, fields={"file"})
    unknown = client.post(
        URL,
        {"target": "planets", "file": SimpleUploadedFile("a.csv", b"a\n1\n")},
        format="multipart",
    )
    assert unknown.status_code == 400
    assert "target" in unknown.json()["errors"]
    job = _upload(client).json()
    bad = client.put(
        f"{URL}{job['id']}/mapping/", {"mapping": {"0": "password", "99": "email"}}, format="json"
    )
    assert bad.status_code == 400
    assert bad.json() == {
        "errors": {
            "mapping.0": ["“password” is not a field you can import into."],
            "mapping.99": ["The file has no column 99."],
        }
    }
    options = client.put(f"{URL}{job['id']}/options/", {"delimiter": ";"}, format="json")
    assert options.status_code == 200
    assert options.json()["headers"][0].startswith("Record ID,First Name")
    ImportJob.objects.unscoped().filter(pk=job["id"]).update(status="done")
    again = client.post(f"{URL}{job['id']}/run/")
    assert again.status_code == 400
    assert again.json()["errors"]["__all__"] == [
        "This import has already started; its settings cannot change."
    ]


def test_a_sales_rep_may_not_import_through_the_api(org, rep):
    assert _upload(api_client(rep, org)).status_code == 403
    assert ImportJob.objects.unscoped().count() == 0


def test_exports_through_the_api(org, owner, in_org):
    make_contact(
        org,
        owner,
        first_name="Ada",
        last_name="Lovelace",
        email="ada@example.com",
        lifecycle_stage="customer",
    )
    make_contact(org, owner, first_name="Grace", last_name="Hopper", email="grace@example.com")
    client = api_client(owner, org)
    response = client.get(
        "/api/crm/exports/contacts/",
        {"format": "csv", "lifecycle_stage": "customer", "columns": "email"},
    )
    assert response.status_code == 200
    assert b"".join(response.streaming_content).decode("utf-8-sig").splitlines() == [
        "Email",
        "ada@example.com",
    ]
    xlsx = client.get("/api/crm/exports/companies/", {"format": "xlsx"})
    assert xlsx["Content-Type"].startswith("application/vnd.openxmlformats")
    bad = client.get("/api/crm/exports/contacts/", {"format": "pdf"})
    assert bad.status_code == 400
    assert bad.json() == {"errors": {"format": ["Choose csv, xlsx or vcf."]}}
    viewer = make_member(org, Role.READ_ONLY, full_name="Vera Viewer")
    assert api_client(viewer, org).get("/api/crm/exports/contacts/").status_code == 403

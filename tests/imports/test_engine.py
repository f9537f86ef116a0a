"""The import engine through the services: formats, modes, duplicates, audit, undo."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from django.contrib.contenttypes.models import ContentType

from pulse.audit.models import AuditEntry
from pulse.contacts.models import Company, Contact
from pulse.core.errors import ApplicationError
from pulse.extras.models import Tag
from pulse.extras.services import customfield_create
from pulse.imports import engine
from pulse.imports.engine import run_job, undo_job
from pulse.imports.models import ImportJob, ImportMapping, ImportRecord
from pulse.imports.services import import_set_mapping, import_start, import_undo
from tests.contacts.factories import make_company, make_contact
from tests.imports.conftest import FILES
from tests.imports.factories import run, upload


def _live(model):
    return model.objects.all()


def _names():
    return sorted(c.full_name for c in Contact.objects.all())


# --- formats -------------------------------------------------------------------------------


def test_hubspot_export_imports_with_the_guessed_mapping(in_org, owner):
    in_org.country = "US"
    in_org.save()
    job = upload(in_org, owner, (FILES / "hubspot_contacts.csv").read_bytes(), name="hubspot.csv")
    assert job.mapping == {
        "1": "first_name",
        "2": "last_name",
        "3": "email",
        "4": "phone",
        "5": "mobile",
        "6": "title",
        "7": "company",
        "8": "lifecycle_stage",
        "9": "lead_source",
        "10": "street",
        "11": "city",
        "12": "region",
        "13": "postal_code",
        "14": "country",
        "15": "assigned_to",
        "16": "tags",
    }
    job = run(job, owner)
    assert (job.status, job.created_count, job.skipped_count, job.failed_count) == ("done", 4, 1, 1)
    assert job.formula_cells == 1
    assert [(e["line"], e["kind"]) for e in job.errors] == [(5, "failed"), (6, "skipped")]
    assert job.errors[1]["reason"] == "Same email (line 2 of this file)"
    ada = Contact.objects.get(email="ada@analytical.example")
    assert (ada.phone, ada.country, ada.lifecycle_stage, ada.lead_source) == (
        "+442079460958",
        "GB",
        "customer",
        "referral",
    )
    assert ada.company.name == "Analytical Engines"
    assert sorted(t.name for t in ada.tags.all()) == ["math", "vip"]
    grace = Contact.objects.get(email="grace@navy.example")
    assert (grace.lifecycle_stage, grace.mobile) == ("marketing_qualified", "+12125550199")
    katherine = Contact.objects.get(email="katherine@nasa.example")
    assert katherine.phone == "+17575550123"
    assert [t.name for t in katherine.tags.all()] == [
        '"click")',
        '=HYPERLINK("http://evil.example"',
    ]
    assert sorted(Company.objects.values_list("name", flat=True)) == [
        "Analytical Engines",
        "Bletchley Park",
        "NASA",
        "US Navy",
    ]


def test_google_contacts_in_windows_1252(in_org, owner):
    job = upload(in_org, owner, (FILES / "google_contacts_cp1252.csv").read_bytes(), name="g.csv")
    assert job.encoding == "cp1252"
    assert job.mapping == {
        "0": "full_name",
        "1": "first_name",
        "2": "last_name",
        "4": "email",
        "6": "phone",
        "7": "company",
        "8": "title",
        "9": "city",
        "10": "country",
        "11": "tags",
        "12": "notes",
    }
    job = run(job, owner)
    assert (job.created_count, job.failed_count) == (2, 0)
    jose = Contact.objects.get(email="jose@ejemplo.example")
    assert (jose.first_name, jose.last_name, jose.city, jose.country) == (
        "José",
        "Núñez",
        "Málaga",
        "ES",
    )
    assert jose.notes == "Café con leche – siempre"
    assert [t.name for t in jose.tags.all()] == ["Clientes"]
    assert jose.company.name == "Café Olé"


def test_xlsx(in_org, owner):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["Account Name", "Website", "Employees", "Annual Revenue", "Billing Country"])
    sheet.append(["Initech", "initech.example", 250, 1200000.5, "United States"])
    sheet.append(["Globex", "https://www.globex.example/about", "11-50", "$2.5M", "DE"])
    sheet.append([None, None, None, None, None])
    sheet.append(["", "nameless.example", None, None, None])
    buffer = io.BytesIO()
    book.save(buffer)
    job = upload(in_org, owner, buffer.getvalue(), name="accounts.xlsx", target="companies")
    assert (job.file_format, job.total_rows) == ("xlsx", 4)
    job = run(job, owner)
    assert (job.created_count, job.failed_count) == (2, 1)
    assert job.errors == [{"line": 5, "reason": "Give the company a name.", "kind": "failed"}]
    initech = Company.objects.get(name="Initech")
    assert (initech.domain, initech.size_band, str(initech.annual_revenue), initech.country) == (
        "initech.example",
        "201-500",
        "1200000.50",
        "US",
    )
    globex = Company.objects.get(name="Globex")
    assert (globex.domain, globex.size_band, str(globex.annual_revenue)) == (
        "globex.example",
        "11-50",
        "2500000.00",
    )


def test_vcard_3_and_4(in_org, owner):
    job = upload(in_org, owner, (FILES / "contacts.vcf").read_bytes(), name="contacts.vcf")
    assert (job.file_format, job.total_rows, job.has_header) == ("vcf", 2, False)
    job = run(job, owner)
    assert (job.created_count, job.failed_count) == (2, 0)
    ada = Contact.objects.get(email="ada@analytical.example")
    assert ada.other_emails == [{"label": "other", "email": "ada.home@example.org"}]
    assert (ada.mobile, ada.phone, ada.department, ada.title) == (
        "+447911123456",
        "+442079460958",
        "Research",
        "Countess",
    )
    assert (ada.linkedin_url, str(ada.birthday), ada.notes) == (
        "https://www.linkedin.com/in/ada",
        "1815-12-10",
        "First programmer, probably.",
    )
    assert Contact.objects.get(email="grace@navy.example").mobile == "+12125550199"


# --- modes and duplicates ------------------------------------------------------------------


def test_skip_mode_uses_the_dedupe_rules_against_existing_records_and_the_file(in_org, owner):
    in_org.country = "BG"
    in_org.save()
    acme = make_company(in_org, owner, name="Acme Ltd")
    make_contact(
        in_org,
        owner,
        first_name="Ivan",
        last_name="Petrov",
        email="ivan@acme.example",
        company=acme,
    )
    make_contact(
        in_org, owner, first_name="Maria", last_name="Ivanova", email="", phone="+35921234567"
    )
    content = (
        "First Name,Last Name,Email,Phone,Company\n"
        "Ivan,Petrov,IVAN@acme.example,,\n"  # same email, other case
        "Maria,I.,,02 123 4567,\n"  # same phone in national format
        "Ivan,Petrow,,,ACME Inc.\n"  # similar name at the same company
        "Petar,Georgiev,petar@bigco.example,,\n"
        "Petur,Georgiev,,,\n"  # no email: not a duplicate of line 5
        "Petar,Georgiev,p.georgiev@bigco.example,,\n"  # same name, same domain as line 5
    )
    job = run(upload(in_org, owner, content), owner, mode="skip")
    assert (job.created_count, job.skipped_count) == (2, 4)
    assert [e["reason"] for e in job.errors] == [
        "Same email (an existing contact)",
        "Same phone number (an existing contact)",
        "Similar name at the same company (an existing contact)",
        "Similar name with the same email domain (line 5 of this file)",
    ]


def test_create_mode_creates_every_row(in_org, owner):
    make_contact(in_org, owner, email="ada@example.com")
    job = run(
        upload(in_org, owner, "Email\nada@example.com\nada@example.com\n"), owner, mode="create"
    )
    assert job.created_count == 2
    assert Contact.objects.filter(email="ada@example.com").count() == 3


def test_update_mode_matches_by_email_and_logs_old_and_new_values(in_org, owner):
    ada = make_contact(
        in_org, owner, first_name="Ada", last_name="Lovelace", email="ada@example.com", title=""
    )
    tag = Tag.objects.create(organization=in_org, name="old")
    ada.tags.add(tag)
    content = (
        "Email,Job Title,Last Name,Tags\n"
        "ADA@example.com,Countess,,new\n"
        "new@example.com,Boss,Newman,\n"
        "ada@example.com,Queen,,\n"
    )
    job = run(upload(in_org, owner, content), owner, mode="update", match_by="email")
    assert (job.created_count, job.updated_count, job.skipped_count) == (1, 1, 1)
    ada.refresh_from_db()
    assert (ada.title, ada.last_name, ada.version) == ("Countess", "Lovelace", 2)
    assert sorted(t.name for t in ada.tags.all()) == ["new", "old"]
    entry = AuditEntry.objects.filter(object_id=str(ada.pk), source="import").get()
    assert entry.action == "update"
    assert entry.changes == {"title": ["", "Countess"], "tags": [["old"], ["new", "old"]]}
    record = ImportRecord.objects.get(job=job, action="update")
    assert record.previous["title"] == ["", "Countess"]
    # undo puts the title back and takes the added tag off
    job = import_undo(job=job, actor=owner)
    assert job.status == "undoing"
    job = undo_job(job_id=job.pk, actor=owner)
    ada.refresh_from_db()
    assert (job.status, ada.title, ada.version) == ("undone", "", 3)
    assert [t.name for t in ada.tags.all()] == ["old"]
    assert not Contact.objects.filter(email="new@example.com").exists()
    assert Contact.trash.filter(email="new@example.com").count() == 1
    undo_entry = AuditEntry.objects.filter(object_id=str(job.pk), action="update").latest(
        "created_at"
    )
    assert undo_entry.changes["status"] == ["undoing", "undone"]


def test_undo_keeps_a_field_someone_changed_since(in_org, owner):
    ada = make_contact(in_org, owner, email="ada@example.com", title="")
    job = run(
        upload(in_org, owner, "Email,Title\nada@example.com,Countess\n"), owner, mode="update"
    )
    from pulse.contacts.services import contact_update

    contact_update(contact=Contact.objects.get(pk=ada.pk), actor=owner, title="Duchess")
    import_undo(job=job, actor=owner)
    job = undo_job(job_id=job.pk, actor=owner)
    assert Contact.objects.get(pk=ada.pk).title == "Duchess"
    assert "1 fields changed by someone since the import were left as they are." in job.message


def test_update_by_external_id_in_a_custom_field(in_org, owner):
    customfield_create(
        org=in_org,
        actor=owner,
        content_type=ContentType.objects.get_for_model(Contact),
        key="hubspot_id",
        label="HubSpot ID",
        field_type="text",
    )
    ada = make_contact(in_org, owner, email="old@example.com", custom_fields={"hubspot_id": "101"})
    job = upload(in_org, owner, "Record ID,Email\n101,new@example.com\n102,other@example.com\n")
    job = run(
        job,
        owner,
        mapping={"0": "cf_hubspot_id", "1": "email"},
        mode="update",
        match_by="cf_hubspot_id",
    )
    assert (job.updated_count, job.created_count) == (1, 1)
    ada.refresh_from_db()
    assert (ada.email, ada.custom_fields) == ("new@example.com", {"hubspot_id": "101"})


def test_undo_trashes_created_records_and_audits_it(in_org, owner):
    job = run(upload(in_org, owner, "Name,Company\nAda Lovelace,Analytical\n"), owner)
    assert (Contact.objects.count(), Company.objects.count()) == (1, 1)
    assert AuditEntry.objects.filter(source="import", action="create").count() == 2
    import_undo(job=job, actor=owner)
    job = undo_job(job_id=job.pk, actor=owner)
    assert (Contact.objects.count(), Company.objects.count()) == (0, 0)
    assert (Contact.trash.count(), Company.trash.count()) == (1, 1)
    assert AuditEntry.objects.filter(source="import", action="delete").count() == 2
    assert job.message == "Undone: 2 records moved to the trash, 0 records put back as they were."
    with pytest.raises(ApplicationError):
        import_undo(job=job, actor=owner)


def test_a_crash_in_the_middle_rolls_the_whole_import_back(in_org, owner, monkeypatch):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["First Name", "Email"])
    for n in range(3000):
        sheet.append([f"Person {n} with a longer name to fill the sheet", f"p{n}@example.com"])
    buffer = io.BytesIO()
    book.save(buffer)
    monkeypatch.setattr(engine, "BATCH_SIZE", 200)
    job = upload(in_org, owner, buffer.getvalue(), name="people.xlsx")
    job = import_set_mapping(job=job, actor=owner, mapping=job.mapping)
    job = import_start(job=job, actor=owner)
    # the stored sheet is damaged near its end: reading fails after some batches were written
    path = Path(job.file.path)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = archive.getinfo("xl/worksheets/sheet1.xml")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    middle = start + int(info.compress_size * 0.8)
    data[middle : middle + 64] = b"\x00" * 64
    path.write_bytes(bytes(data))
    job = run_job(job_id=job.pk, actor=owner)
    assert job.status == "failed"
    assert job.undone_at is not None
    assert job.created_count > 0
    assert "Everything it had written was undone." in job.message
    assert Contact.objects.count() == 0


def test_a_redelivered_run_resumes_after_the_last_batch(in_org, owner, monkeypatch):
    monkeypatch.setattr(engine, "BATCH_SIZE", 2)
    content = "Email\n" + "".join(f"p{n}@example.com\n" for n in range(5))
    job = upload(in_org, owner, content)
    job = import_set_mapping(job=job, actor=owner, mapping=job.mapping)
    import_start(job=job, actor=owner)
    job = run_job(job_id=job.pk, actor=owner)
    assert (job.status, job.created_count, Contact.objects.count()) == ("done", 5, 5)
    # the broker delivers it again: nothing is written twice
    assert run_job(job_id=job.pk, actor=owner).created_count == 5
    # a worker died after the first batch: the next delivery goes on from line 3
    ImportJob.objects.filter(pk=job.pk).update(status="running", cursor_line=3, created_count=2)
    Contact.objects.filter(
        email__in=["p2@example.com", "p3@example.com", "p4@example.com"]
    ).delete()
    job = run_job(job_id=job.pk, actor=owner)
    assert (job.created_count, Contact.objects.count()) == (5, 5)


def test_the_mapping_is_remembered_for_the_same_columns(in_org, owner):
    job = upload(in_org, owner, "Vorname,Mail\nAda,ada@example.com\n")
    assert job.mapping == {}
    import_set_mapping(job=job, actor=owner, mapping={"0": "first_name", "1": "email"})
    assert ImportMapping.objects.count() == 1
    again = upload(in_org, owner, "vorname, MAIL\nGrace,grace@example.com\n")
    assert again.mapping == {}  # headers differ in spacing: same signature, but saved by name
    third = upload(in_org, owner, "Vorname,Mail\nGrace,grace@example.com\n")
    assert third.mapping == {"0": "first_name", "1": "email"}


def test_bad_mappings_are_refused_with_clear_errors(in_org, owner):
    job = upload(in_org, owner, "Name,Email\nAda,ada@example.com\n")
    with pytest.raises(ApplicationError) as refused:
        import_set_mapping(
            job=job,
            actor=owner,
            mapping={"0": "password", "1": "email", "2": "title", "x": "email"},
        )
    assert refused.value.errors == {
        "mapping.0": ["“password” is not a field you can import into."],
        "mapping.2": ["The file has no column 2."],
        "mapping.x": ["The file has no column x."],
    }
    with pytest.raises(ApplicationError) as twice:
        import_set_mapping(job=job, actor=owner, mapping={"0": "email", "1": "email"})
    assert twice.value.errors == {"mapping.1": ["“Email” is already mapped from column “Name”."]}
    with pytest.raises(ApplicationError) as nothing:
        import_set_mapping(job=job, actor=owner, mapping={})
    assert nothing.value.errors == {"mapping": ["Map at least one column to a field."]}
    job.refresh_from_db()
    assert job.mapping == {"0": "full_name", "1": "email"}

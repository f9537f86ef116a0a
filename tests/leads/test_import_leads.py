"""Importing leads through the contacts import engine: mapping from other CRMs' lead
exports, stages, values, duplicates, routing, undo."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pulse.audit.models import AuditEntry
from pulse.contacts.models import Contact
from pulse.imports.engine import undo_job
from pulse.imports.services import import_undo
from pulse.imports.values import CellError
from pulse.leads.imports import find_stage, parse_money, stage_table
from pulse.leads.models import Lead, LeadStageChange
from pulse.leads.routing import assignmentrule_create
from pulse.leads.services import lead_create, leadstage_ensure_defaults
from tests.contacts.factories import make_contact
from tests.imports.factories import run, upload

SALESFORCE = """First Name,Last Name,Title,Company,Email,Lead Source,Lead Status,Annual Revenue,\
Lead Owner,Value,Tags,Expected Close Date
Ada,Lovelace,Countess,Analytical Engines,ada@analytical.example,Web,Working - Contacted,\
"5,000,000",olivia@owner.example,EUR 12000,vip,2026-12-31
Grace,Hopper,Rear Admiral,US Navy,grace@navy.example,Trade Show,Dreaming,,,,,
Alan,Turing,,Bletchley Park,not-an-email,,,,,,,
Katherine,Johnson,Mathematician,NASA,katherine@nasa.example,Partner Referral,\
Open - Not Contacted,,,"1,500.50",,
Ada,L.,,Analytical Engines,ADA@analytical.example,,,,,,,
Hedy,Lamarr,,,hedy@film.example,,Unqualified,,,,,
Known,Person,,,known@lead.example,,,,,,,
"""


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def owner_email(owner):
    owner.email = "olivia@owner.example"
    owner.save(update_fields=["email"])
    return owner


def _leads():
    return {lead.email.lower(): lead for lead in Lead.objects.all()}


def test_a_salesforce_export_maps_and_imports_with_exact_counts(in_org, owner_email):
    owner = owner_email
    ada_contact = make_contact(in_org, owner, first_name="Ada", email="ADA@analytical.example")
    lead_create(org=in_org, actor=owner, title="Known", email="known@lead.example")

    job = upload(in_org, owner, SALESFORCE, name="salesforce_leads.csv", target="leads")
    assert job.mapping == {
        "0": "first_name",
        "1": "last_name",
        "2": "job_title",
        "3": "company_name",
        "4": "email",
        "5": "source",
        "6": "stage",
        "7": "annual_revenue",
        "8": "assigned_to",
        "9": "value",
        "10": "tags",
        "11": "expected_close_date",
    }
    job = run(job, owner)

    assert (job.status, job.created_count, job.updated_count) == ("done", 2, 0)
    assert (job.skipped_count, job.failed_count) == (2, 3)
    reasons = {e["line"]: (e["kind"], e["reason"]) for e in job.errors}
    assert reasons[3] == (
        "failed",
        "Lead Status: No stage is called “Dreaming”. Known: contacted, converted, new, "
        "qualified, unqualified.",
    )
    assert reasons[4][0] == "failed" and reasons[4][1].startswith("Email: ")
    assert reasons[6] == ("skipped", "Same email (line 2 of this file)")
    assert reasons[7] == (
        "failed",
        "Lead Status: Say why this lead is Unqualified: map a reason column.",
    )
    assert reasons[8] == ("skipped", "Same email (an existing lead)")

    leads = _leads()
    assert set(leads) == {"ada@analytical.example", "katherine@nasa.example", "known@lead.example"}
    ada = leads["ada@analytical.example"]
    assert ada.title == "Ada Lovelace (Analytical Engines)"
    assert (ada.stage.key, ada.source, ada.job_title) == ("contacted", "web_form", "Countess")
    assert (ada.value, ada.currency) == (Decimal("12000.00"), "EUR")
    assert ada.expected_close_date == datetime.date(2026, 12, 31)
    assert ada.assigned_to == owner
    assert ada.contact == ada_contact
    assert ada.description == "Annual revenue: 5,000,000"
    assert [t.name for t in ada.tags.all()] == ["vip"]
    katherine = leads["katherine@nasa.example"]
    assert (katherine.stage.key, katherine.source) == ("new", "referral")
    assert (katherine.value, katherine.currency) == (Decimal("1500.50"), in_org.default_currency)
    # No owner column value and no assignment rules: unassigned, as lead_create leaves it.
    assert katherine.assigned_to is None
    assert katherine.contact is None

    # Each new lead has its first stage-history row and a created entry from the import.
    history = LeadStageChange.objects.filter(lead__in=[ada, katherine])
    assert sorted((h.lead.email, h.from_stage, h.to_stage.key) for h in history) == [
        ("ada@analytical.example", None, "contacted"),
        ("katherine@nasa.example", None, "new"),
    ]
    created = AuditEntry.objects.filter(action="create", source="import", object_id=str(ada.pk))
    assert created.get().changes["title"] == [None, "Ada Lovelace (Analytical Engines)"]


def test_undo_moves_the_imported_leads_to_the_trash(in_org, owner):
    before = Lead.objects.count()
    job = run(
        upload(
            in_org,
            owner,
            "Lead Name,Email,Lead Status\nBig deal,big@deal.example,Qualified\n"
            "Small deal,small@deal.example,new\n",
            target="leads",
        ),
        owner,
    )
    assert (job.created_count, job.failed_count) == (2, 0)
    assert sorted(Lead.objects.values_list("title", "stage__key")) == [
        ("Big deal", "qualified"),
        ("Small deal", "new"),
    ]

    job = import_undo(job=job, actor=owner)
    job = undo_job(job_id=job.pk, actor=owner)

    assert job.status == "undone"
    assert Lead.objects.count() == before
    trashed = Lead.objects.unscoped().filter(organization=in_org, deleted_at__isnull=False)
    assert sorted(trashed.values_list("title", flat=True)) == ["Big deal", "Small deal"]


def test_rows_without_an_owner_are_routed_by_the_assignment_rules(in_org, owner, rep):
    assignmentrule_create(
        org=in_org,
        actor=owner,
        name="Bulgaria",
        strategy="criteria",
        users=[rep],
        conditions=[{"field": "country", "operator": "equals", "value": "BG"}],
    )
    job = run(
        upload(
            in_org,
            owner,
            "Name,Email,Country\nIvan Petrov,ivan@rila.example,Bulgaria\n"
            "John Smith,john@smith.example,United Kingdom\n",
            target="leads",
        ),
        owner,
    )
    assert job.created_count == 2
    owners = {lead.email: lead.assigned_to for lead in Lead.objects.all()}
    assert owners == {"ivan@rila.example": rep, "john@smith.example": None}


def test_update_matching_changes_value_and_stage_with_history_and_undo(in_org, owner):
    lead = lead_create(org=in_org, actor=owner, title="Rila deal", email="buyer@rila.example")
    assert lead.stage.key == "new"
    job = upload(
        in_org,
        owner,
        "Email,Lead Status,Value,Currency\nBUYER@rila.example,Qualified,2500,bgn\n"
        "fresh@rila.example,contacted,10,\n",
        target="leads",
        mode="update",
    )
    job = run(job, owner)
    assert (job.created_count, job.updated_count, job.failed_count) == (1, 1, 0)
    lead.refresh_from_db()
    assert (lead.stage.key, lead.value, lead.currency, lead.title) == (
        "qualified",
        Decimal("2500.00"),
        "BGN",
        "Rila deal",
    )
    moves = LeadStageChange.objects.filter(lead=lead).order_by("changed_at")
    assert [(m.from_stage and m.from_stage.key, m.to_stage.key) for m in moves] == [
        (None, "new"),
        ("new", "qualified"),
    ]
    fresh = Lead.objects.get(email="fresh@rila.example")
    assert (fresh.title, fresh.stage.key, fresh.source) == (
        "fresh@rila.example",
        "contacted",
        "import",
    )

    job = undo_job(job_id=import_undo(job=job, actor=owner).pk, actor=owner)
    lead.refresh_from_db()
    assert (lead.stage.key, lead.value, lead.currency) == ("new", None, "")
    assert not Lead.objects.filter(email="fresh@rila.example").exists()


def test_the_upload_page_offers_leads(owner_client):
    response = owner_client.get("/imports/new/?target=leads")
    assert response.status_code == 200
    assert '<option value="leads" selected>Leads</option>' in response.content.decode()


# --- parsers --------------------------------------------------------------------------------


def test_money_cells():
    assert parse_money("EUR 5,000.50") == (Decimal("5000.50"), "EUR")
    assert parse_money("1.200,50 €") == (Decimal("1200.50"), "EUR")
    assert parse_money("$2.5K") == (Decimal("2500.00"), "USD")
    assert parse_money("700") == (Decimal("700.00"), "")
    for bad in ("-5", "lots", "EUR"):
        with pytest.raises(CellError):
            parse_money(bad)


@given(
    st.decimals(min_value=0, max_value=Decimal("999999999.99"), places=2),
    st.sampled_from(["", "EUR", "USD", "BGN"]),
    st.booleans(),
)
def test_money_round_trips(amount, currency, currency_first):
    text = f"{amount:,.2f}"
    if currency:
        text = f"{currency} {text}" if currency_first else f"{text} {currency}"
    assert parse_money(text) == (amount, currency)


@given(st.text(max_size=40))
def test_any_money_cell_is_a_value_or_a_cell_error(text):
    try:
        amount, currency = parse_money(text)
    except CellError:
        return
    assert amount >= 0
    assert currency == "" or (len(currency) == 3 and currency.isupper())


@pytest.mark.django_db
def test_stages_by_key_name_or_another_crms_status(in_org, owner):
    table = stage_table(leadstage_ensure_defaults(org=in_org, actor=owner))
    assert find_stage(table, "qualified").key == "qualified"
    assert find_stage(table, " Contacted ").key == "contacted"
    assert find_stage(table, "Closed - Not Converted").key == "unqualified"
    assert find_stage(table, "Open - Not Contacted").key == "new"
    with pytest.raises(CellError, match="No stage is called “Maybe”"):
        find_stage(table, "Maybe")


@pytest.mark.django_db
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=30))
def test_any_stage_cell_is_a_stage_or_a_cell_error(in_org, text):
    table = stage_table(leadstage_ensure_defaults(org=in_org))
    try:
        stage = find_stage(table, text)
    except CellError:
        return
    assert stage.key in {"new", "contacted", "qualified", "unqualified", "converted"}


def test_contacts_are_not_touched_by_a_lead_import(in_org, owner):
    run(upload(in_org, owner, "Email\nonly@lead.example\n", target="leads"), owner)
    assert not Contact.objects.filter(email="only@lead.example").exists()
    assert Lead.objects.get(email="only@lead.example").title == "only@lead.example"

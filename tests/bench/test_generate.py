"""The scale data generator, run tiny on the test database (bench/generate.py)."""

from __future__ import annotations

import pytest
from django.contrib.auth import authenticate
from django.db import connection

from bench import BIG_ORG_SLUG, OWNER_EMAIL, PASSWORD
from bench.generate import CLOCK, SMALL_ORGS, generate
from pulse.accounts.models import Membership, Organization
from pulse.contacts.models import Company, Contact, company_name_key, email_domain
from pulse.contacts.phones import is_e164
from pulse.extras.models import Tag

pytestmark = pytest.mark.django_db


def _quiet(*args):
    pass


def _generate(**kwargs):
    return generate(size="tiny", contacts=200, companies=20, out=_quiet, **kwargs)


def test_generator_fills_one_big_and_two_small_organizations():
    summary = _generate()

    big = Organization.objects.get(slug=BIG_ORG_SLUG)
    smalls = list(Organization.objects.filter(slug__in=SMALL_ORGS).order_by("slug"))
    assert [o.slug for o in smalls] == list(SMALL_ORGS)
    assert Contact.objects.unscoped().filter(organization=big).count() == 200
    assert Company.objects.unscoped().filter(organization=big).count() == 20
    for small in smalls:
        assert Contact.objects.unscoped().filter(organization=small).count() == 4
        assert Company.objects.unscoped().filter(organization=small).count() == 1
    assert summary.rows["contacts.Contact"] == 208
    assert summary.rows["contacts.Company"] == 22
    assert Membership.objects.unscoped().filter(organization=big).count() == 25


def test_generated_rows_never_point_into_another_organization():
    _generate()

    contacts = Contact.objects.unscoped().select_related("company", "assigned_to")
    for contact in contacts.filter(company__isnull=False):
        assert contact.company.organization_id == contact.organization_id
    member_orgs = {(m.organization_id, m.user_id) for m in Membership.objects.unscoped().all()}
    for contact in contacts.filter(assigned_to__isnull=False):
        assert (contact.organization_id, contact.assigned_to_id) in member_orgs
    links = Contact.tags.through.objects.select_related("contact", "tag")
    assert links.exists()
    for link in links:
        assert link.tag.organization_id == link.contact.organization_id
    for company in Company.objects.unscoped().filter(parent__isnull=False).select_related("parent"):
        assert company.parent.organization_id == company.organization_id


def test_generated_rows_are_what_the_models_would_store():
    _generate()

    for contact in Contact.objects.unscoped().all():
        assert contact.email_domain == email_domain(contact.email)
        for number in (contact.phone, contact.mobile):
            assert number == "" or is_e164(number)
    for company in Company.objects.unscoped().all():
        assert company.name_key == company_name_key(company.name)
        company.full_clean()
    sample = Contact.objects.unscoped().exclude(email="").first()
    sample.full_clean()
    assert Tag.objects.unscoped().filter(organization__slug=BIG_ORG_SLUG).count() == 30


def test_generator_is_reproducible_and_reset_replaces_the_set():
    _generate(seed=3)
    first = sorted(Contact.objects.unscoped().values_list("first_name", "last_name", "email"))

    _generate(seed=3, do_reset=True)
    again = sorted(Contact.objects.unscoped().values_list("first_name", "last_name", "email"))

    assert again == first
    assert Organization.objects.filter(slug=BIG_ORG_SLUG).count() == 1


def test_generator_refuses_to_add_a_second_set_without_reset():
    _generate()

    with pytest.raises(SystemExit):
        _generate()
    assert Contact.objects.unscoped().count() == 208


def test_generated_owner_signs_in_with_the_known_password():
    _generate()

    user = authenticate(username=OWNER_EMAIL, password=PASSWORD)

    assert user is not None
    assert Membership.objects.unscoped().get(user=user).organization.slug == BIG_ORG_SLUG


def test_generated_opportunities_follow_their_pipelines_and_history():
    from collections import Counter

    from pulse.currencies.models import ExchangeRate
    from pulse.opportunities.models import (
        Opportunity,
        OpportunityStageChange,
        Pipeline,
        Quota,
        StageType,
    )

    summary = generate(size="tiny", contacts=200, companies=20, opportunities=600, out=_quiet)

    big = Organization.objects.get(slug=BIG_ORG_SLUG)
    deals = list(
        Opportunity.objects.unscoped()
        .filter(organization=big)
        .select_related("stage", "pipeline", "loss_reason", "company", "contact")
    )
    assert len(deals) == 600
    assert summary.rows["opportunities.Opportunity"] == 600 + 2 * (600 // 50)
    pipelines = Pipeline.objects.unscoped().filter(organization=big).order_by("position")
    assert [p.name for p in pipelines] == ["New business", "Renewals", "Partners"]
    status = Counter(d.status for d in deals)
    assert 0.15 < status["won"] / 600 < 0.35 and 0.2 < status["lost"] / 600 < 0.4
    history: dict = {}
    for row in OpportunityStageChange.objects.unscoped().filter(organization=big):
        history.setdefault(row.opportunity_id, []).append(row)
    rows = sum(len(v) for v in history.values())
    assert summary.rows["opportunities.OpportunityStageChange"] >= rows
    assert 5.5 < rows / 600 < 8  # ~2,000,000 for 300,000 deals
    for deal in deals:
        assert deal.stage.pipeline_id == deal.pipeline_id
        assert deal.status == deal.stage.type
        assert (deal.status == StageType.LOST) == (deal.loss_reason is not None)
        assert (deal.status == StageType.OPEN) == (deal.actual_close_date is None)
        for linked in (deal.company, deal.contact, deal.loss_reason):
            assert linked is None or linked.organization_id == big.pk
        path = sorted(history[deal.pk], key=lambda r: r.changed_at)
        assert path[0].from_stage_id is None and path[0].changed_at == deal.created_at
        for before, after in zip(path, path[1:], strict=False):
            assert after.from_stage_id == before.to_stage_id
            assert after.seconds_in_from_stage == int(
                (after.changed_at - before.changed_at).total_seconds()
            )
        assert path[-1].to_stage_id == deal.stage_id
        assert path[-1].changed_at == deal.stage_changed_at
    for deal in deals[:50]:
        deal.full_clean(exclude=["tags"])
    assert {"USD", "GBP"} <= set(
        ExchangeRate.objects.unscoped().filter(organization=big).values_list("currency", flat=True)
    )
    assert Quota.objects.unscoped().filter(organization=big, team__isnull=False).exists()
    assert Quota.objects.unscoped().filter(organization=big, user__isnull=False).count() == 25 * 34


def test_generated_activities_are_consistent_like_the_services_write_them():
    from collections import Counter

    from pulse.activities.models import Activity
    from pulse.activities.services import occurred_at_of
    from pulse.opportunities.models import Opportunity

    summary = generate(size="tiny", contacts=200, companies=20, activities=1500, out=_quiet)

    big = Organization.objects.get(slug=BIG_ORG_SLUG)
    acts = list(
        Activity.objects.unscoped()
        .filter(organization=big)
        .select_related("contact", "company", "lead", "opportunity", "assigned_to")
    )
    assert len(acts) == 1500
    assert summary.rows["activities.Activity"] == 1500 + 2 * (1500 // 50)
    kinds = Counter(a.type for a in acts)
    for kind, share in (("call", 35), ("email", 25), ("note", 15), ("meeting", 15), ("task", 10)):
        assert abs(kinds[kind] / 1500 * 100 - share) < 5, (kind, kinds)
    members = set(
        Membership.objects.unscoped().filter(organization=big).values_list("user", flat=True)
    )
    owners = Counter(a.assigned_to_id for a in acts)
    assert set(owners) <= members
    # A few owners with many: the generated owner (first member) is the busiest.
    first = Membership.objects.unscoped().get(organization=big, user__email=OWNER_EMAIL).user_id
    assert owners.most_common(1)[0][0] == first
    deals = {o.pk: o for o in Opportunity.objects.unscoped().filter(organization=big)}
    now = CLOCK
    future = 0
    for a in acts:
        assert a.occurred_at == occurred_at_of(a)
        assert (a.status == "completed") == (a.completed_at is not None)
        for linked in (a.contact, a.company, a.lead, a.opportunity):
            assert linked is None or linked.organization_id == big.pk
        if a.opportunity_id:
            assert (a.contact_id, a.company_id) == (
                deals[a.opportunity_id].contact_id,
                deals[a.opportunity_id].company_id,
            )
        elif a.contact_id:
            assert a.company_id == a.contact.company_id
        if a.type == "meeting":
            assert a.scheduled_at is not None and a.duration_minutes and a.ical_uid
        if a.type == "task":
            assert a.due_date is not None
        if a.type == "call" and a.status == "completed":
            assert a.call_outcome and a.call_direction
        else:
            assert not a.call_outcome
        if a.type == "email":
            assert a.email_from and a.email_to and a.message_id
        if a.occurred_at > now:
            future += 1
            # Ahead: pending (a task may be done before its due day).
            assert a.type in ("call", "meeting", "task")
            assert a.status == "pending" or a.type == "task"
        assert a.created_at <= a.updated_at
    assert 0 < future < 0.05 * len(acts)
    assert sum(1 for a in acts if a.contact_id) > 0.7 * len(acts)
    assert any(a.lead_id for a in acts) and any(a.opportunity_id for a in acts)
    assert any(a.is_overdue for a in acts if a.type == "task")
    for a in acts[:100]:
        a.full_clean()


def _index_definitions(tables: list[str]) -> set[tuple[str, str]]:
    # Name and access method with columns; PostgreSQL may print a rebuilt partial index's
    # predicate with other (equivalent) casts, so the WHERE is left out.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s)", [tables]
        )
        return {(name, definition.split(" WHERE ")[0]) for name, definition in cursor.fetchall()}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's bulk-load mode")
def test_bulk_load_builds_every_index_again_and_checks_foreign_keys_again():
    from pulse.activities.models import Activity
    from pulse.opportunities.models import Opportunity

    tables = [
        m._meta.db_table for m in (Company, Contact, Contact.tags.through, Opportunity, Activity)
    ]
    before = _index_definitions(tables)
    assert len(before) > 20

    _generate(bulk=True, activities=300)

    assert _index_definitions(tables) == before
    with connection.cursor() as cursor:
        cursor.execute("SHOW session_replication_role")
        assert cursor.fetchone()[0] == "origin"
    # The foreign keys were not checked while loading: every link still points at a row.
    companies = Company.objects.unscoped().values("pk")
    contacts = Contact.objects.unscoped().values("pk")
    assert not Contact.objects.unscoped().exclude(company=None).exclude(company__in=companies)
    assert not Activity.objects.unscoped().exclude(contact=None).exclude(contact__in=contacts)
    assert not Opportunity.objects.unscoped().exclude(contact=None).exclude(contact__in=contacts)
    assert Activity.objects.unscoped().exists()

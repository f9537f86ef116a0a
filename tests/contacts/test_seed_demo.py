"""``manage.py seed_demo``: a realistic demo that a second run leaves untouched."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from pulse.accounts.models import Membership, Organization, Team, User
from pulse.audit.models import AuditEntry
from pulse.contacts.models import Company, Contact
from pulse.extras.models import CustomField, Notification, SavedView, Tag

pytestmark = pytest.mark.django_db

MODELS = (
    Organization,
    User,
    Membership,
    Team,
    Tag,
    CustomField,
    SavedView,
    Company,
    Contact,
    Notification,
    AuditEntry,
)


def _counts() -> dict[str, int]:
    def count(model):
        manager = getattr(model.objects, "unscoped", None)
        return (manager() if manager else model.objects.all()).count()

    return {model.__name__: count(model) for model in MODELS}


def test_seed_demo_builds_the_demo_and_is_idempotent():
    out = StringIO()
    call_command("seed_demo", stdout=out)
    first = _counts()

    again = StringIO()
    call_command("seed_demo", stdout=again)

    assert _counts() == first
    assert "already exists" in again.getvalue()
    assert "demo@pulsecrm.local / pulse-demo-2026" in out.getvalue()

    northwind = Organization.objects.get(slug="northwind-traders")
    assert (northwind.name, northwind.default_currency, northwind.time_zone) == (
        "Northwind Traders",
        "EUR",
        "Europe/Sofia",
    )
    demo = User.objects.get(email="demo@pulsecrm.local")
    assert demo.check_password("pulse-demo-2026")
    assert User.objects.get(email="rep1@pulsecrm.local").check_password("pulse-demo-2026")
    roles = set(
        Membership.objects.unscoped().filter(organization=northwind).values_list("role", flat=True)
    )
    assert roles == {"owner", "admin", "manager", "sales_rep", "support_agent", "read_only"}
    assert set(
        Membership.objects.unscoped().filter(user=demo).values_list("organization__name", flat=True)
    ) == {"Northwind Traders", "Globex Labs"}
    assert demo.last_organization_id == northwind.pk

    contacts = Contact.objects.unscoped().filter(organization=northwind)
    companies = Company.objects.unscoped().filter(organization=northwind)
    assert 280 <= contacts.count() <= 320
    assert 50 <= companies.count() <= 70
    assert companies.filter(parent__isnull=False).count() >= 5
    assert contacts.values("assigned_to").distinct().count() >= 4
    assert contacts.values("lifecycle_stage").distinct().count() >= 6
    # 12 for contacts and companies, 3 more for leads.
    assert Tag.objects.unscoped().filter(organization=northwind).count() == 15
    assert CustomField.objects.unscoped().filter(organization=northwind).count() >= 4
    notes = Notification.objects.unscoped().filter(recipient=demo)
    assert notes.count() >= 4
    assert 0 < notes.filter(read_at__isnull=True).count() < notes.count()
    # Created through the services: the change log has every contact's creation.
    assert (
        AuditEntry.objects.unscoped()
        .filter(organization=northwind, action="create", content_type__model="contact")
        .count()
        == contacts.count()
    )

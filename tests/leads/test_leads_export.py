"""The lead list exports like the contact lists: filtered rows, as CSV, XLSX and vCard."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from pulse.core.tenancy import tenant_context
from pulse.core.testing import web_client
from tests.leads.factories import make_lead

pytestmark = pytest.mark.django_db


@pytest.fixture
def leads(org, owner):
    with tenant_context(org, actor=owner):
        return [
            make_lead(org, owner, title="Rila: 40 tents", first_name="Maria", source="referral"),
            make_lead(org, owner, title="=HYPERLINK(evil)", first_name="Ivan", source="event"),
        ]


def _body(response) -> str:
    return b"".join(response.streaming_content).decode("utf-8-sig")


def test_csv_export_follows_the_lists_filter(org, owner, leads):
    client = web_client(owner, org)

    response = client.get(
        reverse("imports:export", args=["leads"]), {"format": "csv", "source": "referral"}
    )

    rows = list(csv.reader(io.StringIO(_body(response))))
    assert response.status_code == 200
    assert len(rows) == 2 and "Rila: 40 tents" in rows[1]


def test_csv_export_neutralises_formulas(org, owner, leads):
    client = web_client(owner, org)

    body = _body(client.get(reverse("imports:export", args=["leads"]), {"format": "csv"}))

    assert "'=HYPERLINK(evil)" in body


def test_vcard_export_of_leads(org, owner, leads):
    client = web_client(owner, org)

    body = _body(
        client.get(reverse("imports:export", args=["leads"]), {"format": "vcf", "source": "event"})
    )

    assert body.count("BEGIN:VCARD") == 1
    assert "FN:Ivan Parks" in body and "EMAIL;TYPE=INTERNET,PREF:rosa" in body


def test_lead_list_shows_the_export_buttons(org, owner, leads):
    page = web_client(owner, org).get(reverse("leads:lead_list")).content.decode()

    assert reverse("imports:export", args=["leads"]) in page

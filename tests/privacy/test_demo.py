"""The demo seed records consents and one request of each kind."""

import random

import pytest

from pulse.privacy import demo
from pulse.privacy.models import ConsentRecord, PrivacyRequest
from tests.contacts.factories import make_contact

pytestmark = pytest.mark.django_db


def test_seed_records_consents_and_requests(in_org, owner):
    for _ in range(12):
        make_contact(in_org, owner)

    demo.seed(in_org, {"owner": owner}, random.Random(3))

    assert ConsentRecord.objects.count() > 0
    assert sorted(PrivacyRequest.objects.values_list("kind", flat=True)) == ["erase", "export"]

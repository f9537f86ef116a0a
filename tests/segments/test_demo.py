"""The demo seed makes working segments."""

import random

import pytest

from pulse.segments import demo, selectors
from pulse.segments.models import Segment
from tests.contacts.factories import make_contact

pytestmark = pytest.mark.django_db


def test_seed_creates_dynamic_segments_and_a_static_list(in_org, owner):
    for _ in range(5):
        make_contact(in_org, owner, country="BG", lifecycle_stage="customer")

    demo.seed(in_org, {"owner": owner}, random.Random(1))

    names = set(Segment.objects.values_list("name", flat=True))
    assert {"Customers in Bulgaria", "Open leads in Germany", "VIP static list"} <= names
    bulgaria = Segment.objects.get(name="Customers in Bulgaria")
    assert selectors.segment_members(bulgaria, owner).count() == 5
    vip = Segment.objects.get(name="VIP static list")
    assert selectors.segment_members(vip, owner).count() == 5

"""Rule 1: tenant-scoped queries fail closed and never cross organizations."""

import pytest

from pulse.core.errors import TenantContextMissing
from pulse.core.services import record_create
from pulse.core.tenancy import tenant_context
from pulse.extras.models import Tag


def test_query_without_organization_raises_on_evaluation(org, owner):
    qs = Tag.objects.all()  # building a queryset is harmless (forms do it at import)
    with pytest.raises(TenantContextMissing):
        list(qs)
    with pytest.raises(TenantContextMissing):
        Tag.objects.count()
    with pytest.raises(TenantContextMissing):
        Tag.objects.filter(name="x").update(name="y")


def test_each_organization_sees_only_its_rows(org, owner, other_org, other_owner):
    with tenant_context(org, actor=owner):
        record_create(Tag, org=org, actor=owner, name="Acme tag")
    with tenant_context(other_org, actor=other_owner):
        record_create(Tag, org=other_org, actor=other_owner, name="Globex tag")
        assert list(Tag.objects.values_list("name", flat=True)) == ["Globex tag"]
    with tenant_context(org, actor=owner):
        assert list(Tag.objects.values_list("name", flat=True)) == ["Acme tag"]
    assert Tag.objects.unscoped().count() == 2

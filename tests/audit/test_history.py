"""A record's History (audit:history): htmx partial or full page, visibility, 404s."""

from __future__ import annotations

import uuid

from django.contrib.contenttypes.models import ContentType
from django.template.loader import render_to_string
from django.urls import reverse

from pulse.accounts.models import RecordVisibility, User
from pulse.audit.selectors import history_for
from pulse.contacts.models import Contact
from pulse.core.services import record_create, record_delete, record_update
from pulse.core.tenancy import tenant_context
from pulse.extras.services import tag_create, tag_update
from tests.conftest import login


def _url(obj) -> str:
    content_type = ContentType.objects.get_for_model(type(obj))
    return reverse("audit:history", args=[content_type.pk, obj.pk])


def test_url_shape(in_org, owner):
    tag = tag_create(org=in_org, actor=owner, name="VIP")
    content_type = ContentType.objects.get_for_model(type(tag))
    assert _url(tag) == f"/history/{content_type.pk}/{tag.pk}/"


def test_full_page_and_htmx_partial(in_org, owner, admin_user):
    contact = record_create(Contact, org=in_org, actor=owner, first_name="Ada")
    record_update(contact, actor=owner, assigned_to=admin_user, last_name="Lovelace")
    client = login(owner, in_org)

    page = client.get(_url(contact))
    assert page.status_code == 200
    html = page.content.decode()
    assert "<html" in html and "History of Ada Lovelace" in html
    assert html.count('data-testid="history-entry"') == 2
    assert html.index('data-action="update"') < html.index('data-action="create"')  # newest first
    assert "Adam Admin" in html  # the new owner, by name, not id

    partial = client.get(_url(contact), HTTP_HX_REQUEST="true")
    assert partial.status_code == 200
    body = partial.content.decode()
    assert "<html" not in body
    assert body.count('data-testid="history-entry"') == 2


def test_another_organizations_record_is_404(in_org, owner, other_org, other_owner):
    tag = tag_create(org=in_org, actor=owner, name="VIP")
    response = login(other_owner, other_org).get(_url(tag))
    assert response.status_code == 404
    assert "VIP" not in response.content.decode()


def test_record_the_user_cannot_see_is_404(in_org, owner, rep, admin_user):
    in_org.record_visibility = RecordVisibility.TEAM
    in_org.save(update_fields=["record_visibility"])
    hidden = record_create(
        Contact, org=in_org, actor=owner, first_name="Ada", assigned_to=admin_user
    )
    mine = record_create(Contact, org=in_org, actor=owner, first_name="Bo", assigned_to=rep)
    client = login(rep, in_org)
    assert client.get(_url(hidden)).status_code == 404
    assert client.get(_url(mine)).status_code == 200


def test_trashed_record_history_is_shown(in_org, owner):
    contact = record_create(Contact, org=in_org, actor=owner, first_name="Ada")
    record_delete(contact, actor=owner)
    response = login(owner, in_org).get(_url(contact))
    assert response.status_code == 200
    html = response.content.decode()
    assert "In the trash" in html
    assert 'data-action="delete"' in html


def test_unknown_or_non_record_types_are_404(in_org, owner):
    client = login(owner, in_org)
    user_type = ContentType.objects.get_for_model(User)
    assert (
        client.get(reverse("audit:history", args=[user_type.pk, uuid.uuid4()])).status_code == 404
    )
    assert client.get(reverse("audit:history", args=[999999, uuid.uuid4()])).status_code == 404
    tag_type = ContentType.objects.get_for_model(Contact)
    assert client.get(reverse("audit:history", args=[tag_type.pk, uuid.uuid4()])).status_code == 404


def test_partial_renders_plain_history_for_entries(in_org, owner):
    tag = tag_create(org=in_org, actor=owner, name="VIP")
    tag_update(tag=tag, actor=owner, name="V.I.P.")
    html = render_to_string("audit/partials/history.html", {"entries": list(history_for(tag))})
    assert html.count('data-testid="history-entry"') == 2
    assert '<span class="change-old">VIP</span>' in html
    assert '<span class="change-new">V.I.P.</span>' in html


def test_history_follows_the_organization_in_context(in_org, owner, other_org, other_owner):
    tag = tag_create(org=in_org, actor=owner, name="VIP")
    with tenant_context(other_org, actor=other_owner):
        assert list(history_for(tag)) == []

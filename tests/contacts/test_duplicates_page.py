"""Duplicates in the UI and the API: form warnings, the Duplicates page, merge screens."""

from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.urls import reverse

from pulse.accounts.models import Role
from pulse.audit.models import Action, AuditEntry
from pulse.contacts import dedupe
from pulse.contacts.models import Company, Contact
from pulse.contacts.services import contact_delete, contact_merge
from pulse.contacts.tasks import scan_duplicates
from pulse.core.tasks import TenantTask
from pulse.core.tenancy import tenant_context
from pulse.core.testing import api_client, web_client
from tests.accounts.factories import make_member
from tests.contacts.factories import make_company, make_contact

CONTACT_FORM = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ADA@acme.io",
    "lifecycle_stage": "lead",
    "email_opt_in": "unknown",
    "phone_opt_in": "unknown",
    "sms_opt_in": "unknown",
}


@pytest.fixture
def web(org, owner):
    return web_client(owner, org)


@pytest.fixture
def api(org, owner):
    return api_client(owner, org)


@pytest.fixture
def ada(in_org, owner):
    return make_contact(in_org, owner, first_name="Ada", last_name="Lovelace", email="ada@acme.io")


# --- warnings on the full forms ---------------------------------------------------------------


def test_create_form_warns_about_a_duplicate_and_saves_nothing(web, ada):
    response = web.post(reverse("contacts:contact_create"), CONTACT_FORM)

    assert response.status_code == 400
    html = response.content.decode()
    assert 'data-testid="duplicate-warning"' in html
    assert ada.get_absolute_url() in html
    assert "Same email" in html
    assert 'name="confirm_duplicates" value="1"' in html
    assert 'name="email" value="ADA@acme.io"' in html
    assert Contact.objects.count() == 1


def test_save_anyway_creates_the_record(web, ada):
    response = web.post(
        reverse("contacts:contact_create"), {**CONTACT_FORM, "confirm_duplicates": "1"}
    )

    assert response.status_code == 302
    assert Contact.objects.count() == 2


def test_create_form_without_duplicates_saves_at_once(web, ada):
    response = web.post(
        reverse("contacts:contact_create"),
        {**CONTACT_FORM, "first_name": "Grace", "last_name": "Hopper", "email": "g@navy.mil"},
    )

    assert response.status_code == 302
    assert Contact.objects.count() == 2


def test_edit_warns_only_when_identifying_fields_change(web, in_org, owner, ada):
    grace = make_contact(in_org, owner, first_name="Grace", last_name="Hopper", email="g@navy.mil")
    url = reverse("contacts:contact_edit", args=[grace.pk])
    data = {**CONTACT_FORM, "first_name": "Grace", "last_name": "Hopper", "email": "g@navy.mil"}

    title_only = web.post(url, {**data, "title": "Admiral", "expected_version": grace.version})
    grace.refresh_from_db()
    to_ada = web.post(url, {**data, "email": "ada@acme.io", "expected_version": grace.version})

    assert title_only.status_code == 302
    assert to_ada.status_code == 400
    assert 'data-testid="duplicate-warning"' in to_ada.content.decode()
    assert Contact.objects.get(pk=grace.pk).email == "g@navy.mil"


def test_company_form_warns_about_the_same_name(web, in_org, owner):
    acme = make_company(in_org, owner, name="ACME Inc.")

    response = web.post(reverse("contacts:company_create"), {"name": "Acme"})

    assert response.status_code == 400
    assert acme.get_absolute_url() in response.content.decode()
    assert Company.objects.count() == 1


# --- the Duplicates page ---------------------------------------------------------------------


@pytest.fixture
def dupes(in_org, owner, ada):
    acme = make_company(in_org, owner, name="Acme")
    twin = make_contact(in_org, owner, first_name="ada", last_name="LOVELACE", email="ADA@acme.io")
    jon = make_contact(in_org, owner, first_name="Jon", last_name="Smith", email="", company=acme)
    john = make_contact(in_org, owner, first_name="John", last_name="Smith", email="", company=acme)
    make_contact(in_org, owner, first_name="Other", last_name="Person", email="o@x.org")
    return {"ada": ada, "twin": twin, "jon": jon, "john": john, "acme": acme}


def test_scan_finds_pairs_by_email_and_similar_name(dupes, in_org):
    pairs = dedupe.scan_contact_pairs()

    found = {dedupe.pair_key(p["a"], p["b"]): (p["confidence"], p["reasons"]) for p in pairs}
    assert found == {
        dedupe.pair_key(dupes["ada"].pk, dupes["twin"].pk): (98, ["email", "name_domain"]),
        dedupe.pair_key(dupes["jon"].pk, dupes["john"].pk): (75, ["name_company"]),
    }


def test_scan_of_companies_by_name_key_and_domain(in_org, owner):
    a = make_company(in_org, owner, name="Acme Inc", website="acme.io")
    b = make_company(in_org, owner, name="ACME", website="https://www.acme.io")
    c = make_company(in_org, owner, name="Acme Industries")
    d = make_company(in_org, owner, name="Acme Industrie")

    pairs = dedupe.scan_company_pairs()

    found = {dedupe.pair_key(p["a"], p["b"]): p["reasons"] for p in pairs}
    assert found == {
        dedupe.pair_key(a.pk, b.pk): ["company_name", "company_domain"],
        dedupe.pair_key(c.pk, d.pk): ["company_similar"],
    }


def test_scan_ignores_shared_values_of_big_groups(in_org, owner, monkeypatch):
    monkeypatch.setattr(dedupe, "MAX_GROUP_SIZE", 2)
    for name in ("Anna", "Boris", "Carl"):
        make_contact(in_org, owner, first_name=name, last_name="Desk", email="info@gmail.com")

    assert dedupe.scan_contact_pairs() == []


def test_duplicates_page_lists_pairs_best_first(web, dupes, django_assert_max_num_queries):
    response = web.get(reverse("contacts:duplicate_list"))

    assert response.status_code == 200
    html = response.content.decode()
    keys = [
        dedupe.pair_key(dupes["ada"].pk, dupes["twin"].pk),
        dedupe.pair_key(dupes["jon"].pk, dupes["john"].pk),
    ]
    assert html.index(keys[0]) < html.index(keys[1])
    assert "98%" in html and "75%" in html
    assert "Similar name at the same company" in html
    assert 'data-testid="scanning"' not in html
    with django_assert_max_num_queries(12):
        web.get(reverse("contacts:duplicate_list"))


def test_duplicates_page_leaves_out_trashed_records(web, dupes, in_org, owner):
    web.get(reverse("contacts:duplicate_list"))
    contact_delete(contact=dupes["twin"], actor=owner)

    html = web.get(reverse("contacts:duplicate_list")).content.decode()

    assert str(dupes["twin"].pk) not in html
    assert str(dupes["jon"].pk) in html


def test_duplicates_page_shows_only_pairs_the_user_may_see(dupes, in_org, owner):
    in_org.record_visibility = "team"
    in_org.save(update_fields=["record_visibility"])
    rep = make_member(in_org, Role.SALES_REP)
    web_client(owner, in_org).get(reverse("contacts:duplicate_list"))

    html = web_client(rep, in_org).get(reverse("contacts:duplicate_list")).content.decode()

    assert 'data-testid="duplicate-pair"' not in html
    assert 'data-testid="no-duplicates"' in html


def test_companies_tab_and_rescan(web, in_org, owner):
    a = make_company(in_org, owner, name="Globex")
    b = make_company(in_org, owner, name="Globex Corp")
    url = reverse("contacts:duplicate_list") + "?type=companies"

    first = web.get(url).content.decode()
    c = make_company(in_org, owner, name="Initech")
    d = make_company(in_org, owner, name="Initech Ltd")
    rescan = web.post(reverse("contacts:duplicate_scan"), {"type": "companies"})
    second = web.get(url).content.decode()

    assert dedupe.pair_key(a.pk, b.pk) in first and dedupe.pair_key(c.pk, d.pk) not in first
    assert rescan.status_code == 302 and rescan["Location"].endswith("?type=companies")
    assert dedupe.pair_key(c.pk, d.pk) in second


def test_scan_task_runs_through_celery_and_is_idempotent(in_org, owner, dupes):
    kwargs = {**TenantTask.tenant_kwargs(in_org, owner), "kind": "contacts"}

    first = scan_duplicates.apply(kwargs=kwargs).get()
    second = scan_duplicates.apply(kwargs=kwargs).get()

    assert first == second == 2
    assert cache.get(f"contacts:duplicates:contacts:{in_org.pk}")["pairs"]


def test_dismissing_a_pair_waits_for_its_table(web, dupes):
    response = web.post(
        reverse("contacts:duplicate_dismiss"),
        {"type": "contacts", "id": [dupes["ada"].pk, dupes["twin"].pk]},
    )

    assert response.status_code == 302
    if dedupe.dismissal_model() is None:
        page = web.get(reverse("contacts:duplicate_list")).content.decode()
        assert 'data-testid="dismiss"' not in page
    else:
        page = web.get(reverse("contacts:duplicate_list")).content.decode()
        assert dedupe.pair_key(dupes["ada"].pk, dupes["twin"].pk) not in page


def test_dismiss_with_odd_ids_is_a_404(web):
    response = web.post(reverse("contacts:duplicate_dismiss"), {"id": ["nope", "x"]})

    assert response.status_code == 404


# --- merge screens -----------------------------------------------------------------------------


def test_merge_page_offers_likely_duplicates_and_search(web, dupes):
    url = reverse("contacts:contact_merge", args=[dupes["ada"].pk])

    picked = web.get(url).content.decode()
    searched = web.get(url, {"q": "smith"}).content.decode()

    assert f"?other={dupes['twin'].pk}" in picked
    assert f"?other={dupes['jon'].pk}" in searched and f"?other={dupes['john'].pk}" in searched


def test_compare_screen_shows_differing_fields_with_defaults(web, dupes, in_org, owner):
    Contact.objects.filter(pk=dupes["twin"].pk).update(title="Countess")
    url = reverse("contacts:contact_merge", args=[dupes["ada"].pk])

    html = web.get(url, {"other": dupes["twin"].pk}).content.decode()

    assert 'data-field="first_name"' in html and 'data-field="email"' in html
    assert 'data-field="title"' in html
    assert 'name="v:title" value="other" checked' in html
    assert 'name="v:first_name" value="survivor" checked' in html
    assert 'data-field="city"' not in html


def test_merge_post_merges_and_the_detail_page_offers_undo(web, dupes):
    survivor, other = dupes["ada"], dupes["twin"]
    url = reverse("contacts:contact_merge", args=[survivor.pk])

    response = web.post(url, {"other": other.pk, "v:first_name": "other"})

    assert response.status_code == 302
    assert response["Location"] == survivor.get_absolute_url()
    assert Contact.objects.get(pk=survivor.pk).first_name == "ada"
    assert not Contact.objects.filter(pk=other.pk).exists()
    detail = web.get(survivor.get_absolute_url()).content.decode()
    assert reverse("contacts:contact_merge_actions", args=[survivor.pk]) in detail
    actions = web.get(reverse("contacts:contact_merge_actions", args=[survivor.pk]))
    entry = AuditEntry.objects.get(action=Action.MERGE)
    assert reverse("contacts:merge_undo", args=[entry.pk]) in actions.content.decode()

    undone = web.post(reverse("contacts:merge_undo", args=[entry.pk]))

    assert undone.status_code == 302
    assert Contact.objects.filter(pk=other.pk).exists()
    assert Contact.objects.get(pk=survivor.pk).first_name == "Ada"
    again = web.get(reverse("contacts:contact_merge_actions", args=[survivor.pk])).content
    assert b'data-testid="undo-merge"' not in again


def test_merge_refusal_shows_the_reason_and_changes_nothing(web, dupes):
    url = reverse("contacts:contact_merge", args=[dupes["ada"].pk])

    response = web.post(url, {"other": dupes["twin"].pk, "v:nope": "other"})

    assert response.status_code == 400
    assert 'data-testid="merge-errors"' in response.content.decode()
    assert Contact.objects.filter(pk=dupes["twin"].pk).exists()


def test_merge_with_itself_or_unknown_record_is_a_404(web, dupes):
    url = reverse("contacts:contact_merge", args=[dupes["ada"].pk])

    assert web.post(url, {"other": dupes["ada"].pk}).status_code == 404
    assert web.get(url, {"other": "not-a-uuid"}).status_code == 404


def test_merge_screens_are_refused_to_roles_that_cannot_delete(dupes, in_org):
    agent = make_member(in_org, Role.SUPPORT_AGENT)
    client = web_client(agent, in_org)
    url = reverse("contacts:contact_merge", args=[dupes["ada"].pk])

    assert client.get(url).status_code == 403
    assert client.post(url, {"other": dupes["twin"].pk}).status_code == 403
    actions = client.get(reverse("contacts:contact_merge_actions", args=[dupes["ada"].pk]))
    assert b'data-testid="merge"' not in actions.content
    assert Contact.objects.filter(pk=dupes["twin"].pk).exists()


def test_company_merge_screen_and_actions(web, in_org, owner):
    keep = make_company(in_org, owner, name="Acme", industry="")
    dup = make_company(in_org, owner, name="ACME Inc", industry="Rockets")
    url = reverse("contacts:company_merge", args=[keep.pk])

    compare = web.get(url, {"other": dup.pk}).content.decode()
    merged = web.post(url, {"other": dup.pk})
    actions = web.get(reverse("contacts:company_merge_actions", args=[keep.pk]))

    assert 'data-field="industry"' in compare
    assert merged.status_code == 302
    assert Company.objects.get(pk=keep.pk).industry == "Rockets"
    assert b'data-testid="undo-merge"' in actions.content


def test_undo_of_another_organizations_merge_is_a_404(dupes, in_org, owner, other_org, other_owner):
    result = contact_merge(survivor=dupes["ada"], other=dupes["twin"], actor=owner, values={})

    response = web_client(other_owner, other_org).post(
        reverse("contacts:merge_undo", args=[result.entry.pk])
    )

    assert response.status_code == 404
    with tenant_context(in_org):
        assert not Contact.objects.filter(pk=dupes["twin"].pk).exists()


# --- API ---------------------------------------------------------------------------------------


def test_api_create_answers_with_duplicates_and_still_creates(api, ada):
    response = api.post(
        "/api/crm/contacts/", {"first_name": "Ada", "email": "ada@ACME.io"}, format="json"
    )

    assert response.status_code == 201
    assert response.json()["duplicates"] == [
        {"id": str(ada.pk), "name": "Ada Lovelace", "confidence": 95, "reasons": ["Same email"]}
    ]
    assert Contact.objects.count() == 2


def test_api_update_and_read_answers(api, in_org, owner, ada):
    other = make_contact(in_org, owner, last_name="Other", email="other@x.org")

    patched = api.patch(
        f"/api/crm/contacts/{other.pk}/", {"email": "Ada@acme.io"}, format="json"
    ).json()
    read = api.get(f"/api/crm/contacts/{other.pk}/").json()
    company = api.post("/api/crm/companies/", {"name": "Solo"}, format="json").json()

    assert [d["id"] for d in patched["duplicates"]] == [str(ada.pk)]
    assert read["duplicates"] is None
    assert company["duplicates"] == []


def test_api_check_finds_matches_for_a_candidate(api, in_org, owner, ada):
    acme = make_company(in_org, owner, name="Acme", website="acme.io")

    contacts = api.get(
        "/api/crm/contacts/duplicates/check/",
        {"email": "ADA@acme.io", "first_name": "Ada", "last_name": "Lovelace"},
    )
    companies = api.get("/api/crm/companies/duplicates/check/", {"website": "www.acme.io"})
    excluded = api.get(
        "/api/crm/contacts/duplicates/check/", {"email": "ada@acme.io", "exclude": str(ada.pk)}
    )
    bad = api.get("/api/crm/contacts/duplicates/check/", {"company": "nope"})

    assert contacts.status_code == 200
    assert contacts.json()["results"][0]["id"] == str(ada.pk)
    assert contacts.json()["results"][0]["reasons"][0] == "Same email"
    assert companies.json()["results"] == [
        {"id": str(acme.pk), "name": "Acme", "confidence": 85, "reasons": ["Same website domain"]}
    ]
    assert excluded.json()["results"] == []
    assert bad.status_code == 400 and "company" in bad.json()["errors"]


def test_api_lists_duplicate_pairs(api, dupes):
    response = api.get("/api/crm/contacts/duplicates/")
    companies = api.get("/api/crm/companies/duplicates/")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    first = body["results"][0]
    assert {first["first"]["id"], first["second"]["id"]} == {
        str(dupes["ada"].pk),
        str(dupes["twin"].pk),
    }
    assert first["confidence"] == 98
    assert first["reasons"] == ["Same email", "Similar name with the same email domain"]
    assert companies.json()["count"] == 0


def test_api_merge_and_undo(api, dupes):
    survivor, other = dupes["ada"], dupes["twin"]

    merged = api.post(
        "/api/crm/contacts/merge/",
        {"survivor": str(survivor.pk), "other": str(other.pk), "values": {"last_name": "other"}},
        format="json",
    )

    assert merged.status_code == 200
    body = merged.json()
    assert body["survivor"]["id"] == str(survivor.pk)
    assert body["survivor"]["last_name"] == "LOVELACE"
    assert body["merged"] == str(other.pk)
    entry = AuditEntry.objects.get(pk=body["entry"])
    assert entry.action == Action.MERGE
    assert entry.content_type == ContentType.objects.get_for_model(Contact)

    undone = api.post("/api/crm/contacts/merge/undo/", {"entry": body["entry"]}, format="json")
    again = api.post("/api/crm/contacts/merge/undo/", {"entry": body["entry"]}, format="json")

    assert undone.status_code == 200
    assert undone.json()["survivor"]["last_name"] == "Lovelace"
    assert Contact.objects.filter(pk=other.pk).exists()
    assert again.status_code == 400
    assert again.json()["errors"]["__all__"] == ["This merge has already been undone."]


def test_api_merge_refusals(api, dupes, in_org, owner, other_org, other_owner):
    with tenant_context(other_org, actor=other_owner):
        foreign = make_contact(other_org, other_owner, email="ada@acme.io")
    ada = dupes["ada"]

    itself = api.post(
        "/api/crm/contacts/merge/", {"survivor": str(ada.pk), "other": str(ada.pk)}, format="json"
    )
    across = api.post(
        "/api/crm/contacts/merge/",
        {"survivor": str(ada.pk), "other": str(foreign.pk)},
        format="json",
    )
    bad_side = api.post(
        "/api/crm/contacts/merge/",
        {"survivor": str(ada.pk), "other": str(dupes["twin"].pk), "values": {"email": "both"}},
        format="json",
    )

    assert itself.status_code == 400
    assert itself.json()["errors"]["__all__"] == ["A record cannot be merged with itself."]
    assert across.status_code == 400 and "other" in across.json()["errors"]
    assert bad_side.status_code == 400
    assert Contact.objects.count() == 5
    with tenant_context(other_org):
        assert Contact.objects.filter(pk=foreign.pk).exists()


def test_api_company_merge_and_undo(api, in_org, owner):
    keep = make_company(in_org, owner, name="Acme")
    dup = make_company(in_org, owner, name="ACME Inc")
    person = make_contact(in_org, owner, company=dup)

    merged = api.post(
        "/api/crm/companies/merge/", {"survivor": str(keep.pk), "other": str(dup.pk)}, format="json"
    )
    assert merged.status_code == 200
    assert Contact.objects.get(pk=person.pk).company_id == keep.pk

    undone = api.post(
        "/api/crm/companies/merge/undo/", {"entry": merged.json()["entry"]}, format="json"
    )
    wrong_type = api.post(
        "/api/crm/contacts/merge/undo/", {"entry": merged.json()["entry"]}, format="json"
    )

    assert undone.status_code == 200
    assert Contact.objects.get(pk=person.pk).company_id == dup.pk
    assert wrong_type.status_code == 404


def test_api_merge_denied_to_read_only_members(dupes, in_org):
    viewer = make_member(in_org, Role.READ_ONLY)

    response = api_client(viewer, in_org).post(
        "/api/crm/contacts/merge/",
        {"survivor": str(dupes["ada"].pk), "other": str(dupes["twin"].pk)},
        format="json",
    )

    assert response.status_code == 403
    assert Contact.objects.filter(pk=dupes["twin"].pk).exists()


def test_another_organization_gets_404s_and_none_of_the_pairs(dupes, web, other_org, other_owner):
    web.get(reverse("contacts:duplicate_list"))
    theirs = web_client(other_owner, other_org)
    ada, twin = dupes["ada"], dupes["twin"]

    responses = [
        theirs.get(reverse("contacts:contact_merge", args=[ada.pk])),
        theirs.get(reverse("contacts:contact_merge", args=[ada.pk]), {"other": twin.pk}),
        theirs.post(reverse("contacts:contact_merge", args=[ada.pk]), {"other": twin.pk}),
        theirs.get(reverse("contacts:contact_merge_actions", args=[ada.pk])),
        theirs.post(reverse("contacts:duplicate_dismiss"), {"id": [ada.pk, twin.pk]}),
    ]
    page = theirs.get(reverse("contacts:duplicate_list")).content.decode()

    assert [r.status_code for r in responses] == [404, 404, 404, 404, 404]
    assert str(ada.pk) not in page and str(twin.pk) not in page
    assert Contact.objects.filter(pk=twin.pk).exists()

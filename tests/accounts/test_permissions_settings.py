"""The permission matrix page and service, and the organization settings page."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from pulse.accounts import services
from pulse.accounts.models import Organization, Role, Team, User
from pulse.accounts.permissions import ACTIONS, DEFAULT_MATRIX
from pulse.accounts.selectors import permission_matrix, permission_record_types
from pulse.audit.models import AuditEntry
from pulse.core.errors import ApplicationError, PermissionDeniedError
from pulse.core.models import TenantModel
from pulse.core.tenancy import tenant_context
from tests.accounts.factories import make_png, make_team


def _fresh(user) -> User:
    """The user without cached memberships (they are cached per request)."""
    return User.objects.get(pk=user.pk)


# --- the matrix -------------------------------------------------------------------------------


def test_the_matrix_lists_records_config_and_the_audit_log():
    # when
    types = permission_record_types()

    # then
    assert AuditEntry in types
    assert Team in types
    for model in types:
        assert model is AuditEntry or (
            issubclass(model, TenantModel)
            and model.permission_group in ("records", "config", "goals")
        )
    from pulse.extras.models import Notification

    assert Notification not in types  # personal rows are not in the matrix


def test_an_override_removing_view_from_sales_reps_hides_the_records(owner, rep, org):
    # given
    make_team(org, "North")
    with tenant_context(org):
        assert Team.objects.restrict(_fresh(rep), "view").count() == 1

    # when
    services.permission_matrix_update(
        organization=org, actor=owner, overrides={Role.SALES_REP: {"accounts.team": []}}
    )

    # then
    org.refresh_from_db()
    assert org.permission_overrides == {"sales_rep": {"accounts.team": []}}
    with tenant_context(org):
        assert list(Team.objects.restrict(_fresh(rep), "view")) == []
        assert Team.objects.restrict(_fresh(owner), "view").count() == 1


def test_an_override_can_grant_more_than_the_default(owner, rep, org):
    # when
    services.permission_matrix_update(
        organization=org,
        actor=owner,
        overrides={Role.SALES_REP: {"accounts.team": ["view", "create"]}},
    )

    # then
    with tenant_context(org):
        team = services.team_create(org=org, actor=_fresh(rep), name="Reps' own")
    assert team.name == "Reps' own"


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"owner": {"accounts.team": []}}, "The owner's permissions can't be changed."),
        ({"boss": {"accounts.team": []}}, "Unknown role “boss”."),
        ({"sales_rep": {"nope.model": []}}, "Unknown record type “nope.model”."),
        ({"sales_rep": {"accounts.team": ["fly"]}}, "Unknown action “fly”."),
        (
            {"sales_rep": {"accounts.team": "view"}},
            "Give the actions of “accounts.team” as a list.",
        ),
    ],
)
def test_bad_overrides_are_refused_and_nothing_changes(owner, org, overrides, message):
    # when
    with pytest.raises(ApplicationError) as caught:
        services.permission_matrix_update(organization=org, actor=owner, overrides=overrides)

    # then
    assert caught.value.errors == {"permission_overrides": [message]}
    org.refresh_from_db()
    assert org.permission_overrides == {}


def test_a_sales_rep_cannot_change_the_matrix(rep, org):
    with pytest.raises(PermissionDeniedError):
        services.permission_matrix_update(
            organization=org,
            actor=rep,
            overrides={Role.SALES_REP: {"accounts.team": list(ACTIONS)}},
        )
    org.refresh_from_db()
    assert org.permission_overrides == {}


def _matrix_post_data(org, *, unchecked=(), checked=()):
    """The form as the page submits it: the effective matrix, with some boxes changed."""
    data = {}
    for row in permission_matrix(org):
        for role, actions in row.by_role.items():
            for action in actions:
                data[f"{role}|{row.label}|{action}"] = "on"
    for key in unchecked:
        data.pop(key, None)
    for key in checked:
        data[key] = "on"
    return data


def test_the_matrix_page_shows_defaults_and_the_owner_column_read_only(owner_client):
    # when
    response = owner_client.get(reverse("accounts:permission_matrix"))

    # then
    assert response.status_code == 200
    tabs = {tab["role"]: tab for tab in response.context["tabs"]}
    assert list(tabs) == list(Role.values)
    assert tabs["owner"]["readonly"] is True
    assert tabs["admin"]["readonly"] is False
    team_row = next(r for r in tabs["sales_rep"]["rows"] if r["label"] == "accounts.team")
    assert {c["action"] for c in team_row["cells"] if c["checked"]} == set(
        DEFAULT_MATRIX["config"][Role.SALES_REP]
    )
    html = response.content.decode()
    assert 'name="owner|accounts.team|view" aria-label' in html
    assert "checked disabled" in html


def test_saving_the_matrix_page_stores_only_the_differences(owner_client, org):
    # when the reps' "view" of teams is unticked and managers get "create" on teams
    data = _matrix_post_data(
        org,
        unchecked=["sales_rep|accounts.team|view"],
        checked=["manager|accounts.team|create"],
    )
    response = owner_client.post(reverse("accounts:permission_matrix"), data)

    # then
    assert response.status_code == 302
    org.refresh_from_db()
    assert org.permission_overrides == {
        "sales_rep": {"accounts.team": []},
        "manager": {"accounts.team": ["view", "create"]},
    }


def test_saving_the_matrix_page_cannot_change_the_owner(owner_client, org):
    # when a forged form unticks everything of the owner
    data = _matrix_post_data(org)
    data = {k: v for k, v in data.items() if not k.startswith("owner|")}
    response = owner_client.post(reverse("accounts:permission_matrix"), data)

    # then
    assert response.status_code == 302
    org.refresh_from_db()
    assert org.permission_overrides == {}


# --- organization settings ----------------------------------------------------------------------


def _settings_data(org, **changes):
    data = {
        "name": org.name,
        "default_currency": "EUR",
        "time_zone": "Europe/Sofia",
        "date_format": "d.m.Y",
        "fiscal_year_start_month": 4,
        "record_visibility": "team",
        "trash_retention_days": 60,
    }
    data.update(changes)
    return data


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def test_organization_settings_are_saved_with_a_logo_and_audited(owner_client, owner, org, media):
    # when
    logo = SimpleUploadedFile("logo.png", make_png(), content_type="image/png")
    response = owner_client.post(
        reverse("accounts:organization_settings"),
        _settings_data(org, name="Acme Group", default_currency="bgn", logo=logo),
    )

    # then
    assert response.status_code == 302
    org.refresh_from_db()
    assert (org.name, org.default_currency, org.time_zone, org.date_format) == (
        "Acme Group",
        "BGN",
        "Europe/Sofia",
        "d.m.Y",
    )
    assert (org.fiscal_year_start_month, org.record_visibility, org.trash_retention_days) == (
        4,
        "team",
        60,
    )
    assert org.logo.name.startswith("logos/logo")
    assert (media / org.logo.name).exists()
    entry = AuditEntry.objects.unscoped().get(
        organization=org, content_type__model="organization", action="update"
    )
    assert entry.actor == owner
    assert entry.changes["name"] == ["Acme Ltd", "Acme Group"]
    page = owner_client.get(reverse("accounts:organization_settings"))
    assert 'data-testid="org-logo"' in page.content.decode()


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"default_currency": "EURO"}, "default_currency"),
        ({"default_currency": "E1R"}, "default_currency"),
        ({"trash_retention_days": 0}, "trash_retention_days"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_organization_settings_are_field_errors_and_change_nothing(
    owner_client, org, changes, field
):
    # when
    response = owner_client.post(
        reverse("accounts:organization_settings"), _settings_data(org, **changes)
    )

    # then
    assert response.status_code == 400
    assert list(response.context["form"].errors) == [field]
    org.refresh_from_db()
    assert (org.default_currency, org.time_zone, org.trash_retention_days) == ("EUR", "UTC", 30)


def test_an_oversized_logo_is_a_field_error(owner_client, org, media, settings):
    # given
    settings.MAX_LOGO_SIZE = 2048
    big = make_png((64, 64), noise=True)
    assert len(big) > 2048

    # when
    response = owner_client.post(
        reverse("accounts:organization_settings"),
        _settings_data(org, logo=SimpleUploadedFile("big.png", big, content_type="image/png")),
    )

    # then
    assert response.status_code == 400
    assert response.context["form"].errors["logo"] == [
        f"The logo may be at most 2 KB; this file is {-(-len(big) // 1024)} KB."
    ]
    org.refresh_from_db()
    assert org.logo.name == ""
    assert list(media.iterdir()) == []


def test_a_file_that_is_not_an_image_is_a_logo_error(owner_client, org, media):
    # when
    response = owner_client.post(
        reverse("accounts:organization_settings"),
        _settings_data(org, logo=SimpleUploadedFile("x.png", b"not an image")),
    )

    # then
    assert response.status_code == 400
    assert list(response.context["form"].errors) == ["logo"]


def test_organization_update_service_refuses_an_admin_of_another_org_and_unknown_fields(
    owner, org, other_owner
):
    with pytest.raises(PermissionDeniedError):
        services.organization_update(organization=org, actor=other_owner, name="Hijacked")
    with pytest.raises(ApplicationError) as caught:
        services.organization_update(organization=org, actor=owner, slug="new-slug")
    assert caught.value.errors == {"slug": ["This setting can't be changed here."]}
    assert Organization.objects.get(pk=org.pk).name == "Acme Ltd"

"""API tokens (page, service, authentication) and JWT sign-in."""

import datetime
import hashlib

import jwt
import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from pulse.accounts import services
from pulse.accounts.models import ApiToken, Membership, Role
from pulse.core.errors import ApplicationError, PermissionDeniedError
from tests.accounts.factories import PASSWORD, make_member
from tests.conftest import login

ME = "/api/crm/me/"


def _token_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def _bearer(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


# --- API tokens: the page ---------------------------------------------------------------------


def test_a_new_token_is_shown_once_and_only_its_hash_is_stored(owner_client, owner, org):
    # when
    response = owner_client.post(reverse("accounts:token_list"), {"name": "Zapier"})

    # then the page shows the key once
    assert response.status_code == 201
    assert "no-store" in response["Cache-Control"]
    key = response.context["new_key"]
    assert key.startswith("pulse_") and len(key) == len("pulse_") + 43
    assert key in response.content.decode()
    token = ApiToken.objects.unscoped().get()
    assert (token.user, token.organization, token.name) == (owner, org, "Zapier")
    assert token.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert token.key_prefix == key[:12]
    assert token.expires_at is None
    stored = [str(getattr(token, f.attname)) for f in ApiToken._meta.concrete_fields]
    assert key not in stored

    # and never again
    again = owner_client.get(reverse("accounts:token_list"))
    assert key not in again.content.decode()
    assert token.key_prefix in again.content.decode()


def test_a_token_with_an_expiry_day_expires_at_the_end_of_that_day(owner_client):
    # when
    day = timezone.localdate() + datetime.timedelta(days=10)
    response = owner_client.post(
        reverse("accounts:token_list"), {"name": "Export", "expires_on": day.isoformat()}
    )

    # then
    assert response.status_code == 201
    token = ApiToken.objects.unscoped().get()
    assert token.expires_at == datetime.datetime.combine(
        day + datetime.timedelta(days=1), datetime.time.min, tzinfo=datetime.UTC
    )


def test_a_token_expiring_in_the_past_is_refused(owner, org):
    with pytest.raises(ApplicationError) as caught:
        services.api_token_create(
            user=owner, org=org, name="Old", expires_at=timezone.now() - datetime.timedelta(hours=1)
        )
    assert caught.value.errors == {"expires_at": ["Choose an expiry in the future."]}
    assert ApiToken.objects.unscoped().count() == 0


def test_a_token_needs_membership_of_its_organization(owner, other_org):
    with pytest.raises(PermissionDeniedError):
        services.api_token_create(user=owner, org=other_org, name="Sneaky")
    assert ApiToken.objects.unscoped().count() == 0


def test_tokens_page_lists_only_ones_own_tokens_with_status(owner_client, owner, admin_user, org):
    # given
    active, _ = services.api_token_create(user=owner, org=org, name="Active")
    revoked, _ = services.api_token_create(user=owner, org=org, name="Revoked")
    services.api_token_revoke(token=revoked, actor=owner)
    services.api_token_create(user=admin_user, org=org, name="Admin's")

    # when
    page = owner_client.get(reverse("accounts:token_list"))

    # then
    assert [(t.name, t.status) for t in page.context["page_obj"]] == [
        ("Revoked", "revoked"),
        ("Active", "active"),
    ]


def test_revoking_from_the_page_and_not_someone_elses(owner_client, owner, admin_user, org):
    # given
    mine, _ = services.api_token_create(user=owner, org=org, name="Mine")
    theirs, _ = services.api_token_create(user=admin_user, org=org, name="Theirs")

    # when
    assert owner_client.post(reverse("accounts:token_revoke", args=[mine.pk])).status_code == 302
    response = owner_client.post(reverse("accounts:token_revoke", args=[theirs.pk]))

    # then
    assert response.status_code == 404
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.revoked_at is not None
    assert theirs.revoked_at is None
    with pytest.raises(PermissionDeniedError):
        services.api_token_revoke(token=theirs, actor=owner)


@pytest.mark.parametrize("tokens", [1, 8])
def test_tokens_page_query_count_does_not_grow_with_tokens(
    owner_client, owner, org, tokens, django_assert_num_queries
):
    # given
    for n in range(tokens):
        services.api_token_create(user=owner, org=org, name=f"T{n}")

    # when / then: session, user, memberships (middleware, also the user menu's), tokens
    # count + page, unread notifications, the session's first refresh (savepoint, update,
    # release)
    with django_assert_num_queries(9):
        response = owner_client.get(reverse("accounts:token_list"))
    assert len(response.context["page_obj"].object_list) == tokens


# --- API tokens: authentication ------------------------------------------------------------------


def test_a_token_authenticates_in_its_organization_and_records_last_use(owner, org):
    # given
    token, key = services.api_token_create(user=owner, org=org, name="CLI")

    # when
    response = _token_client(key).get(ME)

    # then
    assert response.status_code == 200
    assert response.json()["user"]["email"] == owner.email
    assert response.json()["organization"]["id"] == str(org.pk)
    assert response.json()["role"] == "owner"
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_a_revoked_token_is_401(owner, org):
    # given
    token, key = services.api_token_create(user=owner, org=org, name="CLI")
    services.api_token_revoke(token=token, actor=owner)

    # when
    response = _token_client(key).get(ME)

    # then
    assert response.status_code == 401
    assert response.json() == {"errors": {"__all__": ["This API token has been revoked."]}}


def test_an_expired_token_is_401(owner, org):
    # given
    token, key = services.api_token_create(
        user=owner, org=org, name="CLI", expires_at=timezone.now() + datetime.timedelta(days=1)
    )
    ApiToken.objects.unscoped().filter(pk=token.pk).update(
        expires_at=timezone.now() - datetime.timedelta(seconds=1)
    )

    # when
    response = _token_client(key).get(ME)

    # then
    assert response.status_code == 401
    assert response.json() == {"errors": {"__all__": ["This API token has expired."]}}


def test_an_unknown_token_is_401(db):
    response = _token_client("pulse_" + "x" * 43).get(ME)
    assert response.status_code == 401


def test_a_token_of_organization_b_cannot_see_organization_a(owner, org, other_owner, other_org):
    # given
    _, key = services.api_token_create(user=other_owner, org=other_org, name="B")
    a_membership = Membership.objects.unscoped().get(organization=org, user=owner)
    client = _token_client(key)

    # when / then
    assert client.get(f"/api/crm/members/{a_membership.pk}/").status_code == 404
    listed = client.get("/api/crm/members/").json()["results"]
    assert [m["user"]["email"] for m in listed] == [other_owner.email]
    assert client.delete(f"/api/crm/members/{a_membership.pk}/").status_code == 404
    assert Membership.objects.unscoped().get(pk=a_membership.pk).deleted_at is None


def test_a_token_stops_working_when_its_owner_leaves_the_organization(owner, rep, org):
    # given
    _, key = services.api_token_create(user=rep, org=org, name="Rep's")
    services.membership_remove(
        membership=Membership.objects.unscoped().get(organization=org, user=rep), actor=owner
    )

    # when
    response = _token_client(key).get(ME)

    # then
    assert response.status_code == 401


# --- API tokens: the API ---------------------------------------------------------------------


def test_api_tokens_endpoint_creates_returns_the_key_once_lists_and_revokes(owner, org):
    # given
    _, key = services.api_token_create(user=owner, org=org, name="Bootstrap")
    client = _token_client(key)

    # when
    created = client.post("/api/crm/api-tokens/", {"name": "CI"}, format="json")

    # then
    assert created.status_code == 201
    body = created.json()
    assert body["name"] == "CI" and body["status"] == "active"
    assert body["key"].startswith(body["key_prefix"])
    assert _token_client(body["key"]).get(ME).status_code == 200
    listed = client.get("/api/crm/api-tokens/").json()["results"]
    assert {t["name"] for t in listed} == {"CI", "Bootstrap"}
    assert all("key" not in t for t in listed)

    # when
    assert client.delete(f"/api/crm/api-tokens/{body['id']}/").status_code == 204

    # then
    assert _token_client(body["key"]).get(ME).status_code == 401


def test_api_tokens_endpoint_hides_other_peoples_tokens(owner, admin_user, org):
    # given
    theirs, _ = services.api_token_create(user=admin_user, org=org, name="Admin's")
    _, key = services.api_token_create(user=owner, org=org, name="Owner's")
    client = _token_client(key)

    # when / then
    assert [t["name"] for t in client.get("/api/crm/api-tokens/").json()["results"]] == ["Owner's"]
    assert client.delete(f"/api/crm/api-tokens/{theirs.pk}/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_api_tokens_endpoint_refuses_a_blank_name(owner, org):
    _, key = services.api_token_create(user=owner, org=org, name="Bootstrap")
    response = _token_client(key).post("/api/crm/api-tokens/", {"name": "  "}, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["name"]
    assert ApiToken.objects.unscoped().count() == 1


# --- JWT -----------------------------------------------------------------------------------------


def _obtain(**data):
    return APIClient().post("/api/auth/token/", data, format="json")


def test_jwt_obtain_gives_a_pair_bound_to_the_last_used_organization(owner, org, other_org):
    # given
    make_member(other_org, Role.READ_ONLY, user=owner)
    owner.last_organization = other_org
    owner.save(update_fields=["last_organization"])

    # when
    response = _obtain(email=owner.email.upper(), password=PASSWORD)

    # then
    assert response.status_code == 200
    body = response.json()
    assert body["organization"] == str(other_org.pk)
    claims = jwt.decode(body["access"], options={"verify_signature": False})
    assert claims["org"] == str(other_org.pk)
    assert str(claims["user_id"]) == str(owner.pk)
    me = _bearer(body["access"]).get(ME).json()
    assert (me["organization"]["id"], me["role"]) == (str(other_org.pk), "read_only")


def test_jwt_obtain_for_a_named_organization(owner, org, other_org):
    # given
    make_member(other_org, Role.READ_ONLY, user=owner)

    # when
    response = _obtain(email=owner.email, password=PASSWORD, organization=str(org.pk))

    # then
    assert response.status_code == 200
    assert _bearer(response.json()["access"]).get(ME).json()["role"] == "owner"


def test_jwt_obtain_for_an_organization_one_is_not_in_is_400(owner, other_org):
    response = _obtain(email=owner.email, password=PASSWORD, organization=str(other_org.pk))
    assert response.status_code == 400
    assert response.json() == {
        "errors": {"organization": ["You are not a member of this organization."]}
    }


def test_jwt_obtain_with_a_wrong_password_is_401_in_the_error_shape(owner):
    response = _obtain(email=owner.email, password="wrong")
    assert response.status_code == 401
    assert response.json() == {"errors": {"__all__": ["Invalid email or password."]}}
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_jwt_obtain_shares_the_login_throttle(owner, settings):
    # given
    settings.LOGIN_THROTTLE_ATTEMPTS = 2
    _obtain(email=owner.email, password="wrong")
    _obtain(email=owner.email, password="wrong")

    # when
    response = _obtain(email=owner.email, password=PASSWORD)

    # then
    assert response.status_code == 429
    assert "access" not in response.json()


def test_jwt_refresh_gives_a_new_access_token_for_the_same_organization(owner, org):
    # given
    pair = _obtain(email=owner.email, password=PASSWORD).json()

    # when
    response = APIClient().post(
        "/api/auth/token/refresh/", {"refresh": pair["refresh"]}, format="json"
    )

    # then
    assert response.status_code == 200
    access = response.json()["access"]
    assert jwt.decode(access, options={"verify_signature": False})["org"] == str(org.pk)
    assert _bearer(access).get(ME).json()["organization"]["id"] == str(org.pk)


def test_jwt_refresh_with_a_bad_token_is_401(db):
    response = APIClient().post("/api/auth/token/refresh/", {"refresh": "nope"}, format="json")
    assert response.status_code == 401
    assert response.json() == {
        "errors": {"__all__": ["The refresh token is invalid or has expired."]}
    }


def test_jwt_refresh_after_leaving_the_organization_is_401(owner, rep, org):
    # given
    pair = _obtain(email=rep.email, password=PASSWORD).json()
    services.membership_remove(
        membership=Membership.objects.unscoped().get(organization=org, user=rep), actor=owner
    )

    # when
    response = APIClient().post(
        "/api/auth/token/refresh/", {"refresh": pair["refresh"]}, format="json"
    )

    # then
    assert response.status_code == 401


def test_a_jwt_signed_with_another_key_is_401(owner, org):
    # given
    claims = jwt.decode(
        str(RefreshToken.for_user(owner).access_token), options={"verify_signature": False}
    )
    claims["org"] = str(org.pk)
    forged = jwt.encode(claims, "some-other-key", algorithm="HS256")

    # when
    response = _bearer(forged).get(ME)

    # then
    assert response.status_code == 401


def test_a_jwt_for_an_organization_the_user_is_not_in_is_401(owner, other_org):
    # given a validly signed token naming someone else's organization
    refresh = RefreshToken.for_user(owner)
    refresh["org"] = str(other_org.pk)

    # when
    response = _bearer(str(refresh.access_token)).get(ME)

    # then
    assert response.status_code == 401
    assert response.json() == {
        "errors": {"__all__": ["This account is no longer a member of the organization."]}
    }


def test_a_jwt_naming_no_organization_is_401(owner):
    response = _bearer(str(RefreshToken.for_user(owner).access_token)).get(ME)
    assert response.status_code == 401


def test_me_with_the_browser_session(owner_client, org):
    response = owner_client.get(ME)
    assert response.status_code == 200
    assert response.json()["organization"]["name"] == "Acme Ltd"


def test_me_without_credentials_is_401(db):
    response = APIClient().get(ME)
    assert response.status_code == 401
    assert list(response.json()) == ["errors"]


def test_me_for_a_signed_in_user_without_organization_is_refused(db):
    from tests.accounts.factories import UserFactory

    response = login(UserFactory()).get(ME)
    assert response.status_code == 403

"""API authentication. Each class sets the request's tenancy context (rule 1)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import authentication, exceptions
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken

from pulse.core import tenancy

from .models import ApiToken
from .permissions import membership_for

LAST_USED_RESOLUTION = timedelta(minutes=1)


def _enter_organization(request, user, org, credential) -> None:
    """Bind the API request to ``org`` for the rest of the request.

    The value set here lives until TenantMiddleware resets the context at the
    end of the request.
    """
    membership = membership_for(user, org)
    if membership is None:
        raise exceptions.AuthenticationFailed(
            _("This account is no longer a member of the organization.")
        )
    tenancy.activate(org, actor=user, source="api")
    django_request = getattr(request, "_request", request)
    django_request.organization = org
    django_request.membership = membership
    django_request.api_credential = credential


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Token pulse_…`` (or ``Bearer pulse_…``): a personal API token."""

    keywords = ("token", "bearer")

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if len(header) != 2 or header[0].decode(errors="ignore").lower() not in self.keywords:
            return None
        key = header[1].decode(errors="ignore")
        if not key.startswith(ApiToken.PREFIX):
            return None  # not ours: maybe a JWT
        token = (
            ApiToken.objects.unscoped()
            .select_related("user", "organization")
            .filter(key_hash=ApiToken.hash_key(key))
            .first()
        )
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid API token."))
        if token.revoked_at is not None:
            raise exceptions.AuthenticationFailed(_("This API token has been revoked."))
        if not token.is_usable:
            raise exceptions.AuthenticationFailed(_("This API token has expired."))
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("This account is disabled."))
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            # At most one write a minute per token, not one per request.
            ApiToken.objects.unscoped().filter(pk=token.pk).update(last_used_at=now)
        _enter_organization(request, token.user, token.organization, f"token:{token.pk}")
        return token.user, token

    def authenticate_header(self, request):
        return "Token"


class OrganizationJWTAuthentication(JWTAuthentication):
    """``Authorization: Bearer <JWT>``; the token names its organization (claim ``org``)."""

    def authenticate(self, request):
        header = self.get_header(request)
        if header is None:
            return None
        raw = self.get_raw_token(header)
        if raw is None or raw.decode(errors="ignore").startswith(ApiToken.PREFIX):
            return None
        validated = self.get_validated_token(raw)
        user = self.get_user(validated)
        from .models import Organization

        org = Organization.objects.filter(pk=validated.get("org")).first()
        if org is None:
            raise InvalidToken(_("The token names no organization."))
        _enter_organization(request, user, org, f"jwt:{user.pk}")
        return user, validated


class TenantSessionAuthentication(authentication.SessionAuthentication):
    """The browser's session; TenantMiddleware has already chosen the organization."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is not None:
            request._request.api_credential = f"session:{result[0].pk}"
        return result

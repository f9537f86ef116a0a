"""REST API of accounts: me, members, teams, invitations, API tokens; JWT sign-in.

Serializers are thin: they parse and present; the services in ``services.py`` write.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import authenticate
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_view, inline_serializer
from rest_framework import exceptions, serializers, status, viewsets
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt import views as jwt_views
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.serializers import TokenRefreshSerializer
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import RefreshToken

from pulse.core.api import TenantModelViewSet
from pulse.core.api_defaults import AuthRateThrottle

from . import services
from .models import ApiToken, Invitation, Membership, Organization, Role, Team, User
from .permissions import membership_for
from .selectors import default_organization_for, live_membership, organization_members
from .throttling import client_ip, login_blocked, login_failed, login_succeeded

# --- serializers -------------------------------------------------------------------------------


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "full_name", "language"]
        read_only_fields = fields


class OrganizationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Organization
        fields = ["id", "slug", *services.ORGANIZATION_SETTINGS_FIELDS]
        read_only_fields = fields


class MeSerializer(serializers.Serializer):
    user = UserSerializer()
    organization = OrganizationSerializer()
    role = serializers.ChoiceField(choices=Role.choices)


class MembershipSerializer(serializers.ModelSerializer):
    user = UserSerializer(read_only=True)
    role = serializers.ChoiceField(choices=Role.choices)

    class Meta:
        model = Membership
        fields = ["id", "user", "role", "created_at", "updated_at", "version"]
        read_only_fields = ["id", "user", "created_at", "updated_at", "version"]


class _OrganizationPeopleField(serializers.PrimaryKeyRelatedField):
    """A user id, looked up among the request organization's members only."""

    def get_queryset(self):
        request = self.context.get("request")
        org = getattr(request, "organization", None) if request is not None else None
        return organization_members(org) if org is not None else User.objects.none()


class TeamSerializer(serializers.ModelSerializer):
    manager = _OrganizationPeopleField(allow_null=True, required=False)
    members = _OrganizationPeopleField(many=True, required=False)

    class Meta:
        model = Team
        fields = ["id", "name", "manager", "members", "created_at", "updated_at", "version"]
        read_only_fields = ["id", "created_at", "updated_at", "version"]


class InvitationSerializer(serializers.ModelSerializer):
    status = serializers.CharField(read_only=True)
    expires_at = serializers.DateTimeField(read_only=True)
    role = serializers.ChoiceField(choices=Role.choices, default=Role.SALES_REP)

    class Meta:
        model = Invitation
        fields = [
            "id",
            "email",
            "role",
            "status",
            "invited_by",
            "created_at",
            "expires_at",
            "accepted_at",
            "revoked_at",
        ]
        read_only_fields = ["id", "invited_by", "created_at", "accepted_at", "revoked_at"]


class ApiTokenSerializer(serializers.ModelSerializer):
    status = serializers.ChoiceField(
        choices=["active", "expired", "revoked"], read_only=True, help_text="active/expired/revoked"
    )

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "key_prefix",
            "status",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked_at",
        ]
        read_only_fields = ["id", "key_prefix", "created_at", "last_used_at", "revoked_at"]


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    key = serializers.CharField(
        read_only=True, help_text="The secret key. Shown only in this response; store it now."
    )

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "key"]


# --- viewsets ----------------------------------------------------------------------------------


class MeViewSet(viewsets.ViewSet):
    """The signed-in user, the organization the request works in, and their role there."""

    @extend_schema(responses=MeSerializer, operation_id="me_retrieve")
    def list(self, request):
        membership = membership_for(request.user)
        if membership is None:  # pragma: no cover - IsOrganizationMember ran first
            raise exceptions.NotAuthenticated()
        data = {
            "user": request.user,
            "organization": membership.organization,
            "role": membership.role,
        }
        return Response(MeSerializer(data, context={"request": request}).data)


class OrganizationSettingsSerializer(serializers.ModelSerializer):
    logo = serializers.ImageField(
        required=False, allow_null=True, help_text="Upload as multipart; null removes it."
    )

    class Meta:
        model = Organization
        fields = ["id", "slug", *services.ORGANIZATION_SETTINGS_FIELDS]
        read_only_fields = ["id", "slug"]


class OrganizationSettingsView(APIView):
    """The organization this request works in: anyone in it reads the settings; owners
    and admins change them (the same service as the settings page)."""

    @extend_schema(responses=OrganizationSettingsSerializer, summary="Organization settings")
    def get(self, request):
        return Response(
            OrganizationSettingsSerializer(request.organization, context={"request": request}).data
        )

    @extend_schema(
        request=OrganizationSettingsSerializer,
        responses=OrganizationSettingsSerializer,
        summary="Change organization settings (owners and admins)",
    )
    def patch(self, request):
        serializer = OrganizationSettingsSerializer(
            request.organization, data=request.data, partial=True
        )
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        if "logo" in data and data["logo"] is None:
            data["logo"] = False  # the service's way of saying "remove it"
        org = services.organization_update(
            organization=request.organization, actor=request.user, **data
        )
        return Response(OrganizationSettingsSerializer(org, context={"request": request}).data)


@extend_schema_view(
    list=extend_schema(summary="List the organization's members"),
    partial_update=extend_schema(summary="Change a member's role"),
    destroy=extend_schema(summary="Remove a member (restorable from the trash)"),
)
class MembershipViewSet(TenantModelViewSet):
    model = Membership
    serializer_class = MembershipSerializer
    select_related = ("user",)
    http_method_names = ["get", "patch", "delete", "head", "options"]
    filterset_fields = ["role"]
    search_fields = ["user__full_name", "user__email"]
    ordering_fields = ["created_at", "role", "user__full_name"]

    def update_record(self, instance, data, expected_version):
        return services.membership_change_role(
            membership=instance, actor=self.request.user, role=data.get("role", instance.role)
        )

    def delete_record(self, instance):
        services.membership_remove(membership=instance, actor=self.request.user)


class TeamViewSet(TenantModelViewSet):
    model = Team
    serializer_class = TeamSerializer
    select_related = ("manager",)
    prefetch_related = ("members",)
    search_fields = ["name"]
    ordering_fields = ["name", "created_at"]

    def create_record(self, data):
        return services.team_create(org=self.request.organization, actor=self.request.user, **data)

    def update_record(self, instance, data, expected_version):
        return services.team_update(team=instance, actor=self.request.user, **data)

    def delete_record(self, instance):
        services.team_delete(team=instance, actor=self.request.user)


@extend_schema_view(destroy=extend_schema(summary="Withdraw an invitation"))
class InvitationViewSet(TenantModelViewSet):
    """Invitations of the organization (owners and admins see them)."""

    model = Invitation
    serializer_class = InvitationSerializer
    http_method_names = ["get", "post", "delete", "head", "options"]
    filterset_fields = ["role", "email"]
    ordering_fields = ["created_at"]

    def create_record(self, data):
        return services.invitation_create(
            org=self.request.organization,
            actor=self.request.user,
            email=data["email"],
            role=data["role"],
        )

    def delete_record(self, instance):
        services.invitation_revoke(invitation=instance, actor=self.request.user)


@extend_schema_view(destroy=extend_schema(summary="Revoke one of your API tokens"))
class ApiTokenViewSet(TenantModelViewSet):
    """Your own personal API tokens in this organization. Keys are shown once, on creation."""

    model = ApiToken
    serializer_class = ApiTokenSerializer
    http_method_names = ["get", "post", "delete", "head", "options"]
    ordering_fields = ["created_at", "last_used_at"]

    @extend_schema(request=ApiTokenSerializer, responses={201: ApiTokenCreatedSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token, raw_key = services.api_token_create(
            user=request.user,
            org=request.organization,
            name=serializer.validated_data["name"],
            expires_at=serializer.validated_data.get("expires_at"),
        )
        token.key = raw_key
        data = ApiTokenCreatedSerializer(token, context=self.get_serializer_context()).data
        return Response(data, status=status.HTTP_201_CREATED)

    def delete_record(self, instance):
        services.api_token_revoke(token=instance, actor=self.request.user)


routes = [
    ("me", MeViewSet, "me"),
    ("members", MembershipViewSet, "membership"),
    ("teams", TeamViewSet, "team"),
    ("invitations", InvitationViewSet, "invitation"),
    ("api-tokens", ApiTokenViewSet, "apitoken"),
]


# --- JWT sign-in (mounted at /api/auth/) ----------------------------------------------------


class TokenObtainSerializer(serializers.Serializer):
    email = serializers.CharField()
    password = serializers.CharField(trim_whitespace=False, write_only=True)
    organization = serializers.UUIDField(
        required=False,
        allow_null=True,
        help_text="Organization to work in; default: the one used last.",
    )


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()
    organization = serializers.UUIDField()


class _PublicAuthView:
    """No prior credential, throttled per IP; failures answer 401 with a challenge."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [AuthRateThrottle]

    def get_authenticate_header(self, request):
        return 'Bearer realm="api"'


class TokenObtainView(_PublicAuthView, APIView):
    """Exchange email and password for a JWT pair bound to one organization (claim ``org``).

    Failed attempts count towards the same per-email and per-IP limit as the web login.
    """

    @extend_schema(
        request=TokenObtainSerializer,
        responses={200: TokenPairSerializer},
        auth=[],
        operation_id="auth_token_obtain",
    )
    def post(self, request):
        serializer = TokenObtainSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        email = serializer.validated_data["email"].strip().lower()
        ip = client_ip(request)
        if login_blocked(email=email, ip=ip):
            raise exceptions.Throttled(
                detail=_("Too many failed sign-in attempts. Try again later."),
                wait=settings.LOGIN_THROTTLE_WINDOW,
            )
        user = authenticate(
            request._request, email=email, password=serializer.validated_data["password"]
        )
        if user is None:
            login_failed(email=email, ip=ip)
            raise exceptions.AuthenticationFailed(_("Invalid email or password."))
        login_succeeded(email=email)
        org_id = serializer.validated_data.get("organization")
        if org_id is not None:
            org = Organization.objects.filter(pk=org_id).first()
            if org is None or live_membership(user, org) is None:
                raise exceptions.ValidationError(
                    {"organization": [_("You are not a member of this organization.")]}
                )
        else:
            org = default_organization_for(user)
            if org is None:
                raise exceptions.ValidationError(
                    {"organization": [_("This account belongs to no organization yet.")]}
                )
        refresh = RefreshToken.for_user(user)
        refresh["org"] = str(org.pk)
        return Response(
            {
                "access": str(refresh.access_token),  # copies the org claim
                "refresh": str(refresh),
                "organization": str(org.pk),
            }
        )


class OrganizationTokenRefreshSerializer(TokenRefreshSerializer):
    """simplejwt's refresh (the new access token keeps ``org``), for live members only."""

    def validate(self, attrs):
        refresh = self.token_class(attrs["refresh"])
        user = User.objects.filter(pk=refresh.get(jwt_settings.USER_ID_CLAIM)).first()
        org = Organization.objects.filter(pk=refresh.get("org")).first()
        if user is None or org is None or live_membership(user, org) is None:
            raise exceptions.AuthenticationFailed(
                _("This account is no longer a member of the organization.")
            )
        return super().validate(attrs)


class TokenRefreshView(_PublicAuthView, jwt_views.TokenRefreshView):
    """Exchange a refresh token for a new access token for the same organization."""

    serializer_class = OrganizationTokenRefreshSerializer

    @extend_schema(
        responses={
            200: inline_serializer("TokenRefreshResponse", {"access": serializers.CharField()})
        },
        auth=[],
        operation_id="auth_token_refresh",
    )
    def post(self, request, *args, **kwargs):
        try:
            return super().post(request, *args, **kwargs)
        except (InvalidToken, TokenError):
            raise exceptions.AuthenticationFailed(_("The refresh token is invalid or has expired."))

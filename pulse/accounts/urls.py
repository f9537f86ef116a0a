"""Web pages of accounts. The names are used by base.html and other apps; keep them."""

from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    # signing in and out, signing up, passwords
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("signup/", views.SignupView.as_view(), name="signup"),
    path("password-reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path("password-reset/sent/", views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "password-reset/<uidb64>/<token>/",
        views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/complete/",
        views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path(
        "invitations/<str:token>/", views.InvitationAcceptView.as_view(), name="invitation_accept"
    ),
    # the user's own account
    path("account/profile/", views.ProfileView.as_view(), name="profile"),
    path("account/password/", views.PasswordChangeView.as_view(), name="password_change"),
    path("account/tokens/", views.TokenListView.as_view(), name="token_list"),
    path("account/tokens/<uuid:pk>/revoke/", views.TokenRevokeView.as_view(), name="token_revoke"),
    # organizations
    path("organizations/new/", views.OrganizationCreateView.as_view(), name="organization_create"),
    path(
        "organizations/switch/",
        views.OrganizationSwitchView.as_view(),
        name="organization_switch",
    ),
    path(
        "settings/organization/",
        views.OrganizationSettingsView.as_view(),
        name="organization_settings",
    ),
    # members and invitations
    path("settings/members/", views.MemberListView.as_view(), name="member_list"),
    path(
        "settings/members/invite/", views.InvitationCreateView.as_view(), name="invitation_create"
    ),
    path("settings/members/<uuid:pk>/role/", views.MemberRoleView.as_view(), name="member_role"),
    path(
        "settings/members/<uuid:pk>/remove/", views.MemberRemoveView.as_view(), name="member_remove"
    ),
    path(
        "settings/invitations/<uuid:pk>/revoke/",
        views.InvitationRevokeView.as_view(),
        name="invitation_revoke",
    ),
    # teams
    path("settings/teams/", views.TeamListView.as_view(), name="team_list"),
    path("settings/teams/new/", views.TeamFormView.as_view(), name="team_create"),
    path("settings/teams/<uuid:pk>/edit/", views.TeamFormView.as_view(), name="team_edit"),
    path("settings/teams/<uuid:pk>/delete/", views.TeamDeleteView.as_view(), name="team_delete"),
    # roles and permissions
    path("settings/permissions/", views.PermissionMatrixView.as_view(), name="permission_matrix"),
]

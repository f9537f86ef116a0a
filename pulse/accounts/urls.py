from django.urls import path

from pulse.core.views import PlaceholderView

app_name = "accounts"

urlpatterns = [
    path("accounts/login/", PlaceholderView.as_view(), name="login"),
    path("accounts/logout/", PlaceholderView.as_view(), name="logout"),
    path("accounts/organization_create/", PlaceholderView.as_view(), name="organization_create"),
    path("accounts/organization_switch/", PlaceholderView.as_view(), name="organization_switch"),
    path("accounts/profile/", PlaceholderView.as_view(), name="profile"),
    path("accounts/token_list/", PlaceholderView.as_view(), name="token_list"),
    path("accounts/password_change/", PlaceholderView.as_view(), name="password_change"),
    path(
        "accounts/organization_settings/", PlaceholderView.as_view(), name="organization_settings"
    ),
    path("accounts/member_list/", PlaceholderView.as_view(), name="member_list"),
    path("accounts/team_list/", PlaceholderView.as_view(), name="team_list"),
    path("accounts/permission_matrix/", PlaceholderView.as_view(), name="permission_matrix"),
]

"""JWT sign-in, mounted at /api/auth/."""

from django.urls import path

from .api import TokenObtainView, TokenRefreshView

urlpatterns = [
    path("token/", TokenObtainView.as_view(), name="api-token-obtain"),
    path("token/refresh/", TokenRefreshView.as_view(), name="api-token-refresh"),
]

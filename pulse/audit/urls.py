from django.urls import path

from pulse.core.views import PlaceholderView

app_name = "audit"

urlpatterns = [
    path("audit/trash/", PlaceholderView.as_view(), name="trash"),
    path("audit/log/", PlaceholderView.as_view(), name="log"),
]

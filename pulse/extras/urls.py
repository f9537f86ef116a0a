from django.urls import path

from pulse.core.views import PlaceholderView

app_name = "extras"

urlpatterns = [
    path("extras/tag_list/", PlaceholderView.as_view(), name="tag_list"),
    path("extras/customfield_list/", PlaceholderView.as_view(), name="customfield_list"),
    path("extras/notification_list/", PlaceholderView.as_view(), name="notification_list"),
]

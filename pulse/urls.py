"""Root URLs: the web UI per app, the REST API under /api/crm/, schema and docs."""

from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from pulse.accounts import api as accounts_api
from pulse.activities import api as activities_api
from pulse.audit import api as audit_api
from pulse.contacts import api as contacts_api
from pulse.currencies import api as currencies_api
from pulse.extras import api as extras_api
from pulse.imports import api as imports_api
from pulse.leads import api as leads_api
from pulse.opportunities import api as opportunities_api
from pulse.privacy import api as privacy_api
from pulse.reports import api as reports_api
from pulse.segments import api as segments_api

# Each app's api.py lists its routes; the order here is the order in the API root.
API_MODULES = [
    contacts_api,
    leads_api,
    opportunities_api,
    activities_api,
    reports_api,
    currencies_api,
    segments_api,
    imports_api,
    privacy_api,
    accounts_api,
    extras_api,
    audit_api,
]

router = DefaultRouter()
for module in API_MODULES:
    for prefix, viewset, basename in module.routes:
        router.register(prefix, viewset, basename=basename)

urlpatterns = [
    path("", include("pulse.core.urls")),
    path("", include("pulse.accounts.urls")),
    path("", include("pulse.extras.urls")),
    path("", include("pulse.audit.urls")),
    path("", include("pulse.contacts.urls")),
    path("", include("pulse.imports.urls")),
    path("", include("pulse.segments.urls")),
    path("", include("pulse.privacy.urls")),
    path("", include("pulse.leads.urls")),
    path("", include("pulse.opportunities.urls")),
    path("", include("pulse.currencies.urls")),
    path("", include("pulse.activities.urls")),
    path("", include("pulse.reports.urls")),
    path("admin/", admin.site.urls),
    path("api/auth/", include("pulse.accounts.api_auth_urls")),
    # A single resource (the current organization), so not a router route.
    path(
        "api/crm/organization/",
        accounts_api.OrganizationSettingsView.as_view(),
        name="api-organization",
    ),
    path("api/crm/", include(router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

handler403 = "pulse.core.views.permission_denied"
handler404 = "pulse.core.views.page_not_found"
handler500 = "pulse.core.views.server_error"

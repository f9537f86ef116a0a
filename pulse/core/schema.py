"""OpenAPI descriptions of our authentication classes (drf-spectacular extensions)."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "pulse.accounts.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "Personal API token from user settings: `Token pulse_…`",
        }


class TenantSessionScheme(OpenApiAuthenticationExtension):
    target_class = "pulse.accounts.authentication.TenantSessionAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}


class OrganizationJWTScheme(SimpleJWTScheme):
    target_class = "pulse.accounts.authentication.OrganizationJWTAuthentication"

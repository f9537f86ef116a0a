"""API base classes: pagination, the error shape, permissions, throttling, viewsets."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, serializers, viewsets
from rest_framework.views import exception_handler as drf_exception_handler

from .api_defaults import (  # noqa: F401  (re-exported for apps)
    CursorPagination,
    IsOrganizationMember,
    PageNumberPagination,
)
from .errors import ApplicationError, PermissionDeniedError, TenantContextMissing


def _flatten(detail) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            # Errors that belong to no field all go under "__all__", whether DRF
            # called them non_field_errors or detail (401/403/404/429).
            name = "__all__" if key in ("non_field_errors", "detail") else str(key)
            if isinstance(value, dict):
                out[name] = [f"{k}: {m}" for k, msgs in _flatten(value).items() for m in msgs]
            elif isinstance(value, list):
                flat: list[str] = []
                for item in value:
                    if isinstance(item, dict):
                        flat += [f"{k}: {m}" for k, msgs in _flatten(item).items() for m in msgs]
                    else:
                        flat.append(str(item))
                out[name] = flat
            else:
                out[name] = [str(value)]
        return out
    if isinstance(detail, list):
        return {"__all__": [str(item) for item in detail]}
    return {"__all__": [str(detail)]}


def exception_handler(exc, context):
    """Every API error has one shape: ``{"errors": {field: [messages]}}`` (rule 8)."""
    if isinstance(exc, PermissionDeniedError):
        exc = exceptions.PermissionDenied(exc.message)
    elif isinstance(exc, ApplicationError):
        exc = exceptions.ValidationError(exc.errors)
    elif isinstance(exc, ValidationError):
        exc = exceptions.ValidationError(ApplicationError.from_validation_error(exc).errors)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(_("Not found."))
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, TenantContextMissing):
        exc = exceptions.NotAuthenticated(_("No organization is selected."))
    response = drf_exception_handler(exc, context)
    if response is not None:
        response.data = {"errors": _flatten(response.data)}
    return response


ACTION_TO_PERMISSION = {
    "list": "view",
    "retrieve": "view",
    "history": "view",
    "create": "create",
    "update": "edit",
    "partial_update": "edit",
    "destroy": "delete",
}


class TenantViewSetMixin:
    """Querysets from ``restrict`` (rule 2) and the role check, for every tenant viewset.

    Subclasses declare ``model``, ``serializer_class``, ``filterset_class`` and the
    service functions; they do not override ``get_queryset``.
    """

    model = None
    permission_map: dict[str, str] = {}
    select_related: tuple[str, ...] = ()
    prefetch_related: tuple[str, ...] = ()
    lookup_value_converter = "uuid"

    def get_permission_action(self) -> str:
        return self.permission_map.get(self.action) or ACTION_TO_PERMISSION.get(self.action, "view")

    def get_queryset(self):
        qs = self.model.objects.restrict(self.request.user, self.get_permission_action())
        if self.select_related:
            qs = qs.select_related(*self.select_related)
        if self.prefetch_related:
            qs = qs.prefetch_related(*self.prefetch_related)
        return qs

    def check_permissions(self, request):
        super().check_permissions(request)
        from pulse.accounts.permissions import can

        if (
            self.model is not None
            and self.action
            and not can(request.user, self.get_permission_action(), self.model)
        ):
            self.permission_denied(request, message=_("Your role does not allow this."))


class TenantModelViewSet(TenantViewSetMixin, viewsets.ModelViewSet):
    """Base viewset for tenant records with full CRUD; every write goes through a service.

    Subclasses implement ``create_record``, ``update_record`` and ``delete_record`` by
    calling their app's services (rule 3); the serializer never saves by itself. A
    ``version`` sent by the client becomes the service's ``expected_version`` (rule 9).
    """

    def create_record(self, data: dict):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must create through a service")

    def update_record(self, instance, data: dict, expected_version: int | None):  # pragma: no cover
        raise NotImplementedError(f"{type(self).__name__} must update through a service")

    def delete_record(self, instance) -> None:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must delete through a service")

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("version", None)
        serializer.instance = self.create_record(data)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        expected_version = data.pop("version", None)
        serializer.instance = self.update_record(serializer.instance, data, expected_version)

    def perform_destroy(self, instance):
        self.delete_record(instance)


class TenantReadOnlyModelViewSet(TenantViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """List and retrieve only: the router maps no write method, so writes answer 405."""


class VersionedSerializerMixin(serializers.Serializer):
    """Optional ``version`` on writes: a stale one answers 400 instead of overwriting."""

    version = serializers.IntegerField(required=False, help_text="Send back the version you read.")
